"""Unlearning metrics (percent): UA, RA, TA, MIA-efficacy, and the gap to a retrained model."""
import torch
from torch import nn

from datasets.base import ImageDataset
from utils import metrics
from utils.evaluation import split_logits

from .forget_sets import ForgetSet

GAP_KEYS = ("UA", "RA", "TA", "MIA")


def test_rows(data: ImageDataset, forget: ForgetSet) -> torch.Tensor:
    """Rows of the test split TA is measured on: all of them, or (class-wise) those of the kept classes."""
    labels = data.test.labels.cpu()
    if not forget.classwise:
        return torch.arange(len(labels))
    return (~torch.isin(labels, torch.tensor(forget.classes))).nonzero().flatten()


def unlearning_metrics(model: nn.Module, meta: dict, data: ImageDataset, forget: ForgetSet, device: torch.device,
                       batch_size: int = 512, show: bool = False) -> tuple[dict, torch.Tensor]:
    """{"UA","RA","TA","MIA","per_class"} and the forget-set logits (for JS), from one pass over train and test."""
    train_logits, train_labels = split_logits(model, data.train, meta, device, batch_size, show=show)
    test_logits, test_labels = split_logits(model, data.test, meta, device, batch_size, show=show)
    retain = forget.retain_indices(len(train_labels))
    kept = test_rows(data, forget)
    f_logits, f_labels = train_logits[forget.indices], train_labels[forget.indices]
    r_logits, r_labels = train_logits[retain], train_labels[retain]
    t_logits, t_labels = test_logits[kept], test_labels[kept]
    result = {
        "UA": 100.0 - metrics.accuracy(f_logits, f_labels),
        "RA": metrics.accuracy(r_logits, r_labels),
        "TA": metrics.accuracy(t_logits, t_labels),
        "MIA": metrics.svc_mia_efficacy(metrics.true_class_confidence(r_logits, r_labels),
                                        metrics.true_class_confidence(t_logits, t_labels),
                                        metrics.true_class_confidence(f_logits, f_labels)),
        "per_class": dict(zip(data.class_names,
                              metrics.per_class_accuracy(test_logits, test_labels, data.num_classes))),
    }
    return result, f_logits


def gap_to_retrain(result: dict, retrained: dict) -> dict:
    """|metric − retrained metric| for UA, RA, TA, MIA, and their mean (Avg. Gap)."""
    gap = {key: abs(result[key] - retrained[key]) for key in GAP_KEYS}
    return {"gap": gap, "avg_gap": sum(gap.values()) / len(gap)}
