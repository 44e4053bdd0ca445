"""retrain (the oracle): train a fresh network on the retain groups only, with the original's recipe."""
from torch import nn

from engine.recon_training import build_model
from utils.device import seed_everything

from .. import register
from ..task import Pass, optimise
from .task import ReconTask


@register("retrain", salun=False, task="reconstruction", from_parent=True)
def retrain(model: nn.Module, task: ReconTask) -> nn.Module:
    seed_everything(task.hp["seed"])
    fresh = build_model(task.meta).to(task.device)
    return optimise(fresh, task, [Pass("retain", task.train_loss())], desc="retrain")
