"""EU / EU-k (exact unlearning, Goel et al. 2024): re-initialise the last k weight layers and retrain them on retain."""
from torch import nn

from . import register
from .layers import last_layers, reinitialise, train_only
from .losses import cross_entropy
from .task import Pass, UnlearnTask, optimise


@register("EU", salun=False, from_parent=True, k=-1)
def exact_unlearning(model: nn.Module, task: UnlearnTask) -> nn.Module:
    """k = -1 re-initialises everything: retraining from scratch (the original recipe unless epochs / lr given); the
    layers before the last k stay frozen in eval mode."""
    tail = last_layers(model, task.hp["k"])
    reinitialise(tail)
    with train_only(model, tail):
        optimise(model, task, [Pass("retain", cross_entropy())], desc=f"EU-{task.hp['k']}")
    return model
