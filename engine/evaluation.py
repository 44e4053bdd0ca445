"""Evaluate a classifier on one split: logits once, then every metric from them."""
import torch
from torch import nn

from datasets.base import Split
from datasets.batching import BatchLoader
from utils import metrics
from utils.tables import format_table

from .train_loop import predict


def split_logits(model: nn.Module, split: Split, meta: dict, device: torch.device, batch_size: int,
                 amp: torch.dtype | None = None, show: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits and labels of a whole split, normalised with the statistics the model was trained with."""
    batches = BatchLoader(split, batch_size, tuple(meta["mean"]), tuple(meta["std"]), device)
    return predict(model, batches, amp, show=show)


def classification_report(logits: torch.Tensor, labels: torch.Tensor, class_names: list[str], multilabel: bool) -> dict:
    """{"accuracy", "auc", "per_class": {name: acc}, "counts": {name: n}} in percent (AUC in [0, 1])."""
    k = len(class_names)
    per_class = metrics.per_class_accuracy(logits, labels, k, multilabel)
    counts = metrics.class_counts(labels, k, multilabel)
    return {
        "accuracy": metrics.accuracy(logits, labels, multilabel),
        "auc": metrics.auc(logits, labels, multilabel),
        "per_class": dict(zip(class_names, per_class)),
        "counts": dict(zip(class_names, counts)),
    }


def format_report(report: dict, multilabel: bool) -> str:
    header = ["label" if multilabel else "class", "positives" if multilabel else "samples", "accuracy %"]
    rows = [[f"{i}: {name}", report["counts"][name], acc] for i, (name, acc) in enumerate(report["per_class"].items())]
    table = format_table(header, rows)
    return f"{table}\noverall accuracy {report['accuracy']:.2f}%   AUC {report['auc']:.4f}"
