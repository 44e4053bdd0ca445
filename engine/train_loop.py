"""The one training loop and the one evaluation loop, shared by training, unlearning and every metric."""
import contextlib
from typing import Callable

import torch
from torch import nn
from tqdm import tqdm

from utils.errors import UserError
from utils.metrics import correct

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def task_loss(multilabel: bool) -> LossFn:
    """Cross-entropy, or binary cross-entropy on each label for multi-label tasks."""
    return nn.BCEWithLogitsLoss() if multilabel else nn.CrossEntropyLoss()


def autocast(device: torch.device, dtype: torch.dtype | None):
    return torch.autocast(device.type, dtype=dtype) if dtype is not None else contextlib.nullcontext()


BatchLoss = Callable[[nn.Module, torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor, torch.Tensor]]


def supervised(loss_fn: LossFn, sign: float = 1.0) -> BatchLoss:
    """The plain batch loss sign·loss_fn(model(x), y); sign −1 is gradient ascent."""
    def batch_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor):
        logits = model(x)
        return sign * loss_fn(logits.float(), y), logits, y
    return batch_loss


def optimizer_for(params, name: str, lr: float, momentum: float = 0.9, weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """SGD (with momentum), Adam or RMSprop (FL-MRCM's) over `params`."""
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, weight_decay=weight_decay)
    return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=False)


def optimizer_step(loss: torch.Tensor, optimizer: torch.optim.Optimizer,
                   scaler: torch.amp.GradScaler | None = None, mask=None) -> None:
    """Backward, step (through the fp16 scaler if any); a SalUn `mask` keeps masked-out weights where they were. A loss
    that is not finite stops the run (a UserError) before the step, so no diverged weights are ever saved."""
    if not torch.isfinite(loss.detach()).all():
        raise UserError(f"the loss became {loss.item()}: the run diverged; nothing from this step on is saved. Lower "
                        f"the learning rate (or the momentum), or check the data for NaN or inf")
    optimizer.zero_grad(set_to_none=True)
    if scaler is not None and scaler.is_enabled():
        scaler.scale(loss).backward()
        if mask is not None:
            mask.mask_gradients()
        scaler.step(optimizer)
        scaler.update()
    else:
        loss.backward()
        if mask is not None:
            mask.mask_gradients()
        optimizer.step()
    if mask is not None:
        mask.restore(optimizer)


def train_epoch(model: nn.Module, batches, optimizer: torch.optim.Optimizer, loss_fn: LossFn | None = None, *,
                batch_loss: BatchLoss | None = None, multilabel: bool = False,
                lr_at: Callable[[int], float] | None = None, first_step: int = 0,
                amp: torch.dtype | None = None, scaler: torch.amp.GradScaler | None = None,
                mask=None, desc: str = "train", show: bool = True) -> dict:
    """One pass over `batches`, one optimiser step per batch. Returns mean loss and accuracy.

    The loss is `loss_fn(model(x), y)`, or `batch_loss(model, x, y) -> (loss, logits, targets)` for
    anything else (distillation, gradient ascent, mixed forget/retain batches); `lr_at(step)` sets
    the learning rate before each step; a `mask` (unlearn.masks.WeightMask) keeps masked weights fixed.
    """
    batch_loss = batch_loss or supervised(loss_fn)
    model.train()
    total_loss, total_correct, seen = 0.0, 0.0, 0
    bar = tqdm(batches, desc=desc, leave=False, disable=not show, dynamic_ncols=True)
    for i, (x, y) in enumerate(bar):
        if lr_at is not None:
            for group in optimizer.param_groups:
                group["lr"] = lr_at(first_step + i)
        with autocast(x.device, amp):
            loss, logits, targets = batch_loss(model, x, y)
        optimizer_step(loss, optimizer, scaler, mask)
        n = len(targets)
        total_loss += loss.item() * n
        total_correct += correct(logits.detach().float(), targets, multilabel).sum().item()
        seen += n
        bar.set_postfix(loss=f"{total_loss / max(seen, 1):.4f}", acc=f"{100 * total_correct / max(seen, 1):.2f}")
    return {"loss": total_loss / max(seen, 1), "acc": 100.0 * total_correct / max(seen, 1), "steps": len(batches)}


@torch.no_grad()
def predict(model: nn.Module, batches, amp: torch.dtype | None = None, desc: str = "eval",
            show: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits (float32, on the CPU) and labels of every sample, in order."""
    model.eval()
    all_logits, all_labels = [], []
    for x, y in tqdm(batches, desc=desc, leave=False, disable=not show, dynamic_ncols=True):
        with autocast(x.device, amp):
            all_logits.append(model(x).float().cpu())
        all_labels.append(y.cpu())
    if not all_logits:
        return torch.empty(0), torch.empty(0, dtype=torch.long)
    return torch.cat(all_logits), torch.cat(all_labels)
