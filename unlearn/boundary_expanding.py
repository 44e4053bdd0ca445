"""Boundary expanding (Chen et al. 2023): add a shadow class, train the forget set into it, then drop it."""
import torch
from torch import nn

from models.features import last_linear_name
from utils.errors import UserError

from . import register
from .losses import cross_entropy
from .task import Pass, UnlearnTask, optimise


def swap_module(model: nn.Module, name: str, new: nn.Module) -> None:
    parent, _, leaf = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, leaf, new)


@register("boundary_expanding", epochs=5, lr=1e-3)
def boundary_expanding(model: nn.Module, task: UnlearnTask) -> nn.Module:
    k = task.num_classes
    name = last_linear_name(model)
    head = model.get_submodule(name)
    if head.out_features != k:
        raise UserError(f"boundary_expanding needs a final nn.Linear with {k} outputs; {name} has {head.out_features}")
    wide = nn.Linear(head.in_features, k + 1, bias=head.bias is not None).to(head.weight.device)
    with torch.no_grad():
        wide.weight[:k] = head.weight
        if head.bias is not None:
            wide.bias[:k] = head.bias
    swap_module(model, name, wide)
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
    with torch.no_grad():
        head.weight.copy_(wide.weight[:k])
        if head.bias is not None:
            head.bias.copy_(wide.bias[:k])
    swap_module(model, name, head)
    if task.mask is not None:
        task.mask = {key: m[:k] if key.startswith(f"{name}.") else m for key, m in task.mask.items()}
    return model
