"""NegGrad+: one joint loss per batch, CE on retain rows − β · CE on forget rows."""
from torch import nn

from . import register
from .knobs import EPOCHS, LR_SGD, Range
from .losses import retain_minus_forget
from .task import Pass, UnlearnTask, optimise


@register("NegGrad+", epochs=5, lr=0.01, beta=0.02,
          search={"epochs": EPOCHS, "lr": LR_SGD, "beta": Range(1e-3, 1.0, log=True)})
def neggrad_plus(model: nn.Module, task: UnlearnTask) -> nn.Module:
    marked = task.marked_labels()
    joint = Pass("train", retain_minus_forget(task.hp["beta"]), labels=lambda epoch: marked, name="joint")
    return optimise(model, task, [joint], desc="NegGrad+")
