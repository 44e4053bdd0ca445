"""GA_l1: gradient ascent on the forget group plus λ·‖θ‖₁ (seed 000's code doubles the ascent term: --ascent_weight 2)."""
from torch import nn

from .. import register
from ..knobs import EPOCHS, L1_LAMBDA, LR_ADAM
from ..task import Pass, optimise
from .task import ReconTask, group_loss


@register("GA_l1", task="reconstruction", epochs=1, lr=1e-4, batch_size=8, optimizer="adam", l1_lambda=1e-4,
          ascent_weight=1.0, search={"epochs": EPOCHS, "lr": LR_ADAM, "l1_lambda": L1_LAMBDA})
def gradient_ascent_l1(model: nn.Module, task: ReconTask) -> nn.Module:
    loss = group_loss(task, forget_weight=-task.hp["ascent_weight"], l1=task.hp["l1_lambda"])
    return optimise(model, task, [Pass("forget", loss)], desc="GA_l1")
