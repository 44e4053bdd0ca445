"""Boundary expanding (Chen et al. 2023; SalUn's boundary_ex.py): widen the last linear layer by a shadow class and
train the forget set into it. As in the reference the shadow class stays: the model keeps K+1 outputs and is
evaluated by argmax over all of them. `boundary_expanding_drop` cuts the shadow row off after training."""
import torch
from torch import nn

from models import classifier_name
from utils.errors import UserError

from . import register
from .knobs import EPOCHS, LR_ADAM
from .losses import cross_entropy
from .task import Pass, UnlearnTask, optimise


def swap_module(model: nn.Module, name: str, new: nn.Module) -> None:
    parent, _, leaf = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, leaf, new)


def widen_head(model: nn.Module, name: str, k: int) -> nn.Linear:
    """Replace the K-output linear layer `name` by one with K+1 outputs (old rows copied, the shadow row fresh)."""
    head = model.get_submodule(name)
    if head.out_features != k:
        raise UserError(f"boundary_expanding needs a final nn.Linear with {k} outputs; {name} has {head.out_features}")
    wide = nn.Linear(head.in_features, k + 1, bias=head.bias is not None).to(head.weight.device, head.weight.dtype)
    with torch.no_grad():
        wide.weight[:k] = head.weight
        if head.bias is not None:
            wide.bias[:k] = head.bias
    swap_module(model, name, wide)
    return wide


def drop_shadow(model: nn.Module, name: str, k: int) -> None:
    """Cut the wide layer `name` back to its first K outputs."""
    wide = model.get_submodule(name)
    head = nn.Linear(wide.in_features, k, bias=wide.bias is not None).to(wide.weight.device, wide.weight.dtype)
    with torch.no_grad():
        head.weight.copy_(wide.weight[:k])
        if wide.bias is not None:
            head.bias.copy_(wide.bias[:k])
    swap_module(model, name, head)


def expand(model: nn.Module, task: UnlearnTask, keep_shadow: bool) -> nn.Module:
    k = task.num_classes
    name = classifier_name(model)
    widen_head(model, name, k)
    if task.mask is not None:  # the shadow row is new: it may move
        task.mask = dict(task.mask)
        for suffix in ("weight", "bias"):
            key = f"{name}.{suffix}"
            if key in task.mask:
                task.mask[key] = torch.cat([task.mask[key], torch.ones_like(task.mask[key][:1])])
    shadow = task.data.train.labels.cpu().clone()
    shadow[task.forget.indices] = k
    optimise(model, task, [Pass("forget", cross_entropy(), labels=lambda epoch: shadow, name="shadow")],
             desc="boundary_expanding")
    if not keep_shadow:
        drop_shadow(model, name, k)
        if task.mask is not None:
            task.mask = {key: m[:k] if key.startswith(f"{name}.") else m for key, m in task.mask.items()}
    return model


@register("boundary_expanding", epochs=5, lr=1e-3, search={"epochs": EPOCHS, "lr": LR_ADAM})
def boundary_expanding(model: nn.Module, task: UnlearnTask) -> nn.Module:
    return expand(model, task, keep_shadow=True)


@register("boundary_expanding_drop", epochs=5, lr=1e-3, search={"epochs": EPOCHS, "lr": LR_ADAM})
def boundary_expanding_drop(model: nn.Module, task: UnlearnTask) -> nn.Module:
    """boundary_expanding, then the shadow row is removed so the model has K outputs again (not in the reference)."""
    return expand(model, task, keep_shadow=False)
