"""Retrain: a fresh model trained on the retain set only, with the original recipe: the gold standard."""
from torch import nn

from models import create_model
from utils.device import seed_everything

from . import register
from .losses import cross_entropy
from .task import Pass, UnlearnTask, optimise


@register("retrain", salun=False, from_parent=True)
def retrain(model: nn.Module, task: UnlearnTask) -> nn.Module:
    """Train from scratch on the retain set (epochs, lr, optimiser and schedule of the original model unless given)."""
    seed_everything(task.hp["seed"])
    meta = task.meta
    fresh = create_model(meta["arch"], meta["num_classes"], meta["in_channels"],
                         imagenet_arch=meta.get("imagenet_arch", False)).to(task.device)
    return optimise(fresh, task, [Pass("retain", cross_entropy())], desc="retrain")
