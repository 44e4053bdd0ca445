"""fl_retrain (the gold standard): the federation trained again from scratch without the leaving site."""
from torch import nn

from engine.recon_training import build_model
from utils.device import seed_everything

from .. import register
from ..recon.task import ReconTask
from .rounds import clone_state, remaining


@register("fl_retrain", salun=False, task="federated", from_parent=True)
def federated_retrain(model: nn.Module, task: ReconTask) -> nn.Module:
    seed_everything(task.hp["seed"])
    fresh = build_model(task.meta).to(task.device)
    rest = remaining(fresh, task)
    rest.run(fresh, clone_state(fresh), range(task.hp["epochs"]), task, "fl_retrain rounds")
    return fresh
