"""The one training loop, for every family (classification, reconstruction, each federated client) and every
unlearning pass, and the classifier's evaluation loop."""
import contextlib
from typing import Any, Callable, NamedTuple

import torch
from torch import nn
from tqdm import tqdm

from utils.errors import UserError
from utils.metrics import correct

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def task_loss(multilabel: bool) -> LossFn:
    """Cross-entropy, or binary cross-entropy on each label for multi-label tasks."""
    return nn.BCEWithLogitsLoss() if multilabel else nn.CrossEntropyLoss()


def autocast(device: torch.device | None, dtype: torch.dtype | None):
    """Mixed precision in `dtype` on `device` (None: full precision)."""
    return torch.autocast(device.type, dtype=dtype) if dtype is not None else contextlib.nullcontext()


class Step(NamedTuple):
    """What a batch loss gives the loop: the loss to step on, how many samples it averages, and a classifier's
    logits and targets (for its accuracy)."""

    loss: torch.Tensor
    size: int
    logits: torch.Tensor | None = None
    targets: torch.Tensor | None = None


def labelled(loss: torch.Tensor, logits: torch.Tensor, targets: torch.Tensor) -> Step:
    """A classifier's step: the loss with the logits and targets it was computed from."""
    return Step(loss, len(targets), logits, targets)


BatchLoss = Callable[[nn.Module, Any], Step]  # (model, batch on the device) -> Step


def supervised(loss_fn: LossFn, sign: float = 1.0) -> BatchLoss:
    """The plain batch loss sign·loss_fn(model(x), y) of a classifier's (x, y) batch; sign −1 is gradient ascent."""
    def batch_loss(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> Step:
        x, y = batch
        logits = model(x)
        return labelled(sign * loss_fn(logits.float(), y), logits, y)
    return batch_loss


def ascent(batch_loss: BatchLoss) -> BatchLoss:
    """The same batch loss with its sign turned, so that each step climbs it (gradient ascent), for any family."""
    def climb(model: nn.Module, batch: Any) -> Step:
        step = batch_loss(model, batch)
        return step._replace(loss=-step.loss)
    return climb


def accelerated(model: nn.Module, memory_format: str = "contiguous", compile_model: bool = False) -> nn.Module:
    """The module a training loop calls: `model` turned to channels-last memory order in place when `memory_format`
    is "channels_last" (convolutions run in NHWC), and wrapped by torch.compile when `compile_model`; it shares
    `model`'s parameters, so `model` is what gets saved."""
    if memory_format == "channels_last":
        model.to(memory_format=torch.channels_last)
    return torch.compile(model) if compile_model else model


def to_device(batch: Any, device: torch.device) -> Any:
    """A batch (tensor, tuple, or a dict of tensors and other values) on `device`."""
    if torch.is_tensor(batch):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, tuple):
        return type(batch)(*(to_device(v, device) for v in batch)) if hasattr(batch, "_fields") else \
            tuple(to_device(v, device) for v in batch)
    return batch


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


def train_epoch(model: nn.Module, batches, optimizer: torch.optim.Optimizer, batch_loss: BatchLoss, *,
                device: torch.device | None = None, multilabel: bool = False,
                lr_at: Callable[[int], float] | None = None, first_step: int = 0, max_steps: int | None = None,
                amp: torch.dtype | None = None, scaler: torch.amp.GradScaler | None = None, mask=None,
                after_step: Callable[[nn.Module], None] | None = None, desc: str = "train", show: bool = True) -> dict:
    """One pass over `batches` (at most `max_steps` of them), one optimiser step per batch; returns the mean loss, the
    samples and steps, and the accuracy when the batch loss gives logits.

    `batch_loss(model, batch) -> Step` is the whole loss (supervised, distillation, ascent, a mixed forget/retain
    batch, a reconstruction loss); batches are moved to `device` when given; `lr_at(step)` sets the learning rate
    before each step; a `mask` (unlearn.masks.WeightMask) keeps masked weights fixed; `after_step(model)` runs after
    each step (a projection)."""
    model.train()
    total_loss, total_correct, seen, steps, classified = 0.0, 0.0, 0, 0, False
    bar = tqdm(batches, desc=desc, leave=False, disable=not show, dynamic_ncols=True)
    for i, batch in enumerate(bar):
        if i == max_steps:
            break
        if lr_at is not None:
            for group in optimizer.param_groups:
                group["lr"] = lr_at(first_step + i)
        if device is not None:
            batch = to_device(batch, device)
        with autocast(device, amp):
            step = batch_loss(model, batch)
        optimizer_step(step.loss, optimizer, scaler, mask)
        if after_step is not None:
            after_step(model)
        total_loss += step.loss.item() * step.size
        seen, steps = seen + step.size, steps + 1
        shown = {"loss": f"{total_loss / max(seen, 1):.4f}"}
        if step.logits is not None:
            classified = True
            total_correct += correct(step.logits.detach().float(), step.targets, multilabel).sum().item()
            shown["acc"] = f"{100 * total_correct / max(seen, 1):.2f}"
        bar.set_postfix(shown)
    stats = {"loss": total_loss / max(seen, 1), "samples": seen, "steps": steps}
    if classified:
        stats["acc"] = 100.0 * total_correct / max(seen, 1)
    return stats


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
