"""SCRUB (Kurmanji et al. 2023): the original model teaches; max-steps push the student away from it on forget,
min-steps keep it close on retain (CE + α·KL).

`--scrub_variant corrective` is corrective-unlearning-bench's Scrub (seed 003): its max-step ascends the whole
min-step loss CE + α·KL, and msteps counts optimisation steps (a forget pass starts while fewer steps were taken),
with its scripts' α 0.001, msteps 100 and lr 0.0025."""
import torch
from torch import nn

from engine.train_loop import Step, labelled

from . import register
from .knobs import EPOCHS, LR_SGD, Range
from .losses import distillation_kl
from .task import Pass, UnlearnTask, optimise

CORRECTIVE = {"variant": "corrective", "alpha": 0.001, "msteps": 100, "lr": 0.0025}


@register("SCRUB", epochs=5, lr=0.01, alpha=0.001, msteps=2, kd_T=4.0, variant="kurmanji",
          variants={"kurmanji": {}, "corrective": CORRECTIVE},
          search={"epochs": EPOCHS, "lr": LR_SGD, "alpha": Range(1e-4, 1.0, log=True),
                  "msteps": Range(1, 5, integer=True)})
def scrub(model: nn.Module, task: UnlearnTask) -> nn.Module:
    """Each epoch: a max pass over forget (while msteps allows), then a min pass over retain."""
    teacher, t, alpha, msteps = task.frozen_original(), task.hp["kd_T"], task.hp["alpha"], task.hp["msteps"]
    corrective = task.hp["variant"] == "corrective"
    ce = nn.CrossEntropyLoss()

    def min_loss(logits: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            target = teacher(x)
        return ce(logits.float(), y) + alpha * distillation_kl(logits, target, t)

    def max_step(net: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> Step:
        x, y = batch
        logits = net(x)
        if corrective:
            return labelled(-min_loss(logits, x, y), logits, y)
        with torch.no_grad():
            target = teacher(x)
        return labelled(-distillation_kl(logits, target, t), logits, y)

    def min_step(net: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> Step:
        x, y = batch
        logits = net(x)
        return labelled(min_loss(logits, x, y), logits, y)

    forget_steps, retain_steps = len(task.loader("forget")), len(task.loader("retain"))

    def maximising(epoch: int) -> bool:
        """Kurmanji: the first msteps epochs; corrective: while fewer than msteps optimisation steps were taken."""
        return epoch * (forget_steps + retain_steps) < msteps if corrective else epoch < msteps

    passes = [Pass("forget", max_step, active=maximising, name="max"), Pass("retain", min_step, name="min")]
    return optimise(model, task, passes, desc="SCRUB")
