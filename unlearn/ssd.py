"""SSD (Foster et al. 2024): no training. Dampen the parameters far more important to the forget set than to D."""
import torch
import torch.nn.functional as F
from torch import nn

from datasets.batching import BatchLoader
from engine.gradients import gradient_statistics

from . import register
from .knobs import Range
from .task import UnlearnTask


def diagonal_fisher(model: nn.Module, batches, show: bool = False, desc: str = "importance") -> dict[str, torch.Tensor]:
    """SSD's importance: the mean over batches of the squared gradient of the batch's mean CE loss, per parameter."""
    return gradient_statistics(model, batches, lambda net, batch: F.cross_entropy(net(batch[0]).float(), batch[1]),
                               "mean_square", show=show, desc=desc)


def rows_loader(task: UnlearnTask, rows: torch.Tensor) -> BatchLoader:
    """Unshuffled, unaugmented batches of these train rows, in this order."""
    return BatchLoader(task.data.train, task.hp["batch_size"], tuple(task.meta["mean"]), tuple(task.meta["std"]),
                       task.device, hflip=task.data.hflip, seed=task.hp["seed"], indices=rows)


def reference_rows(task: UnlearnTask) -> torch.Tensor:
    """D as SSD's mains batch it: the retain rows (by class when whole classes are forgotten), then the forget rows."""
    retain = task.retain_indices.cpu()
    if task.forget.classwise:
        retain = retain[torch.sort(task.data.train.labels.cpu()[retain], stable=True).indices]
    return torch.cat([retain, task.forget.indices.cpu()])


# Foster et al.'s ssd_tuning (forget_full_class_main.py): batch 64, α 10 (ResNet-18), λ 1, importance on D = the
# concatenation retain + forget. Because the forget batches are part of D, imp_f / imp_D cannot exceed about
# |D| / |D_f| (10 for one Digits class of ten), so α 10 sits at that cap and selects next to nothing on Digits.
@register("SSD", salun=False, ssd_alpha=10.0, ssd_lambda=1.0, batch_size=64, epochs=0, lr=0.0,
          search={"ssd_alpha": Range(1.0, 100.0, log=True), "ssd_lambda": Range(0.1, 10.0, log=True)})
def selective_synaptic_dampening(model: nn.Module, task: UnlearnTask) -> nn.Module:
    """Parameters with imp_f > α·imp_D are scaled by min(λ·imp_D / imp_f, 1)."""
    forget = diagonal_fisher(model, rows_loader(task, task.forget.indices.cpu()), task.show, "importance on D_f")
    whole = diagonal_fisher(model, rows_loader(task, reference_rows(task)), task.show, "importance on D")
    return dampen(model, whole, forget, task.hp["ssd_alpha"], task.hp["ssd_lambda"])


@torch.no_grad()
def dampen(model: nn.Module, whole: dict[str, torch.Tensor], forget: dict[str, torch.Tensor], alpha: float,
           lam: float) -> nn.Module:
    """SSD's update: parameters with imp_f > α·imp_D are scaled by min(λ·imp_D / imp_f, 1); the rest stay."""
    for name, p in model.named_parameters():
        if name not in whole:
            continue
        selected = forget[name] > whole[name] * alpha
        factor = (whole[name] * lam / forget[name]).clamp(max=1.0)
        p.mul_(torch.where(selected, factor, torch.ones_like(factor)))
    return model
