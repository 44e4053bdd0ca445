import copy
import json
import math

import pytest
import torch
from torch import nn

import main_test_unlearn
import main_unlearn
import unlearn
from arg_parser import build_parser
from unlearn.assd import adaptive_alpha
from unlearn.ssd import dampen, diagonal_fisher, reference_rows, rows_loader
from unlearn.task import UnlearnTask
from unlearn.workflow import load_setup


def report(env, model_id: str, tmp_path, *argv: str) -> dict:
    out = tmp_path / "r.json"
    main_test_unlearn.main(["--model_id", model_id, "--json", str(out), "--overwrite", *env["common"], *argv])
    return json.loads(out.read_text())


def unlearn_id(env, *argv: str) -> str:
    return main_unlearn.main(["--model_id", env["model_id"], *env["common"], "--overwrite", *argv])


def expected_after(p: torch.Tensor, whole: torch.Tensor, forget: torch.Tensor, alpha: float,
                   lam: float) -> torch.Tensor:
    """Element by element, in float64: θ·min(λ·imp_D/imp_f, 1) where imp_f > α·imp_D, θ elsewhere."""
    out = p.detach().double().clone().reshape(-1)
    for i, (w, f) in enumerate(zip(whole.reshape(-1).tolist(), forget.reshape(-1).tolist())):
        if f > alpha * w:
            out[i] *= min(lam * w / f, 1.0)
    return out.reshape(p.shape)


def check_dampened(before: nn.Module, after: nn.Module, whole: dict, forget: dict, alpha: float, lam: float) -> None:
    for (name, p), q in zip(before.named_parameters(), after.parameters()):
        selected = forget[name] > whole[name] * alpha
        assert torch.equal(q[~selected], p[~selected]), name  # everything not selected is bit-identical
        want = expected_after(p, whole[name], forget[name], alpha, lam)
        assert torch.allclose(q.double(), want, rtol=1e-6, atol=1e-30), name


@pytest.mark.parametrize("lam", [1.0, 20.0])
def test_ssd_scales_exactly_the_selected_parameters_by_its_factor(lam):
    torch.manual_seed(0)
    model = nn.Linear(4, 3)
    forget_w = torch.tensor([0, 5, 9.99, 10, 10.01, 20, 40, 100, 1000, 11, 10.5, 0.5]).reshape(3, 4)
    whole = {"weight": torch.ones(3, 4), "bias": torch.tensor([0.0, 0.0, 1.0])}
    forget = {"weight": forget_w, "bias": torch.tensor([0.0, 3.0, 5.0])}
    after = dampen(copy.deepcopy(model), whole, forget, 10.0, lam)
    check_dampened(model, after, whole, forget, 10.0, lam)
    assert after.bias[1] == 0 and after.bias[0] == model.bias[0]  # imp_D 0 < imp_f: zeroed; both 0: kept
    assert after.weight[0, 3] == model.weight[0, 3]  # imp_f = α·imp_D exactly is not selected
    assert torch.isclose(after.weight[1, 2], model.weight[1, 2] * min(lam / 40, 1))


def test_assd_alpha_is_the_share_percentile_of_finite_ratios_and_selects_above_it():
    torch.manual_seed(0)
    model = nn.Linear(10, 10)
    retain = {"weight": torch.ones(10, 10), "bias": torch.tensor([0.0, 0.0, 1, 1, 1, 1, 1, 1, 1, 1])}
    forget = {"weight": torch.arange(1, 101, dtype=torch.float32).reshape(10, 10),
              "bias": torch.tensor([0.0, 7.0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5])}
    finite = sorted([float(r) for r in range(1, 101)] + [0.5] * 8)  # 0/0 and 7/0 are left out
    rank = (100 - math.log(1 + 10)) / 100 * (len(finite) - 1)  # forget share 10 %
    low = math.floor(rank)
    want = finite[low] + (rank - low) * (finite[low + 1] - finite[low])
    alpha = adaptive_alpha(retain, forget, 0.1)
    assert alpha == pytest.approx(want, rel=1e-6) and 97 < alpha < 98  # float32, as numpy computes it there
    after = dampen(copy.deepcopy(model), retain, forget, alpha, 1.0)
    check_dampened(model, after, retain, forget, alpha, 1.0)
    changed = (after.weight != model.weight).sum() + (after.bias != model.bias).sum()
    assert changed == 3 + 1  # ratios 98, 99, 100 and the bias with imp_retain 0 < imp_f
    assert after.bias[1] == 0 and after.bias[0] == model.bias[0]


@pytest.fixture(scope="module")
def class3(unlearn_env):
    args = build_parser("data", "model", "unlearning", "system", "output").parse_args(
        ["--model_id", unlearn_env["model_id"], "--class_to_forget", "3", *unlearn_env["common"], "--unlearn", "SSD"])
    setup = load_setup(args)
    task = UnlearnTask(setup.data, setup.forget, setup.meta, setup.device, {"batch_size": 64, "seed": 1}, show=False)
    forget = diagonal_fisher(setup.model, rows_loader(task, setup.forget.indices.cpu()))
    return args, setup, task, forget


def test_ssd_runs_the_reference_recipe_on_retain_then_forget_rows(class3):
    args, setup, task, forget = class3
    args = copy.copy(args)
    assert unlearn.get_method("SSD").defaults == {"ssd_alpha": 10.0, "ssd_lambda": 1.0, "batch_size": 64, "epochs": 0,
                                                  "lr": 0.0}
    rows = reference_rows(task)
    n_forget = len(setup.forget.indices)
    assert sorted(rows.tolist()) == list(range(len(setup.data.train)))
    assert torch.equal(rows[-n_forget:], setup.forget.indices.cpu())
    retain_labels = setup.data.train.labels.cpu()[rows[:-n_forget]]
    assert bool((retain_labels[1:] >= retain_labels[:-1]).all())  # class-sorted, as the reference's class-wise main
    whole = diagonal_fisher(setup.model, rows_loader(task, rows))
    args.SSDselectwt = 8.0
    model, info = unlearn.run(copy.deepcopy(setup.model), setup.data, setup.forget, setup.meta, args, setup.device,
                              show=False)
    assert info["hparams"]["ssd_alpha"] == 8.0
    check_dampened(setup.model, model, whole, forget, 8.0, 1.0)


def test_assd_dampens_what_its_adaptive_alpha_selects_on_the_retain_importance(class3):
    args, setup, task, forget = class3
    args = copy.copy(args)
    retain = diagonal_fisher(setup.model, rows_loader(task, task.retain_indices.cpu()))
    alpha = adaptive_alpha(retain, forget, len(setup.forget.indices) / len(setup.data.train))
    args.unlearn = "ASSD"
    model, info = unlearn.run(copy.deepcopy(setup.model), setup.data, setup.forget, setup.meta, args, setup.device,
                              show=False)
    assert info["hparams"]["ssd_alpha"] == alpha
    check_dampened(setup.model, model, retain, forget, alpha, 1.0)


def test_assd_at_its_defaults_forgets_the_class_at_a_far_smaller_cost(unlearn_env, tmp_path):
    # checked on seven Digits smallcnns (8 and 15 epochs, seeds 1-4): UA 100 on all, TA loss 0.3-18 points
    original = report(unlearn_env, unlearn_env["model_id"], tmp_path, "--class_to_forget", "3")
    result = report(unlearn_env, unlearn_id(unlearn_env, "--unlearn", "ASSD", "--class_to_forget", "3"), tmp_path)
    assert result["UA"] >= 90, result
    assert (result["UA"] - original["UA"]) - (original["TA"] - result["TA"]) >= 60, result


def test_gradient_statistics_are_salun_saliency_and_ssd_importance():
    from engine.gradients import gradient_statistics
    torch.manual_seed(0)
    net = torch.nn.Linear(3, 1, bias=False)
    batches = [torch.randn(4, 3) for _ in range(2)]
    grads = [x.sum(0) for x in batches]  # ∇w of net(x).sum() is Σ rows of x
    loss = lambda model, x: model(x).sum()  # noqa: E731
    saliency = gradient_statistics(net, batches, loss, "abs_sum")["weight"][0]
    importance = gradient_statistics(net, batches, loss, "mean_square")["weight"][0]
    assert torch.allclose(saliency, (grads[0] + grads[1]).abs())
    assert torch.allclose(importance, (grads[0].square() + grads[1].square()) / 2)
    assert net.weight.grad is None
