"""A model as an ordered list of layers (blocks), for methods that touch only the last k of them."""
from torch import nn

from utils.errors import UserError


def layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Top-level children with parameters, with Sequential containers opened one level (ResNet blocks, CNN blocks)."""
    units = []
    for name, child in model.named_children():
        parts = list(child.named_children()) if isinstance(child, nn.Sequential) else [("", child)]
        for sub, module in parts:
            if any(True for _ in module.parameters()):
                units.append((f"{name}.{sub}" if sub else name, module))
    return units


def last_layers(model: nn.Module, k: int) -> list[tuple[str, nn.Module]]:
    """The last k layers (k = -1: all of them)."""
    units = layers(model)
    if k == -1:
        return units
    if not 1 <= k <= len(units):
        raise UserError(f"--k {k}: this model has {len(units)} layers ({', '.join(n for n, _ in units)}); "
                        f"use 1..{len(units)} or -1 for all")
    return units[-k:]


def train_only(model: nn.Module, tail: list[tuple[str, nn.Module]]) -> None:
    """Freeze every parameter outside `tail`."""
    keep = {id(p) for _, module in tail for p in module.parameters()}
    for p in model.parameters():
        p.requires_grad_(id(p) in keep)


def unfreeze(model: nn.Module) -> None:
    for p in model.parameters():
        p.requires_grad_(True)
