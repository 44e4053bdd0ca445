"""GA_l1: gradient ascent on the forget group plus λ·‖θ‖₁ (the reference code doubles the ascent term; not here)."""
from torch import nn

from .. import register
from .task import ReconTask, unlearn_loop


@register("GA_l1", task="reconstruction", epochs=1, lr=1e-4, batch_size=8, optimizer="adam", l1_lambda=1e-4)
def gradient_ascent_l1(model: nn.Module, task: ReconTask) -> nn.Module:
    return unlearn_loop(model, task, retain=False, forget="ascent", l1=task.hp["l1_lambda"])
