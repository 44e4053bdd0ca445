"""Boundary shrinking (Chen et al. 2023; SalUn's boundary_sh.py): relabel each forget sample with the original
model's prediction on its FGSM neighbour, then fine-tune on the clean images toward those labels."""
import torch
import torch.nn.functional as F
from torch import nn

from engine.train_loop import Step, labelled

from . import register
from .knobs import EPOCHS, LR_ADAM
from .task import Pass, UnlearnTask, optimise

PIXEL_BOUND = 0.1  # FGSM step in [0, 1] pixel units ("hard coding in the paper")


def fgsm_neighbour(original: nn.Module, x: torch.Tensor, y: torch.Tensor, mean: torch.Tensor,
                   std: torch.Tensor) -> torch.Tensor:
    """x + bound·sign(∇x CE) in pixel space, clamped to [0, 1] and rounded to 1/255 (as the reference), renormalised."""
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        (grad,) = torch.autograd.grad(F.cross_entropy(original(x).float(), y), x)
    pixels = x.detach() * std + mean + PIXEL_BOUND * grad.sign()
    pixels = torch.round(pixels.clamp(0.0, 1.0) * 255) / 255
    return (pixels - mean) / std


def neighbour_labels(original: nn.Module, x: torch.Tensor, y: torch.Tensor, mean: torch.Tensor,
                     std: torch.Tensor) -> torch.Tensor:
    """The original model's prediction on the FGSM neighbour of x (the true label where it still predicts that)."""
    neighbour = fgsm_neighbour(original, x, y, mean, std)
    with torch.no_grad():
        return original(neighbour).argmax(1)


@register("boundary_shrink", epochs=5, lr=3e-4, search={"epochs": EPOCHS, "lr": LR_ADAM})
def boundary_shrink(model: nn.Module, task: UnlearnTask) -> nn.Module:
    original = task.frozen_original()
    mean, std = (torch.tensor(task.meta[key], device=task.device)[None, :, None, None] for key in ("mean", "std"))

    def batch_loss(net: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> Step:
        x, y = batch
        target = neighbour_labels(original, x, y, mean, std)
        logits = net(x).float()
        return labelled(F.cross_entropy(logits, target), logits, target)

    return optimise(model, task, [Pass("forget", batch_loss)], desc="boundary_shrink")
