"""A model as an ordered list of units (blocks) with their weight layers, for EU-k and CF-k, which touch only the
last k weight layers as corrective-unlearning-bench's ApplyK does: k counts conv and linear layers from the output
(projection shortcuts not counted, as in a ResNet's depth), and the cut falls between whole units."""
from contextlib import contextmanager
from typing import Iterator

from torch import nn

import models
from utils.errors import UserError

SHORTCUTS = ("downsample", "shortcut")  # projection shortcuts: not part of a ResNet's depth


def layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The blocks the model declares (models.declare), input to output, that hold weights."""
    return [(name, module) for name, module in models.blocks(model) if any(True for _ in module.parameters())]


def depth(module: nn.Module) -> int:
    """How many weight layers (conv, linear) `module` has on its main path."""
    return sum(isinstance(m, (nn.modules.conv._ConvNd, nn.Linear)) and not any(s in name.split(".") for s in SHORTCUTS)
               for name, m in module.named_modules())


def cuts(model: nn.Module) -> list[int]:
    """The k a model can be cut at: weight layers counted from the output up to each unit boundary."""
    totals, total = [], 0
    for _, module in reversed(layers(model)):
        total += depth(module)
        if total and total not in totals:
            totals.append(total)
    return totals


def last_layers(model: nn.Module, k: int) -> list[tuple[str, nn.Module]]:
    """The units holding the last k weight layers (k = -1: all of them)."""
    units = layers(model)
    if k == -1:
        return units
    if k not in cuts(model):
        raise UserError(f"--k {k}: this model's last k weight layers (conv/linear, counted from the output) must end at "
                        f"a block boundary; use one of {', '.join(map(str, cuts(model)))}, or -1 for all")
    tail, total = [], 0
    for name, module in reversed(units):
        if total == k:
            break
        tail.insert(0, (name, module))
        total += depth(module)
    return tail


def reinitialise(tail: list[tuple[str, nn.Module]]) -> None:
    """Fresh weights for every conv, linear and norm layer of `tail`, conv/linear biases zero (the reference's EU)."""
    for _, unit in tail:
        for module in unit.modules():
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()
            if isinstance(module, (nn.modules.conv._ConvNd, nn.Linear)) and module.bias is not None:
                nn.init.zeros_(module.bias)


@contextmanager
def train_only(model: nn.Module, tail: list[tuple[str, nn.Module]]) -> Iterator[None]:
    """Inside the block only `tail` learns: every other parameter is frozen and every other module runs in eval mode
    in every forward (BatchNorm statistics stay put), as the reference's prenet; afterwards all parameters train."""
    inside = {id(m) for _, unit in tail for m in unit.modules()}
    keep = {id(p) for _, unit in tail for p in unit.parameters()}
    for p in model.parameters():
        p.requires_grad_(id(p) in keep)
    held = [m for m in model.modules() if not any(True for _ in m.children()) and id(m) not in inside]

    def hold(module: nn.Module, inputs: tuple) -> None:
        for m in held:
            m.train(False)

    handle = model.register_forward_pre_hook(hold)
    try:
        yield
    finally:
        handle.remove()
        for p in model.parameters():
            p.requires_grad_(True)
