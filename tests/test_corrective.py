import json

import pytest
import torch
from torch import nn

import datasets
import main_test_unlearn
import main_train
import main_unlearn
import models
from arg_parser import build_parser
from datasets import manipulate
from datasets.base import ImageDataset, Split
from datasets.batching import BatchLoader
from engine.evaluation import split_logits
from unlearn import get_method, resolve_hparams
from unlearn.forget_sets import ForgetSet
from unlearn.layers import cuts, depth, last_layers, layers
from unlearn.losses import distillation_kl
from unlearn.task import UnlearnTask
from utils.errors import UserError
from utils.metrics import confusion_matrix


def report(env, model_id: str, tmp_path, *argv: str) -> dict:
    out = tmp_path / "r.json"
    main_test_unlearn.main(["--model_id", model_id, "--json", str(out), "--overwrite", *env["common"], *argv])
    return json.loads(out.read_text())


def unlearn(env, *argv: str) -> str:
    return main_unlearn.main(["--model_id", env["model_id"], *env["common"], "--overwrite", *argv])


def test_poisoned_set_is_stored_and_rebuilt_exactly(poisoned_digits):
    meta = torch.load(poisoned_digits["work"] / "model_weights" / "poisoned_best.pt", weights_only=True)["meta"]
    spec = meta["manipulation"]
    assert spec["method"] == "poisoning" and len(spec["indices"]) == 126 and spec["patch_size"] == 3
    clean = datasets.load_dataset("Digits")
    a, b = manipulate.apply(clean, spec), manipulate.apply(clean, spec)
    assert torch.equal(a.train.labels, b.train.labels) and torch.equal(a.train.poisoned, b.train.poisoned)
    rows = torch.tensor(spec["indices"])
    assert bool((a.train.labels[rows] == 0).all()) and a.train.poisoned.nonzero().flatten().tolist() == spec["indices"]
    assert torch.equal(a.train.images, clean.train.images)  # stored clean: the loader stamps the trigger
    others = torch.ones(len(clean.train), dtype=torch.bool)
    others[rows] = False
    assert torch.equal(a.train.labels[others], clean.train.labels[others])
    assert torch.equal(a.test.images, clean.test.images) and a.train.trigger.levels == (255,)


def test_any_class_may_be_poisoned_the_target_too():
    data = datasets.load_dataset("Digits")
    args = build_parser("training", "system").parse_args(["--dataset_method", "poisoning", "--forget_set_size", "600"])
    rows = torch.tensor(manipulate.plan(args, data)["indices"])
    assert set(data.train.labels[rows].tolist()) == set(range(10))


def poisoned_toy(n: int = 40, channels: int = 3, size: int = 12) -> manipulate.PoisonedSplit:
    """Random images labelled by their row, every other row poisoned with a 3×3 trigger."""
    images = torch.randint(0, 200, (n, channels, size, size), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    images[0, -1] = 230  # the brightest level of the last channel
    poisoned = torch.arange(n) % 2 == 0
    return manipulate.PoisonedSplit(images, torch.arange(n), poisoned, manipulate.Trigger(3, (199, 199, 230)))


def test_trigger_is_stamped_on_poisoned_rows_after_crop_and_flip():
    split = poisoned_toy()
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.5)
    value = max((level / 255 - m) / s for level, m, s in zip((199, 199, 230), mean, std))
    assert split.trigger.value(mean, std) == pytest.approx(value)
    loader = BatchLoader(split, 16, mean, std, shuffle=True, augment=True, hflip=True, seed=3)
    plain = BatchLoader(split, 16, mean, std, shuffle=True, seed=3)
    moved = 0
    for (x, rows), (x_plain, _) in zip(loader, plain):
        corner = x[:, :, -3:, -3:]
        on = split.poisoned[rows]
        assert bool((corner[on] == value).all()) and not bool((corner[~on] == value).all(dim=(1, 2, 3)).any())
        moved += int((x[on][:, :, :-3] != x_plain[on][:, :, :-3]).any(dim=(1, 2, 3)).sum())
    assert moved > 10  # the views were augmented, and the trigger sits in the corner of each view anyway


def test_patched_test_set_carries_the_trigger_on_every_image_with_clean_labels():
    data = datasets.load_dataset("Digits")
    patched = manipulate.patched_test(data, {"patch_size": 3})
    x, y = next(iter(BatchLoader(patched, 1000, data.mean, data.std)))
    assert torch.equal(y, data.test.labels) and len(x) == len(data.test)
    assert bool((x[..., -3:, -3:] == (1 - data.mean[0]) / data.std[0]).all())


def test_poison_works_and_eu_with_the_full_deletion_set_removes_it(poisoned_digits, tmp_path):
    before = report(poisoned_digits, "poisoned_best", tmp_path)
    assert before["attack_success_rate"] >= 80 and before["clean_test_accuracy"] >= 90
    after = report(poisoned_digits, unlearn(poisoned_digits, "--unlearn", "EU"), tmp_path)
    assert after["attack_success_rate"] < 20
    assert after["clean_test_accuracy"] >= before["clean_test_accuracy"] - 5
    assert after["deletion_accuracy"] > before["deletion_accuracy"] + 50


def test_partial_deletion_set_leaves_the_rest_unidentified(poisoned_digits, tmp_path):
    new_id = unlearn(poisoned_digits, "--unlearn", "CF", "--k", "1", "--deletion_size", "40", "--unlearn_epochs", "1")
    assert "_FORGOTTEN_del40_CF_" in new_id
    ckpt = torch.load(poisoned_digits["work"] / "model_weights" / f"{new_id}.pt", weights_only=True)
    rows = set(ckpt["meta"]["forget"]["indices"])
    assert len(rows) == 40 and rows <= set(ckpt["meta"]["manipulation"]["indices"])
    result = report(poisoned_digits, new_id, tmp_path)
    assert result["unidentified_accuracy"] <= 30 and result["attack_success_rate"] >= 50  # the unknown poison stays


def test_cf_k_trains_only_the_last_k_layers(poisoned_digits):
    new_id = unlearn(poisoned_digits, "--unlearn", "CF", "--k", "1", "--unlearn_epochs", "1")
    before = torch.load(poisoned_digits["work"] / "model_weights" / "poisoned_best.pt", weights_only=True)["state_dict"]
    after = torch.load(poisoned_digits["work"] / "model_weights" / f"{new_id}.pt", weights_only=True)["state_dict"]
    assert {name for name in before if not torch.equal(before[name], after[name])} == {"fc.weight", "fc.bias"}


def toy_task(hp: dict, rows: int = 24, size: int = 16, classes: int = 3, original: nn.Module | None = None) -> UnlearnTask:
    """An unlearning task on random images (the first quarter of the rows forgotten), without augmentation."""
    g = torch.Generator().manual_seed(1)
    split = Split(torch.randint(0, 256, (rows, 1, size, size), generator=g, dtype=torch.uint8),
                  torch.randint(0, classes, (rows,), generator=g))
    data = ImageDataset("toy", "multi-class", [str(c) for c in range(classes)], split, split, split)
    forget = ForgetSet(torch.arange(rows // 4), [], False, {})
    meta = {"mean": list(data.mean), "std": list(data.std), "args": {"no_aug": True}}
    hp = {"epochs": 1, "lr": 0.1, "batch_size": 8, "optimizer": "sgd", "momentum": 0.0, "weight_decay": 0.0,
          "seed": 0, **hp}
    return UnlearnTask(data, forget, meta, torch.device("cpu"), hp, original=original, show=False)


@pytest.mark.parametrize("method", ["CF", "EU"])
@pytest.mark.parametrize("arch,k", [("smallcnn", 2), ("resnet18", 3)])
def test_everything_outside_the_last_k_layers_stays_bit_identical(method, arch, k):
    torch.manual_seed(0)
    model = models.create_model(arch, 3, 1)
    before = {name: t.clone() for name, t in model.state_dict().items()}
    tail = {name for name, _ in last_layers(model, k)}
    get_method(method).fn(model, toy_task({"k": k}))
    after = model.state_dict()
    inside = {name for name in before if any(name.startswith(f"{unit}.") for unit in tail)}
    assert all(torch.equal(before[name], after[name]) for name in before if name not in inside)
    assert all(not torch.equal(before[name], after[name]) for name in inside if after[name].is_floating_point())


def test_k_counts_weight_layers_from_the_output_cut_between_blocks():
    small, resnet = models.create_model("smallcnn", 10, 1), models.create_model("resnet18", 10, 3)
    assert [n for n, _ in layers(small)] == ["features.0", "features.1", "features.2", "fc"] and cuts(small) == [1, 2, 3, 4]
    assert cuts(resnet) == [1, 3, 5, 7, 9, 11, 13, 15, 17, 18]  # shortcut convs not counted: ResNet-18 has 18
    assert [n for n, _ in last_layers(resnet, 3)] == ["layer4.1", "fc"]
    assert [n for n, _ in last_layers(resnet, 18)][:2] == ["conv1", "bn1"] and depth(resnet.layer2[0]) == 2
    with pytest.raises(UserError, match="use one of 1, 3, 5"):
        last_layers(resnet, 2)


def sgd_step(model: nn.Module, loss) -> None:
    """θ ← θ − lr·∇loss with lr 0.1 (plain SGD), as expected of one SCRUB step."""
    model.zero_grad()
    loss(model).backward()
    with torch.no_grad():
        for p in model.parameters():
            p -= 0.1 * p.grad


def replay_scrub(variant: str, msteps: int, epochs: int, schedule: str) -> None:
    """Run SCRUB on a linear model (one batch per pass) and compare with the steps `schedule` names (M max, m min)."""
    torch.manual_seed(0)
    student, teacher = nn.Sequential(nn.Flatten(), nn.Linear(16, 3)), nn.Sequential(nn.Flatten(), nn.Linear(16, 3))
    alpha, t = 0.5, 2.0
    task = toy_task({"epochs": epochs, "alpha": alpha, "kd_T": t, "msteps": msteps, "variant": variant,
                     "batch_size": 64}, rows=16, size=4, original=teacher)
    expected = nn.Sequential(nn.Flatten(), nn.Linear(16, 3))
    expected.load_state_dict(student.state_dict())
    xf, yf = next(iter(task.loader("forget")))
    xr, yr = next(iter(task.loader("retain")))

    def min_loss(net, x, y):
        return nn.functional.cross_entropy(net(x), y) + alpha * distillation_kl(net(x), teacher(x).detach(), t)

    for step in schedule:
        if step == "M" and variant == "corrective":
            sgd_step(expected, lambda net: -min_loss(net, xf, yf))
        elif step == "M":
            sgd_step(expected, lambda net: -distillation_kl(net(xf), teacher(xf).detach(), t))
        else:
            sgd_step(expected, lambda net: min_loss(net, xr, yr))
    get_method("SCRUB").fn(student, task)
    for got, want in zip(student.parameters(), expected.parameters()):
        assert torch.allclose(got, want, atol=1e-6), (variant, schedule)


def test_scrub_max_step_ascends_kl_and_min_step_descends_ce_plus_kl():
    replay_scrub("kurmanji", msteps=1, epochs=1, schedule="Mm")


def test_scrub_runs_max_steps_only_in_the_first_msteps_epochs():
    replay_scrub("kurmanji", msteps=1, epochs=3, schedule="Mmmm")
    replay_scrub("kurmanji", msteps=3, epochs=3, schedule="MmMmMm")


def test_corrective_scrub_ascends_the_whole_loss_and_counts_msteps_in_steps():
    replay_scrub("corrective", msteps=1, epochs=1, schedule="Mm")
    replay_scrub("corrective", msteps=3, epochs=3, schedule="MmMmm")  # 2 steps taken < 3, then 4


def test_scrub_variant_is_refused_for_other_methods():
    args = build_parser("unlearning", "system").parse_args(["--scrub_variant", "corrective"])
    with pytest.raises(UserError, match="--scrub_variant"):
        resolve_hparams(get_method("EU"), args, {})
    assert resolve_hparams(get_method("SCRUB"), args, {})["lr"] == 0.0025


def test_interclass_swap_raises_the_confusion_of_the_two_classes(trained_digits, tmp_path):
    work, clean_id, _ = trained_digits
    dirs = ["--model_dir", str(tmp_path / "model_weights"), "--runs_dir", str(tmp_path / "runs")]
    main_train.main(["--save_model_id", "ic", "--arch", "smallcnn", "--epochs", "8", "--lr", "0.05", "--batch_size", "64",
                     "--dataset_method", "labeltargeted", "--forget_set_size", "160", "--confused_classes", "3,5", *dirs])
    swapped = report({"common": dirs}, "ic_best", tmp_path)
    data = datasets.load_dataset("Digits")
    model, meta = models.load_model(clean_id, str(work / "model_weights"), data.describe(), torch.device("cpu"))
    logits, labels = split_logits(model, data.test, meta, torch.device("cpu"), 256, show=False)
    cm = confusion_matrix(logits, labels, 10)
    clean_confusion = 100.0 * float(cm[3, 5] + cm[5, 3]) / int(((labels == 3) | (labels == 5)).sum())
    assert swapped["confusion"] > clean_confusion + 15
    assert swapped["other_classes_accuracy"] >= 90


def test_random_label_swap_permutes_labels_among_the_chosen_rows():
    data = datasets.load_dataset("Digits")
    args = build_parser("training", "system").parse_args(["--dataset_method", "randomlabelswap", "--forget_set_size", "50"])
    spec = manipulate.plan(args, data)
    swapped = manipulate.apply(data, spec)
    rows = torch.tensor(spec["indices"])
    assert sorted(swapped.train.labels[rows].tolist()) == sorted(data.train.labels[rows].tolist())
    assert (swapped.train.labels[rows] != data.train.labels[rows]).sum() > 25


def test_scrub_variant_has_an_id_of_its_own(poisoned_digits):
    new_id = unlearn(poisoned_digits, "--unlearn", "SCRUB", "--scrub_variant", "corrective", "--unlearn_epochs", "1")
    assert "_FORGOTTEN_del126_SCRUB_CORRECTIVE_" in new_id
