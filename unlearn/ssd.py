"""SSD (Foster et al. 2024): no training. Dampen the parameters far more important to the forget set than to the data."""
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from . import register
from .task import UnlearnTask


def diagonal_fisher(model: nn.Module, batches, show: bool = False, desc: str = "importance") -> dict[str, torch.Tensor]:
    """SSD's importance: the mean over batches of the squared gradient of the batch's CE loss, per parameter."""
    model.eval()
    importance = {name: torch.zeros_like(p) for name, p in model.named_parameters() if p.requires_grad}
    count = 0
    for x, y in tqdm(batches, desc=desc, leave=False, disable=not show, dynamic_ncols=True):
        model.zero_grad(set_to_none=True)
        F.cross_entropy(model(x).float(), y).backward()
        for name, p in model.named_parameters():
            if p.grad is not None:
                importance[name] += p.grad.square()
        count += 1
    model.zero_grad(set_to_none=True)
    return {name: imp / max(count, 1) for name, imp in importance.items()}


# The importances are estimated on batches (as SSD's code does), so the ratio imp_f / imp_D grows with the
# batch size and the selection is sharp: a few hundred parameters more or less decide between forgetting
# nothing and damaging the model. Batch 32 with α = 20 suits ResNet-18 on Digits; the small CNN needs 30-50.
@register("SSD", salun=False, ssd_alpha=20.0, ssd_lambda=1.0, batch_size=32, epochs=0, lr=0.0)
def selective_synaptic_dampening(model: nn.Module, task: UnlearnTask) -> nn.Module:
    """Parameters with imp_f > α·imp_D are scaled by min(λ·imp_D / imp_f, 1)."""
    whole = diagonal_fisher(model, task.loader("train", shuffle=False, augment=False), task.show, "importance on D")
    forget = diagonal_fisher(model, task.loader("forget", shuffle=False, augment=False), task.show, "importance on D_f")
    return dampen(model, whole, forget, task.hp["ssd_alpha"], task.hp["ssd_lambda"])


@torch.no_grad()
def dampen(model: nn.Module, whole: dict[str, torch.Tensor], forget: dict[str, torch.Tensor], alpha: float,
           lam: float) -> nn.Module:
    """SSD's update: parameters with imp_f > α·imp_D are scaled by min(λ·imp_D / imp_f, 1); the rest stay."""
    for name, p in model.named_parameters():
        if name not in whole:
            continue
        selected = forget[name] > alpha * whole[name]
        factor = (lam * whole[name] / forget[name].clamp_min(1e-30)).clamp(max=1.0)
        p.mul_(torch.where(selected, factor, torch.ones_like(factor)))
    return model
