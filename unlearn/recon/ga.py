"""GA: gradient ascent on the training loss of the forget group's slices."""
from torch import nn

from .. import register
from ..knobs import EPOCHS, LR_ADAM
from ..task import Pass, optimise
from .task import ReconTask, group_loss


@register("GA", task="reconstruction", epochs=1, lr=1e-4, batch_size=8, optimizer="adam",
          search={"epochs": EPOCHS, "lr": LR_ADAM})
def gradient_ascent(model: nn.Module, task: ReconTask) -> nn.Module:
    return optimise(model, task, [Pass("forget", group_loss(task, forget_weight=-1.0))], desc="GA")
