"""SCRUB (Kurmanji et al. 2023): the original model teaches; max-steps push the student away from it on forget,
min-steps keep it close on retain (CE + α·KL)."""
import torch
from torch import nn

from . import register
from .losses import distillation_kl
from .task import Pass, UnlearnTask, optimise


@register("SCRUB", epochs=5, lr=0.01, alpha=1.0, msteps=2, kd_T=4.0)
def scrub(model: nn.Module, task: UnlearnTask) -> nn.Module:
    teacher, t, alpha = task.frozen_original(), task.hp["kd_T"], task.hp["alpha"]
    ce = nn.CrossEntropyLoss()

    def max_step(net: nn.Module, x: torch.Tensor, y: torch.Tensor):
        logits = net(x)
        with torch.no_grad():
            target = teacher(x)
        return -distillation_kl(logits, target, t), logits, y

    def min_step(net: nn.Module, x: torch.Tensor, y: torch.Tensor):
        logits = net(x)
        with torch.no_grad():
            target = teacher(x)
        return ce(logits.float(), y) + alpha * distillation_kl(logits, target, t), logits, y

    passes = [Pass("forget", max_step, active=lambda epoch: epoch < task.hp["msteps"], name="max"),
              Pass("retain", min_step, name="min")]
    return optimise(model, task, passes, desc="SCRUB")
