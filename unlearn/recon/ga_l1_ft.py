"""GA_l1_FT: GA_FT with λ·‖θ‖₁ added on forget slices."""
from torch import nn

from .. import register
from ..knobs import EPOCHS, L1_LAMBDA, LR_ADAM
from ..task import Pass, optimise
from .task import ReconTask, group_loss


@register("GA_l1_FT", task="reconstruction", epochs=3, lr=2e-5, batch_size=8, optimizer="adam", retain_ratio=0.25,
          l1_lambda=1e-4, ascent_weight=1.0, search={"epochs": EPOCHS, "lr": LR_ADAM, "l1_lambda": L1_LAMBDA})
def gradient_ascent_l1_fine_tune(model: nn.Module, task: ReconTask) -> nn.Module:
    loss = group_loss(task, forget_weight=-task.hp["ascent_weight"], l1=task.hp["l1_lambda"])
    return optimise(model, task, [Pass("retain+forget", loss)], desc="GA_l1_FT")
