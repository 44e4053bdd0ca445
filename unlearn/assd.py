"""Adaptive SSD (Schoepf, Foster, Brintrup 2024): SSD with α set from the data instead of tuned per model."""
import math

import numpy as np
import torch
from torch import nn

from . import register
from .knobs import Range
from .ssd import dampen, diagonal_fisher, rows_loader
from .task import UnlearnTask


def adaptive_alpha(retain: dict[str, torch.Tensor], forget: dict[str, torch.Tensor], forget_share: float) -> float:
    """ASSD's α: the (100 − ln(1 + 100·|D_f|/|D|))-th percentile of every finite imp_f / imp_retain."""
    ratios = []
    for name, imp in retain.items():
        ratio = forget[name].div(imp)
        ratios.append(ratio[torch.isfinite(ratio)].reshape(-1).cpu().numpy())
    return np.percentile(np.concatenate(ratios), 100 - math.log(1 + forget_share * 100)).item()


# The notebook's run: λ 1, no dampening floor, importance on the retain set (its `retain_loader`) at batch 1024 on
# 180k tabular rows; batch 64 here keeps SSD's image setting and enough batches (about 18 on Digits) to average.
@register("ASSD", salun=False, ssd_lambda=1.0, batch_size=64, epochs=0, lr=0.0,
          search={"ssd_lambda": Range(0.1, 10.0, log=True)})
def adaptive_selective_synaptic_dampening(model: nn.Module, task: UnlearnTask) -> nn.Module:
    """SSD's dampening with α the percentile of imp_f / imp_retain that the forget set's share of the data sets."""
    retain = diagonal_fisher(model, rows_loader(task, task.retain_indices.cpu()), task.show, "importance on D_r")
    forget = diagonal_fisher(model, rows_loader(task, task.forget.indices.cpu()), task.show, "importance on D_f")
    share = len(task.forget.indices) / (len(task.retain_indices) + len(task.forget.indices))
    task.hp["ssd_alpha"] = adaptive_alpha(retain, forget, share)
    return dampen(model, retain, forget, task.hp["ssd_alpha"], task.hp["ssd_lambda"])
