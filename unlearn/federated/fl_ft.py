"""fl_ft: a few more FedAvg rounds (--unlearn_epochs, local lr --unlearn_lr, default the original's) among the
remaining sites, from the trained model."""
from torch import nn

from .. import register
from ..knobs import EPOCHS, LR_ADAM
from ..recon.task import ReconTask
from .rounds import clone_state, remaining


@register("fl_ft", salun=False, task="federated", epochs=2, lr="parent", search={"epochs": EPOCHS, "lr": LR_ADAM})
def federated_fine_tune(model: nn.Module, task: ReconTask) -> nn.Module:
    rest = remaining(model, task)
    rest.run(model, clone_state(model), range(rest.rounds, rest.rounds + task.hp["epochs"]), task, "fl_ft rounds")
    return model
