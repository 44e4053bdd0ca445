"""wfisher (IU, influence unlearning): one Newton step θ += α · F⁻¹ v, with F an empirical (Wood)Fisher of the
retain set and v the influence direction of the forget set; F⁻¹ v is exact for F = λI + GGᵀ/n by Woodbury."""
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from . import register
from .knobs import Range
from .task import UnlearnTask


def flat_grad(model: nn.Module, params: list[torch.Tensor], x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    grads = torch.autograd.grad(F.cross_entropy(model(x).float(), y, reduction="sum"), params)
    return torch.cat([g.flatten() for g in grads])


def summed_gradient(model: nn.Module, params: list[torch.Tensor], batches) -> tuple[torch.Tensor, int]:
    """Σ over samples of ∇θ CE, and the number of samples."""
    total, count = None, 0
    for x, y in batches:
        g = flat_grad(model, params, x, y)
        total = g if total is None else total + g
        count += len(y)
    return total, count


def inverse_fisher_product(model: nn.Module, params: list[torch.Tensor], batches, v: torch.Tensor,
                           samples: int, damping: float) -> torch.Tensor:
    """(λI + GGᵀ/n)⁻¹ v = (v − G (nλI + GᵀG)⁻¹ Gᵀ v) / λ, G the per-sample retain gradients (P×n)."""
    columns = []
    for x, y in batches:
        for i in range(len(y)):
            columns.append(flat_grad(model, params, x[i:i + 1], y[i:i + 1]))
            if len(columns) == samples:
                break
        if len(columns) == samples:
            break
    g = torch.stack(columns, 1).double()
    n = g.shape[1]
    small = n * damping * torch.eye(n, dtype=g.dtype, device=g.device) + g.T @ g
    coeff = torch.linalg.solve(small, g.T @ v.double())
    return ((v.double() - g @ coeff) / damping).float()


def influence_step(model: nn.Module, task: UnlearnTask) -> torch.Tensor:
    """F⁻¹ v, v = (Σ_f ∇CE − Σ_r ∇CE · n_f/n_r) / (n_f + n_r) as in SalUn's Wfisher.py, flat over trainable parameters."""
    model.eval()
    params = [p for p in model.parameters() if p.requires_grad]
    forget_sum, n_forget = summed_gradient(model, params, task.loader("forget", shuffle=False, augment=False))
    retain_batches = task.loader("retain", shuffle=False, augment=False)
    retain_sum, n_retain = summed_gradient(model, params, tqdm(retain_batches, desc="retain gradient", leave=False,
                                                               disable=not task.show))
    total = n_forget + n_retain
    v = (forget_sum - retain_sum * n_forget / n_retain) / total
    shuffled = task.loader("retain", shuffle=True, augment=False)
    return inverse_fisher_product(model, params, shuffled, v, task.hp["samples"], task.hp["damping"])


# damping 1: the reference's WoodFisher starts from the identity, F = I + GGᵀ/N, so α has SalUn's scale
@register("wfisher", alpha=0.1, samples=64, damping=1.0, epochs=0, lr=0.0,
          search={"alpha": Range(1e-3, 10.0, log=True)})
def influence_unlearning(model: nn.Module, task: UnlearnTask) -> nn.Module:
    step = influence_step(model, task)
    mask = task.weight_mask(model)
    with torch.no_grad():
        start = 0
        for p in (p for p in model.parameters() if p.requires_grad):
            p.add_(task.hp["alpha"] * step[start:start + p.numel()].view_as(p))
            start += p.numel()
    if mask is not None:
        mask.restore()
    return model
