"""FT_prune (ℓ1-sparse, Jia et al. 2023): fine-tune on retain with an ℓ1 penalty whose weight decays linearly to 0."""
import torch
from torch import nn

from engine.train_loop import Step, labelled

from . import register
from .knobs import EPOCHS, LR_SGD, Range
from .task import Pass, UnlearnTask, optimise


@register("FT_prune", epochs=5, lr=0.01, alpha=5e-4,
          search={"epochs": EPOCHS, "lr": LR_SGD, "alpha": Range(1e-5, 1e-2, log=True)})
def l1_sparse(model: nn.Module, task: UnlearnTask) -> nn.Module:
    epochs, alpha = task.hp["epochs"], task.hp["alpha"]
    weight = {"now": alpha}
    ce = nn.CrossEntropyLoss()

    def set_weight(epoch: int) -> None:
        weight["now"] = alpha * (1 - epoch / epochs)

    def batch_loss(net: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> Step:
        x, y = batch
        logits = net(x).float()
        l1 = sum(p.abs().sum() for p in net.parameters() if p.requires_grad)
        return labelled(ce(logits, y) + weight["now"] * l1, logits, y)

    return optimise(model, task, [Pass("retain", batch_loss, before_epoch=set_weight)], desc="FT_prune")
