"""FT: fine-tune on the retain groups (all of them, or a --retain_ratio share): "Full FT" / "Sub FT"."""
from torch import nn

from .. import register
from ..knobs import EPOCHS, LR_ADAM
from ..task import Pass, optimise
from .task import ReconTask


@register("FT", task="reconstruction", epochs=3, lr=1e-4, batch_size=8, optimizer="adam", retain_ratio=1.0,
          search={"epochs": EPOCHS, "lr": LR_ADAM})
def fine_tune(model: nn.Module, task: ReconTask) -> nn.Module:
    return optimise(model, task, [Pass("retain", task.train_loss())], desc="FT")
