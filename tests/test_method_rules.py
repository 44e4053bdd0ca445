"""Each classification method's definition, pinned by a one-step analytic check on a tiny model and tiny data
(SGD, momentum 0, weight decay 0, one batch holding every row of a pass). SCRUB, CF, EU and SSD* are pinned elsewhere."""
import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import models
import unlearn
from datasets.base import ImageDataset, Split
from models import create_model
from unlearn.bad_teacher import retain_share, teacher_mixture
from unlearn.boundary_expanding import widen_head
from unlearn.boundary_shrink import fgsm_neighbour, neighbour_labels
from unlearn.forget_sets import ForgetSet
from unlearn.rl import random_labels_any, random_other_labels
from unlearn.spkd import similarity_preserving_loss
from unlearn.task import UnlearnTask, frozen_copy
from utils.device import seed_everything

K, FORGET_CLASS = 4, 1
COVERED = {"GA", "FT", "FT_prune", "NegGrad+", "BadT", "wfisher", "boundary_shrink", "boundary_expanding",
           "boundary_expanding_drop", "RL", "RL_other", "retrain", "SPKD"}
OTHER_HELPERS = {"SCRUB", "CF", "EU"}  # and every SSD variant


def tiny_data() -> ImageDataset:
    """32 one-channel 8×8 images of 4 classes, each class brightening its own quarter of the image."""
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(32) % K
    images = torch.rand(32, 1, 8, 8, generator=g) * 120
    for c in range(K):
        r, q = divmod(c, 2)
        images[labels == c, :, 4 * r:4 * r + 4, 4 * q:4 * q + 4] += 120
    split = Split(images.round().to(torch.uint8), labels)
    return ImageDataset("tiny", "multi-class", [str(c) for c in range(K)], split, split, split)


DATA = tiny_data()
FORGET = ForgetSet((DATA.train.labels == FORGET_CLASS).nonzero().flatten(), [FORGET_CLASS], True, {"classes": [FORGET_CLASS]})
META = {"arch": "smallcnn", "num_classes": K, "in_channels": 1, "mean": list(DATA.mean), "std": list(DATA.std),
        "args": {"no_aug": True}}


def mlp() -> nn.Module:
    torch.manual_seed(0)
    return models.declare(nn.Sequential(nn.Flatten(), nn.Linear(64, 8), nn.Tanh(), nn.Linear(8, K)), "3", ["1", "3"])


def trained(model: nn.Module, steps: int = 60) -> nn.Module:
    """The model fitted a little to the tiny data, so it has an opinion to unlearn."""
    task = make_task("FT", model)
    x, y = batch(task, "train")
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    for _ in range(steps):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    return model


def make_task(name: str, model: nn.Module, mask: dict | None = None, **hp) -> UnlearnTask:
    hp = {**unlearn.get_method(name).defaults, "batch_size": 1000, "optimizer": "sgd", "momentum": 0.0,
          "weight_decay": 0.0, "seed": 0, "epochs": 1, "lr": 0.1, **hp}
    hp.pop("from_parent", None)
    return UnlearnTask(DATA, FORGET, META, torch.device("cpu"), hp, mask, original=frozen_copy(model), show=False)


def batch(task: UnlearnTask, rows, labels: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    return next(iter(task.loader(rows, labels=labels, shuffle=False, augment=False)))


def sgd_step(model: nn.Module, loss_fn, lr: float) -> nn.Module:
    """A copy of `model` after one plain SGD step on loss_fn(copy)."""
    new = copy.deepcopy(model).train()
    params = [p for p in new.parameters() if p.requires_grad]
    grads = torch.autograd.grad(loss_fn(new), params)
    with torch.no_grad():
        for p, g in zip(params, grads):
            p.sub_(lr * g)
    return new


def assert_same_weights(a: nn.Module, b: nn.Module, atol: float = 1e-6) -> None:
    for (name, p), q in zip(a.named_parameters(), b.parameters()):
        assert p.shape == q.shape and torch.allclose(p, q, atol=atol, rtol=1e-5), name


def run(name: str, model: nn.Module, **hp) -> tuple[nn.Module, UnlearnTask]:
    task = make_task(name, model, **hp)
    seed_everything(0)
    return unlearn.get_method(name).fn(copy.deepcopy(model), task), task


def test_every_classification_method_has_a_rule_test():
    ids = {n for n in unlearn.available() if not n.endswith("_with_SalUn")}
    mine = {n for n in ids if n not in OTHER_HELPERS and "ssd" not in n.lower()}
    assert mine == COVERED, f"methods without a rule test: {mine - COVERED}; stale entries: {COVERED - mine}"


def test_ga_steps_up_the_forget_cross_entropy():
    model = trained(mlp())
    out, task = run("GA", model, lr=0.05)
    x, y = batch(task, "forget")
    assert_same_weights(out, sgd_step(model, lambda m: -F.cross_entropy(m(x), y), 0.05))


def test_ft_steps_down_the_retain_cross_entropy():
    model = trained(mlp())
    out, task = run("FT", model, lr=0.05)
    x, y = batch(task, "retain")
    assert_same_weights(out, sgd_step(model, lambda m: F.cross_entropy(m(x), y), 0.05))


def test_neggrad_plus_descends_retain_ce_minus_beta_forget_ce():
    model = trained(mlp())
    out, task = run("NegGrad+", model, lr=0.05, beta=0.3)
    xf, yf = batch(task, "forget")
    xr, yr = batch(task, "retain")
    expected = sgd_step(model, lambda m: F.cross_entropy(m(xr), yr) - 0.3 * F.cross_entropy(m(xf), yf), 0.05)
    assert_same_weights(out, expected)


def test_ft_prune_adds_an_l1_term_whose_weight_decays_linearly():
    model = trained(mlp())
    alpha, lr = 0.01, 0.05
    out, task = run("FT_prune", model, lr=lr, alpha=alpha, epochs=2)
    x, y = batch(task, "retain")

    def loss(weight):
        return lambda m: F.cross_entropy(m(x), y) + weight * sum(p.abs().sum() for p in m.parameters())
    assert_same_weights(out, sgd_step(sgd_step(model, loss(alpha), lr), loss(alpha * (1 - 1 / 2)), lr))


def test_rl_draws_from_all_classes_then_runs_a_forget_pass_and_a_retain_pass():
    model = trained(mlp())
    task = make_task("RL", model)
    draws = torch.stack([random_labels_any(task, e)[FORGET.indices] for e in range(200)]).flatten()
    counts = torch.bincount(draws, minlength=K)
    assert counts.min() > 0.8 * len(draws) / K  # uniform over all K, the true class included
    assert torch.equal(random_labels_any(task, 0)[task.retain_indices], DATA.train.labels[task.retain_indices])
    out, task = run("RL", model, lr=0.05)
    xf, yf = batch(task, "forget", random_labels_any(task, 0))
    xr, yr = batch(task, "retain")
    forget_step = sgd_step(model, lambda m: F.cross_entropy(m(xf), yf), 0.05)
    assert_same_weights(out, sgd_step(forget_step, lambda m: F.cross_entropy(m(xr), yr), 0.05))


def test_rl_other_never_draws_the_true_class_and_runs_one_mixed_pass():
    model = trained(mlp())
    task = make_task("RL_other", model)
    draws = torch.stack([random_other_labels(task, e)[FORGET.indices] for e in range(50)])
    assert not (draws == FORGET_CLASS).any() and set(draws.flatten().tolist()) == set(range(K)) - {FORGET_CLASS}
    out, task = run("RL_other", model, lr=0.05)
    x, y = batch(task, "train", random_other_labels(task, 0))
    assert_same_weights(out, sgd_step(model, lambda m: F.cross_entropy(m(x), y), 0.05))


def test_badt_forget_rows_follow_the_random_teacher_and_retain_rows_the_original():
    good, bad = torch.randn(5, K), torch.randn(5, K)
    is_forget = torch.tensor([True, False, True, False, False])
    mixed = teacher_mixture(good, bad, is_forget, 1.0)
    assert torch.allclose(mixed[is_forget], bad[is_forget].softmax(1))
    assert torch.allclose(mixed[~is_forget], good[~is_forget].softmax(1))
    torch.manual_seed(3)
    model = trained(create_model("smallcnn", K, 1), steps=20)
    out, task = run("BadT", model, lr=0.05, epochs=1)
    rows = torch.cat([FORGET.indices, retain_share(task, task.hp["retain_share"])])
    assert len(rows) == len(FORGET.indices) + int(0.3 * len(task.retain_indices))
    x, marked = batch(task, rows, task.marked_labels())
    torch.manual_seed(1)
    random_teacher = create_model("smallcnn", K, 1).eval()
    with torch.no_grad():
        target = teacher_mixture(frozen_copy(model)(x), random_teacher(x), marked < 0, 1.0)
    expected = sgd_step(model, lambda m: (target * (target.log() - F.log_softmax(m(x), 1))).mean(), 0.05)
    assert_same_weights(out, expected, atol=1e-5)


def test_wfisher_steps_by_alpha_times_the_dense_inverse_fisher_of_the_influence_direction():
    model = trained(mlp())
    n_retain = len(FORGET.retain_indices(len(DATA.train)))
    out, task = run("wfisher", model, alpha=0.5, damping=1.0, samples=n_retain)
    params = list(model.parameters())

    def flat_grad(x, y):
        return torch.cat([g.flatten() for g in torch.autograd.grad(F.cross_entropy(model(x), y, reduction="sum"), params)])
    xf, yf = batch(task, "forget")
    xr, yr = batch(task, "retain")
    v = (flat_grad(xf, yf) - flat_grad(xr, yr) * len(yf) / len(yr)) / (len(yf) + len(yr))
    g = torch.stack([flat_grad(xr[i:i + 1], yr[i:i + 1]) for i in range(len(yr))], 1).double()
    fisher = torch.eye(len(v), dtype=torch.double) + g @ g.T / g.shape[1]
    step = torch.linalg.solve(fisher, v.double()).float()
    moved = torch.cat([(a - b).flatten() for a, b in zip(out.parameters(), params)])
    assert torch.allclose(moved, 0.5 * step, atol=1e-6, rtol=1e-4)


def test_boundary_shrink_labels_are_the_originals_prediction_on_the_clamped_fgsm_neighbour():
    model = trained(mlp())
    out, task = run("boundary_shrink", model, lr=0.05)
    x, y = batch(task, "forget")
    mean, std = torch.tensor(META["mean"])[None, :, None, None], torch.tensor(META["std"])[None, :, None, None]
    xg = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(F.cross_entropy(model(xg), y), xg)
    pixels = torch.round((x * std + mean + 0.1 * grad.sign()).clamp(0, 1) * 255) / 255
    labels = model((pixels - mean) / std).argmax(1)
    assert torch.equal(neighbour_labels(model, x, y, mean, std), labels)
    neighbour = fgsm_neighbour(model, x, y, mean, std) * std + mean
    assert torch.allclose(neighbour, pixels, atol=1e-6) and neighbour.min() >= -1e-6 and neighbour.max() <= 1 + 1e-6
    assert (labels == y).any()  # the true label is kept where the original still predicts it
    assert_same_weights(out, sgd_step(model, lambda m: F.cross_entropy(m(x), labels), 0.05))


def test_boundary_expanding_trains_the_forget_set_into_a_shadow_class_it_keeps():
    model = trained(mlp())
    out, task = run("boundary_expanding", model, lr=0.05)
    assert out[-1].out_features == K + 1
    wide = copy.deepcopy(model)
    seed_everything(0)  # the shadow row's initialisation, as run() draws it
    widen_head(wide, "3", K)
    x, _ = batch(task, "forget")
    shadow = torch.full((len(x),), K)
    stepped = sgd_step(wide, lambda m: F.cross_entropy(m(x), shadow), 0.05)
    assert_same_weights(out, stepped)
    dropped, _ = run("boundary_expanding_drop", model, lr=0.05)
    assert dropped[-1].out_features == K and torch.allclose(dropped[-1].weight, out[-1].weight[:K])


def test_boundary_expanding_checkpoint_keeps_k_plus_one_outputs_and_reloads(tmp_path):
    from argparse import Namespace

    from utils import checkpoints
    torch.manual_seed(0)
    model = create_model("smallcnn", K, 1)
    args = Namespace(unlearn="boundary_expanding", seed=0, unlearn_epochs=1)
    out, info = unlearn.run(model, DATA, FORGET, META, args, torch.device("cpu"), show=False)
    assert info["outputs"] == K + 1
    meta = {**META, **DATA.describe(), "unlearn": info}
    path = checkpoints.save_checkpoint(tmp_path / "be.pt", out, meta)
    again, _ = models.load_model(str(path), str(tmp_path), DATA.describe(), torch.device("cpu"))
    assert again.fc.out_features == K + 1 and torch.equal(again.fc.weight, out.fc.weight)


def test_retrain_starts_from_a_fresh_model_not_the_original():
    model = trained(create_model("smallcnn", K, 1), steps=5)
    out, _ = run("retrain", model, epochs=0)
    seed_everything(0)
    fresh = create_model("smallcnn", K, 1)
    assert all(torch.equal(a, b) for a, b in zip(out.state_dict().values(), fresh.state_dict().values()))
    assert not torch.equal(out.fc.weight, model.fc.weight)


def test_sp_loss_is_the_frobenius_norm_of_the_normalised_gram_difference_over_b_squared():
    s, t = torch.randn(6, 5), torch.randn(6, 5)
    gs, gt = s @ s.T, t @ t.T
    gs, gt = gs / gs.norm(dim=1, keepdim=True), gt / gt.norm(dim=1, keepdim=True)
    assert similarity_preserving_loss(s, t).item() == pytest.approx(((gs - gt) ** 2).sum().sqrt().item() / 36, rel=1e-5)


def test_spkd_runs_a_ga_pass_then_ce_plus_sp_on_retain():
    model = trained(mlp())
    out, task = run("SPKD", model, lr=0.05, ce_weight=2.0, sp_weight=3.0)
    xf, yf = batch(task, "forget")
    xr, yr = batch(task, "retain")
    teacher = frozen_copy(model)
    with torch.no_grad():
        t_features = teacher[:-1](xr)
    ascended = sgd_step(model, lambda m: -F.cross_entropy(m(xf), yf), 0.05)
    restore = lambda m: 2.0 * F.cross_entropy(m(xr), yr) + 3.0 * similarity_preserving_loss(m[:-1](xr), t_features)  # noqa: E731
    assert_same_weights(out, sgd_step(ascended, restore, 0.05))


MASKED = sorted(n for n in unlearn.available() if n.endswith("_with_SalUn")
                and n.removesuffix("_with_SalUn") not in OTHER_HELPERS and "ssd" not in n.lower())


@pytest.mark.parametrize("name", MASKED)
def test_salun_variant_keeps_weights_outside_the_mask_bit_identical(name):
    torch.manual_seed(0)
    model = trained(create_model("smallcnn", K, 1), steps=5)
    rng = np.random.default_rng(0)
    mask = {n: torch.from_numpy((rng.random(tuple(p.shape)) < 0.5).astype(np.uint8)) for n, p in model.named_parameters()}
    task = make_task(name, model, mask=mask, momentum=0.9, weight_decay=5e-4, epochs=2, lr=0.01)
    seed_everything(0)
    out = unlearn.get_method(name).fn(copy.deepcopy(model), task)
    moved = 0
    for n, p in model.named_parameters():
        after = out.get_parameter(n)
        keep = mask[n].bool()
        if after.shape != p.shape:  # boundary_expanding's shadow row: compare the original rows
            after = after[:p.shape[0]]
        assert torch.equal(after[~keep], p[~keep]), n
        moved += int((after[keep] != p[keep]).sum())
    assert moved > 0, f"{name} moved no weight inside the mask"
