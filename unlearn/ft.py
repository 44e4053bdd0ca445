"""FT: fine-tune on the retain set (catastrophic forgetting of the rest)."""
from torch import nn

from . import register
from .knobs import EPOCHS, LR_SGD
from .losses import cross_entropy
from .task import Pass, UnlearnTask, optimise


@register("FT", epochs=5, lr=0.01, search={"epochs": EPOCHS, "lr": LR_SGD})
def fine_tune(model: nn.Module, task: UnlearnTask) -> nn.Module:
    return optimise(model, task, [Pass("retain", cross_entropy())], desc="FT")
