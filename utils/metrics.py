"""Classification metrics computed from logits (percent for accuracies, [0, 1] for AUC as MedMNIST reports it)."""
import importlib
import math
import sys
import threading

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


def true_class_confidence(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return torch.softmax(logits.float(), 1).gather(1, labels[:, None]).squeeze(1)


def import_in_background(module: str) -> threading.Thread | None:
    """Start importing `module` in a thread (None when it is loaded): scikit-learn's import (about a second) then
    overlaps the model's pass over the data, whose kernels leave the interpreter free. Join it before use."""
    if module in sys.modules:
        return None
    thread = threading.Thread(target=importlib.import_module, args=(module,), daemon=True)
    thread.start()
    return thread


def svc_mia_efficacy(members: torch.Tensor, non_members: torch.Tensor, targets: torch.Tensor,
                     max_shadow: int = 5000, seed: int = 0) -> float:
    """Share (%) of `targets` an RBF SVC (C=3, gamma='auto') on a 1-d feature calls non-members.

    The SVC learns members (label 1) against non-members (0) from the two shadow sets, the members
    cut to as many as there are non-members and both to at most `max_shadow` (seeded draw).
    """
    from sklearn.svm import SVC
    rng = np.random.default_rng(seed)
    n = min(len(non_members), len(members), max_shadow)
    pick = lambda t: t[rng.choice(len(t), size=n, replace=False)] if len(t) > n else t  # noqa: E731
    inside, outside = pick(members.numpy()), pick(non_members.numpy())
    features = np.concatenate([inside, outside])[:, None]
    truth = np.concatenate([np.ones(len(inside)), np.zeros(len(outside))])
    svc = SVC(C=3, gamma="auto", kernel="rbf").fit(features, truth)
    return 100.0 * float((svc.predict(targets.numpy()[:, None]) == 0).mean())


def js_divergence(logits_p: torch.Tensor, logits_q: torch.Tensor) -> float:
    """Mean Jensen–Shannon divergence (nats) between two models' softmax outputs, sample by sample."""
    p, q = torch.softmax(logits_p.double(), 1), torch.softmax(logits_q.double(), 1)
    width = max(p.shape[1], q.shape[1])  # a shadow class (boundary_expanding) has probability 0 in the other model
    p, q = (torch.nn.functional.pad(a, (0, width - a.shape[1])) for a in (p, q))
    m = 0.5 * (p + q)
    kl = lambda a, b: (a * (a.clamp_min(1e-12).log() - b.clamp_min(1e-12).log())).sum(1)  # noqa: E731
    return float((0.5 * kl(p, m) + 0.5 * kl(q, m)).mean())
