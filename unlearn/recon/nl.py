"""NL: train on the forget group against noisy targets, target + |N(0,1)|·λ·(volume max)."""
from torch import nn

from .. import register
from ..knobs import EPOCHS, LR_ADAM, NOISE_LAMBDA
from ..task import Pass, optimise
from .task import ReconTask, group_loss, noisy_targets


@register("NL", task="reconstruction", epochs=6, lr=1e-4, batch_size=8, optimizer="adam", noise_lambda=3.0,
          noise_scale="max", search={"epochs": EPOCHS, "lr": LR_ADAM, "noise_lambda": NOISE_LAMBDA})
def noisy_labels(model: nn.Module, task: ReconTask) -> nn.Module:
    return optimise(model, task, [Pass("forget", group_loss(task, targets=noisy_targets(task)))], desc="NL")
