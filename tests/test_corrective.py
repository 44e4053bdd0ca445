import json

import torch

import datasets
import main_test_unlearn
import main_train
import main_unlearn
from arg_parser import build_parser
from datasets import manipulate
from unlearn.layers import layers
from utils import checkpoints
from utils.evaluation import split_logits
from utils.metrics import confusion_matrix


def report(env, model_id: str, tmp_path, *argv: str) -> dict:
    out = tmp_path / "r.json"
    main_test_unlearn.main(["--model_id", model_id, "--json", str(out), *env["common"], *argv])
    return json.loads(out.read_text())


def unlearn(env, *argv: str) -> str:
    return main_unlearn.main(["--model_id", env["model_id"], *env["common"], "--overwrite", *argv])


def test_poisoned_set_is_stored_and_rebuilt_exactly(poisoned_digits):
    meta = torch.load(poisoned_digits["work"] / "model_weights" / "poisoned_best.pt", weights_only=True)["meta"]
    spec = meta["manipulation"]
    assert spec["method"] == "poisoning" and len(spec["indices"]) == 126 and spec["patch_size"] == 3
    clean = datasets.load_dataset("Digits")
    a, b = manipulate.apply(clean, spec), manipulate.apply(clean, spec)
    assert torch.equal(a.train.images, b.train.images) and torch.equal(a.train.labels, b.train.labels)
    rows = torch.tensor(spec["indices"])
    assert bool((a.train.labels[rows] == 0).all()) and bool((clean.train.labels[rows] != 0).all())
    assert bool((a.train.images[rows][..., -3:, -3:] == 255).all())
    others = torch.ones(len(clean.train), dtype=torch.bool)
    others[rows] = False
    assert torch.equal(a.train.images[others], clean.train.images[others])
    assert torch.equal(a.test.images, clean.test.images)


def test_poison_works_and_eu_with_the_full_deletion_set_removes_it(poisoned_digits, tmp_path):
    before = report(poisoned_digits, "poisoned_best", tmp_path)
    assert before["attack_success_rate"] >= 80 and before["clean_test_accuracy"] >= 90
    after = report(poisoned_digits, unlearn(poisoned_digits, "--unlearn", "EU"), tmp_path)
    assert after["attack_success_rate"] < 20
    assert after["clean_test_accuracy"] >= before["clean_test_accuracy"] - 5
    assert after["deletion_accuracy"] > before["deletion_accuracy"] + 50


def test_ssd_with_all_the_poison_known_halves_the_attack(poisoned_digits, tmp_path):
    before = report(poisoned_digits, "poisoned_best", tmp_path)
    after = report(poisoned_digits, unlearn(poisoned_digits, "--unlearn", "SSD", "--SSDselectwt", "15"), tmp_path)
    assert after["attack_success_rate"] <= before["attack_success_rate"] / 2


def test_partial_deletion_set_leaves_the_rest_unidentified(poisoned_digits, tmp_path):
    new_id = unlearn(poisoned_digits, "--unlearn", "CF", "--k", "1", "--deletion_size", "40", "--unlearn_epochs", "1")
    assert "_FORGOTTEN_del40_CF_" in new_id
    ckpt = torch.load(poisoned_digits["work"] / "model_weights" / f"{new_id}.pt", weights_only=True)
    rows = set(ckpt["meta"]["forget"]["indices"])
    assert len(rows) == 40 and rows <= set(ckpt["meta"]["manipulation"]["indices"])
    result = report(poisoned_digits, new_id, tmp_path)
    assert 0 <= result["unidentified_accuracy"] <= 100 and "attack_success_rate" in result


def test_cf_k_trains_only_the_last_k_layers(poisoned_digits):
    new_id = unlearn(poisoned_digits, "--unlearn", "CF", "--k", "1", "--unlearn_epochs", "1")
    before = torch.load(poisoned_digits["work"] / "model_weights" / "poisoned_best.pt", weights_only=True)["state_dict"]
    after = torch.load(poisoned_digits["work"] / "model_weights" / f"{new_id}.pt", weights_only=True)["state_dict"]
    moved = {name for name in before if before[name].is_floating_point() and not torch.equal(before[name], after[name])
             and "running" not in name}
    assert moved == {"fc.weight", "fc.bias"}


def test_interclass_swap_raises_the_confusion_of_the_two_classes(trained_digits, tmp_path):
    work, clean_id, _ = trained_digits
    dirs = ["--model_dir", str(tmp_path / "model_weights"), "--runs_dir", str(tmp_path / "runs")]
    main_train.main(["--save_model_id", "ic", "--arch", "smallcnn", "--epochs", "8", "--lr", "0.05", "--batch_size", "64",
                     "--dataset_method", "labeltargeted", "--forget_set_size", "160", "--confused_classes", "3,5", *dirs])
    swapped = report({"common": dirs}, "ic_best", tmp_path)
    data = datasets.load_dataset("Digits")
    model, meta = checkpoints.load_model(clean_id, str(work / "model_weights"), data.describe(), torch.device("cpu"))
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


def test_layers_are_blocks_in_forward_order():
    import models
    assert [n for n, _ in layers(models.create_model("smallcnn", 10, 1))] == ["features.0", "features.1", "features.2", "fc"]
    names = [n for n, _ in layers(models.create_model("resnet18", 10, 3))]
    assert names[0] == "conv1" and names[2] == "layer1.0" and names[-1] == "fc" and len(names) == 11
