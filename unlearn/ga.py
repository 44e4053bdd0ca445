"""GA: gradient ascent on the forget set (minimise −CE)."""
from torch import nn

from . import register
from .knobs import EPOCHS, LR_ASCENT
from .losses import cross_entropy
from .task import Pass, UnlearnTask, optimise


@register("GA", epochs=5, lr=1.5e-4, search={"epochs": EPOCHS, "lr": LR_ASCENT})
def gradient_ascent(model: nn.Module, task: UnlearnTask) -> nn.Module:
    return optimise(model, task, [Pass("forget", cross_entropy(-1.0))], desc="GA")
