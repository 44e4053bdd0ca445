"""Per-parameter statistics of a loss gradient over batches: SalUn's saliency and SSD's importance, for every family."""
from typing import Any, Callable, Iterable

import torch
from torch import nn
from tqdm import tqdm

STATISTICS = ("abs_sum", "mean_square")


def gradient_statistics(model: nn.Module, batches: Iterable[Any], batch_loss: Callable[[nn.Module, Any], torch.Tensor],
                        statistic: str, *, show: bool = False, desc: str = "gradients") -> dict[str, torch.Tensor]:
    """With the model in eval mode, one backward pass of `batch_loss(model, batch)` per batch, then per parameter
    `abs_sum`: |Σ_batches ∇θ loss| (SalUn's saliency), or `mean_square`: the mean over batches of (∇θ loss)² (SSD's
    diagonal Fisher importance)."""
    if statistic not in STATISTICS:
        raise ValueError(f"statistic {statistic!r}: one of {', '.join(STATISTICS)}")
    model.eval()
    total = {name: torch.zeros_like(p) for name, p in model.named_parameters() if p.requires_grad}
    count = 0
    for batch in tqdm(batches, desc=desc, leave=False, disable=not show, dynamic_ncols=True):
        model.zero_grad(set_to_none=True)
        batch_loss(model, batch).backward()
        for name, p in model.named_parameters():
            if p.grad is not None:
                total[name] += p.grad.square() if statistic == "mean_square" else p.grad
        count += 1
    model.zero_grad(set_to_none=True)
    if statistic == "abs_sum":
        return {name: g.abs() for name, g in total.items()}
    return {name: g / max(count, 1) for name, g in total.items()}
