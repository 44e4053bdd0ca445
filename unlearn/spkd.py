"""SPKD (Kim et al., "Rethinking Unlearning for Transfer Learning"): each epoch one gradient-ascent pass on the
forget set, then one pass on the retain set with CE + similarity-preserving distillation (Tung & Mori 2019)
to the frozen original model."""
import torch
import torch.nn.functional as F
from torch import nn

from engine.train_loop import Step, labelled
from models.features import forward_with_features

from . import register
from .knobs import EPOCHS, LR_ADAM, Range
from .losses import cross_entropy
from .task import Pass, UnlearnTask, optimise


def similarity_preserving_loss(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """‖G_s − G_t‖_F / B² between the row-normalised B×B Gram matrices of two B×D feature batches (the reference's
    SPKD.py takes the plain Frobenius norm; Tung & Mori square it)."""
    b = student.shape[0]
    g_s = F.normalize(student.float() @ student.float().T, p=2, dim=1)
    g_t = F.normalize(teacher.float() @ teacher.float().T, p=2, dim=1)
    return torch.linalg.matrix_norm(g_s - g_t) / (b * b)


@register("SPKD", epochs=3, lr=1e-3, ce_weight=10.0, sp_weight=10.0,
          search={"epochs": EPOCHS, "lr": LR_ADAM, "sp_weight": Range(1.0, 100.0, log=True)})
def spkd(model: nn.Module, task: UnlearnTask) -> nn.Module:
    teacher, ce_weight, sp_weight = task.frozen_original(), task.hp["ce_weight"], task.hp["sp_weight"]

    def restore(net: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> Step:
        x, y = batch
        logits, features = forward_with_features(net, x)
        with torch.no_grad():
            _, target = forward_with_features(teacher, x)
        loss = ce_weight * F.cross_entropy(logits.float(), y) + sp_weight * similarity_preserving_loss(features, target)
        return labelled(loss, logits, y)

    passes = [Pass("forget", cross_entropy(-1.0), name="forget"), Pass("retain", restore, name="restore")]
    return optimise(model, task, passes, desc="SPKD")
