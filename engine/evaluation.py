"""Evaluate a classifier on one split: logits once, then every metric from them."""
import dataclasses
import hashlib
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from datasets.base import Split
from datasets.batching import BatchLoader
from utils import metrics
from utils.eval_cache import EvalCache, cache_key
from utils.tables import format_table

from .train_loop import predict


@dataclass(frozen=True)
class LogitCache:
    """Where a saved checkpoint's logits are kept (FOLDER/KEY.pt), under a key of the checkpoint's bytes, the split's
    images and labels, and the precision: a protocol comparing many models with one retrained model computes that
    model's logits once."""

    folder: Path
    checkpoint: Path

    def key(self, split: Split, amp: torch.dtype | None) -> str:
        return cache_key(self.checkpoint, [], {"split": split_digest(split), "amp": str(amp)})


def inference_module(model: nn.Module) -> nn.Module:
    """A copy of the model as evaluation runs it: in eval mode, each batch norm folded into the convolution before it
    (torch.fx) and in channels-last memory order, 1.8x the small CNN's images/s on CPU (bench/bench_unlearn.py); the
    model in eval mode itself when it cannot be traced."""
    from torch.fx.experimental.optimization import fuse
    model.eval()
    try:
        fused = fuse(model)
    except Exception:  # symbolic tracing fails on data-dependent control flow, in ways torch.fx does not unify
        fused = model
    return fused.to(memory_format=torch.channels_last)


def split_digest(split: Split) -> str:
    """SHA-256 of everything a split holds: its kind, and each field (images, labels, and e.g. a poisoned split's
    rows and trigger), tensors by shape, type and bytes."""
    digest = hashlib.sha256(type(split).__name__.encode())
    for field in dataclasses.fields(split):
        value = getattr(split, field.name)
        digest.update(field.name.encode())
        if torch.is_tensor(value):
            digest.update(f"{value.dtype} {tuple(value.shape)}".encode())
            digest.update(value.detach().cpu().contiguous().view(torch.uint8).numpy())
        else:
            digest.update(repr(value).encode())
    return digest.hexdigest()


def split_logits(model: nn.Module, split: Split, meta: dict, device: torch.device, batch_size: int,
                 amp: torch.dtype | None = None, show: bool = True,
                 cache: LogitCache | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits and labels of a whole split, normalised with the statistics the model was trained with, through
    inference_module(model); read from `cache` when this checkpoint saw these images before, and kept there
    otherwise."""
    store = EvalCache(cache.folder) if cache else None
    key = cache.key(split, amp) if cache else ""
    if store and (kept := store.get_tensors(key)) is not None:
        return kept["logits"], kept["labels"]
    batches = BatchLoader(split, batch_size, tuple(meta["mean"]), tuple(meta["std"]), device)
    logits, labels = predict(inference_module(model), batches, amp, show=show)
    if store:
        store.put_tensors(key, {"logits": logits, "labels": labels})
    return logits, labels


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
