"""GA_FT: one loop over a retain subset mixed with the forget group: descent on retain, ascent on forget slices."""
from torch import nn

from .. import register
from ..knobs import EPOCHS, LR_ADAM
from ..task import Pass, optimise
from .task import ReconTask, group_loss


@register("GA_FT", task="reconstruction", epochs=3, lr=2e-5, batch_size=8, optimizer="adam", retain_ratio=0.25,
          search={"epochs": EPOCHS, "lr": LR_ADAM})
def gradient_ascent_fine_tune(model: nn.Module, task: ReconTask) -> nn.Module:
    return optimise(model, task, [Pass("retain+forget", group_loss(task, forget_weight=-1.0))], desc="GA_FT")
