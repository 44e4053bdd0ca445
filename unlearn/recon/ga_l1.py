"""GA_l1: gradient ascent on the forget group plus λ·‖θ‖₁ (seed 000's code doubles the ascent term: --ascent_weight 2)."""
from torch import nn

from .. import register
from .task import ReconTask, unlearn_loop


@register("GA_l1", task="reconstruction", epochs=1, lr=1e-4, batch_size=8, optimizer="adam", l1_lambda=1e-4,
          ascent_weight=1.0)
def gradient_ascent_l1(model: nn.Module, task: ReconTask) -> nn.Module:
    return unlearn_loop(model, task, retain=False, forget="ascent", l1=task.hp["l1_lambda"],
                        ascent_weight=task.hp["ascent_weight"])
