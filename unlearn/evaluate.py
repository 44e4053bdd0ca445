"""Unlearning metrics (percent): UA, RA, TA, MIA-efficacy, and the gap to a retrained model."""
from dataclasses import dataclass

import torch
from torch import nn

from datasets.base import ImageDataset
from datasets.manipulate import patched_test
from engine.evaluation import LogitCache, split_logits
from utils import metrics

from .forget_sets import ForgetSet

GAP_KEYS = ("UA", "RA", "TA", "MIA")


def test_rows(data: ImageDataset, forget: ForgetSet) -> torch.Tensor:
    """Rows of the test split TA is measured on: all of them, or (class-wise) those of the kept classes."""
    labels = data.test.labels.cpu()
    if not forget.classwise:
        return torch.arange(len(labels))
    return (~torch.isin(labels, torch.tensor(forget.classes))).nonzero().flatten()


@dataclass
class Logits:
    """One model's logits on the whole train and test splits (labels as stored in the splits)."""

    train: torch.Tensor
    train_labels: torch.Tensor
    test: torch.Tensor
    test_labels: torch.Tensor


def unlearning_metrics(model: nn.Module, meta: dict, data: ImageDataset, forget: ForgetSet, device: torch.device,
                       batch_size: int = 512, show: bool = False,
                       cache: LogitCache | None = None) -> tuple[dict, Logits]:
    """{"UA","RA","TA","MIA","per_class"} and the logits they came from (one pass over train and test, or none when
    `cache` holds them)."""
    train_logits, train_labels = split_logits(model, data.train, meta, device, batch_size, show=show, cache=cache)
    test_logits, test_labels = split_logits(model, data.test, meta, device, batch_size, show=show, cache=cache)
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
    return result, Logits(train_logits, train_labels, test_logits, test_labels)


def corrective_metrics(model: nn.Module, meta: dict, data: ImageDataset, logits: Logits, clean_train_labels: torch.Tensor,
                       forget: ForgetSet, manipulation: dict, device: torch.device, batch_size: int = 512,
                       cache: LogitCache | None = None) -> dict:
    """Seed 003's measures of a model trained on a manipulated set (percent), from `logits` plus, for
    poisoning, one pass over the patched test split (trigger stamped after normalisation, clean labels)."""
    clean = clean_train_labels.cpu()
    manipulated = torch.tensor(manipulation["indices"], dtype=torch.long)
    unidentified = manipulated[~torch.isin(manipulated, forget.indices)]
    result = {
        "clean_test_accuracy": metrics.accuracy(logits.test, logits.test_labels),
        "deletion_accuracy": metrics.accuracy(logits.train[forget.indices], clean[forget.indices]),
        "unidentified_accuracy": metrics.accuracy(logits.train[unidentified], clean[unidentified]),
    }
    if manipulation["method"] == "poisoning":
        target = manipulation["poison_target"]
        p_logits, p_labels = split_logits(model, patched_test(data, manipulation), meta, device, batch_size, show=False,
                                         cache=cache)
        victims = p_labels != target
        result["patched_test_accuracy"] = metrics.accuracy(p_logits, p_labels)
        result["attack_success_rate"] = 100.0 * (p_logits[victims].argmax(1) == target).float().mean().item()
    elif manipulation["method"] == "interclasslabelswap":
        a, b = manipulation["confused_classes"]
        pair = torch.isin(logits.test_labels, torch.tensor([a, b]))
        cm = metrics.confusion_matrix(logits.test, logits.test_labels, data.num_classes)
        result["confusion"] = 100.0 * float(cm[a, b] + cm[b, a]) / max(1, int(pair.sum()))
        result["confused_pair_accuracy"] = metrics.accuracy(logits.test[pair], logits.test_labels[pair])
        result["other_classes_accuracy"] = metrics.accuracy(logits.test[~pair], logits.test_labels[~pair])
    return result


def gap_to_retrain(result: dict, retrained: dict) -> dict:
    """|metric − retrained metric| for UA, RA, TA, MIA, and their mean (Avg. Gap)."""
    gap = {key: abs(result[key] - retrained[key]) for key in GAP_KEYS}
    return {"gap": gap, "avg_gap": sum(gap.values()) / len(gap)}
