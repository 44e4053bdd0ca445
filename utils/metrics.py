"""Classification metrics computed from logits (percent for accuracies, [0, 1] for AUC as MedMNIST reports it)."""
import math

import numpy as np
import torch


def predictions(logits: torch.Tensor, multilabel: bool) -> torch.Tensor:
    return (logits > 0).float() if multilabel else logits.argmax(1)


def correct(logits: torch.Tensor, labels: torch.Tensor, multilabel: bool) -> torch.Tensor:
    """Per-sample correctness; for multi-label the share of labels right (MedMNIST's per-label accuracy)."""
    if multilabel:
        return (predictions(logits, True) == labels).float().mean(1)
    return (logits.argmax(1) == labels).float()


def accuracy(logits: torch.Tensor, labels: torch.Tensor, multilabel: bool = False) -> float:
    if len(labels) == 0:
        return math.nan
    return 100.0 * correct(logits, labels, multilabel).mean().item()


def per_class_accuracy(logits: torch.Tensor, labels: torch.Tensor, num_classes: int, multilabel: bool = False) -> list[float]:
    """Accuracy on the samples of each class (NaN for an absent class); multi-label: accuracy of each label."""
    if multilabel:
        return (100.0 * (predictions(logits, True) == labels).float().mean(0)).tolist()
    hits = (logits.argmax(1) == labels).float()
    return [100.0 * hits[labels == c].mean().item() if (labels == c).any() else math.nan for c in range(num_classes)]


def class_counts(labels: torch.Tensor, num_classes: int, multilabel: bool = False) -> list[int]:
    if multilabel:
        return labels.sum(0).long().tolist()
    return torch.bincount(labels, minlength=num_classes).tolist()


def auc(logits: torch.Tensor, labels: torch.Tensor, multilabel: bool = False) -> float:
    """Mean one-vs-rest ROC AUC over the classes (labels) that have both positives and negatives."""
    from sklearn.metrics import roc_auc_score
    scores = torch.sigmoid(logits) if multilabel else torch.softmax(logits.float(), 1)
    scores = scores.numpy()
    truth = labels.numpy() if multilabel else np.eye(logits.shape[1], dtype=np.float32)[labels.numpy()]
    if not multilabel and logits.shape[1] == 2:
        truth, scores = truth[:, 1:], scores[:, 1:]
    values = [roc_auc_score(truth[:, k], scores[:, k]) for k in range(truth.shape[1]) if 0 < truth[:, k].sum() < len(truth)]
    return float(np.mean(values)) if values else math.nan


def confusion_matrix(logits: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """cm[true][predicted] counts."""
    index = labels * num_classes + logits.argmax(1)
    return torch.bincount(index, minlength=num_classes * num_classes).reshape(num_classes, num_classes)
