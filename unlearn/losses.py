"""Batch losses the unlearning methods share (each returns loss, logits, targets for the shared loop)."""
import torch
import torch.nn.functional as F
from torch import nn

from engine.train_loop import BatchLoss, Step, labelled, supervised

from .task import marked_split


def cross_entropy(sign: float = 1.0) -> BatchLoss:
    """CE on the batch; sign −1 ascends it."""
    return supervised(nn.CrossEntropyLoss(), sign)


def distillation_kl(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """KL(teacher ‖ student) on temperature-softened outputs, scaled by T² (Hinton)."""
    t = temperature
    return F.kl_div(F.log_softmax(student_logits.float() / t, 1), F.softmax(teacher_logits.float() / t, 1),
                    reduction="batchmean") * t * t


def retain_minus_forget(beta: float) -> BatchLoss:
    """On SalUn-marked labels: mean CE on retain rows − β · mean CE on forget rows (NegGrad+)."""
    def batch_loss(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> Step:
        x, y = batch
        is_forget, target = marked_split(y)
        logits = model(x).float()
        per_sample = F.cross_entropy(logits, target, reduction="none")
        loss = per_sample.new_zeros(())
        if (~is_forget).any():
            loss = loss + per_sample[~is_forget].mean()
        if is_forget.any():
            loss = loss - beta * per_sample[is_forget].mean()
        return labelled(loss, logits, target)
    return batch_loss
