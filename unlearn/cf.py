"""CF / CF-k (catastrophic forgetting, Goel et al. 2024): fine-tune only the last k weight layers on retain."""
from torch import nn

from . import register
from .knobs import EPOCHS, LR_SGD
from .layers import last_layers, train_only
from .losses import cross_entropy
from .task import Pass, UnlearnTask, optimise


@register("CF", epochs=5, lr=0.01, k=-1, search={"epochs": EPOCHS, "lr": LR_SGD})
def catastrophic_forgetting(model: nn.Module, task: UnlearnTask) -> nn.Module:
    """The layers before the last k stay frozen in eval mode (parameters and BatchNorm statistics unchanged)."""
    with train_only(model, last_layers(model, task.hp["k"])):
        optimise(model, task, [Pass("retain", cross_entropy())], desc=f"CF-{task.hp['k']}")
    return model
