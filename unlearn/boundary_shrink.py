"""Boundary shrinking (Chen et al. 2023): relabel each forget sample with the class its FGSM neighbour falls into."""
import torch
import torch.nn.functional as F
from torch import nn

from . import register
from .task import Pass, UnlearnTask, optimise

PIXEL_BOUND = 0.1  # FGSM step in [0, 1] pixel units, as in the paper's code


def nearest_other_label(original: nn.Module, x: torch.Tensor, y: torch.Tensor, step: torch.Tensor) -> torch.Tensor:
    """The original model's prediction on an FGSM neighbour of x; its runner-up where that is still y."""
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        loss = F.cross_entropy(original(x).float(), y)
        (grad,) = torch.autograd.grad(loss, x)
    with torch.no_grad():
        logits = original(x + step * grad.sign()).float()
        top2 = logits.topk(2, dim=1).indices
        return torch.where(top2[:, 0] == y, top2[:, 1], top2[:, 0])


@register("boundary_shrink", epochs=5, lr=3e-4)
def boundary_shrink(model: nn.Module, task: UnlearnTask) -> nn.Module:
    original = task.frozen_original()
    step = (PIXEL_BOUND / torch.tensor(task.meta["std"], device=task.device))[None, :, None, None]

    def batch_loss(net: nn.Module, x: torch.Tensor, y: torch.Tensor):
        target = nearest_other_label(original, x, y, step)
        logits = net(x).float()
        return F.cross_entropy(logits, target), logits, target

    return optimise(model, task, [Pass("forget", batch_loss)], desc="boundary_shrink")
