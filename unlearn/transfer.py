"""Transfer metrics of an (unlearned) model for main_test_unlearn.py: k=5 cosine kNN accuracy of its frozen pooled
features on a downstream dataset, and linear CKA of its test-split features with another model's."""
import argparse
from typing import TYPE_CHECKING, Iterator

import torch
import torch.nn.functional as F
from torch import nn

import datasets
import models
from datasets.base import ImageDataset, Split
from datasets.batching import BatchLoader, Normalize
from models.features import pooled_features
from utils.errors import UserError
from utils.transfer import knn_accuracy, linear_cka, split_80_20

if TYPE_CHECKING:  # the setup type only: workflow imports this module
    from .workflow import Setup

KNN_K = 5


def fit_images(images: torch.Tensor, channels: int, size: int) -> torch.Tensor:
    """uint8 N×C×H×W images with the model's channel count (grey repeated to RGB, RGB averaged to grey) and size."""
    if images.shape[1] != channels:
        if (images.shape[1], channels) == (1, 3):
            images = images.expand(-1, 3, -1, -1)
        elif (images.shape[1], channels) == (3, 1):
            images = images.float().mean(1, keepdim=True).round().to(torch.uint8)
        else:
            raise UserError(f"cannot feed {images.shape[1]}-channel images to a model built for {channels} channels; "
                            f"use a grey or RGB dataset")
    if images.shape[-2:] != (size, size):
        images = F.interpolate(images.float(), size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        images = images.round().clamp(0, 255).to(torch.uint8)
    return images


def fitted_batches(data: ImageDataset, meta: dict, device: torch.device,
                   batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Every image of train, val and test in turn, fitted to the model and normalised with its mean/std."""
    normalize = Normalize(tuple(meta["mean"]), tuple(meta["std"]))
    for split in (data.train, data.val, data.test):
        for start in range(0, len(split), batch_size):
            images = fit_images(split.images[start:start + batch_size].cpu(), meta["in_channels"], meta["size"])
            yield normalize(images.to(device)), split.labels[start:start + batch_size]


def downstream_knn(model: nn.Module, meta: dict, data: ImageDataset, device: torch.device, batch_size: int) -> float:
    """kNN accuracy (%) on a seeded 80/20 split of all the downstream images, on the model's frozen pooled features."""
    if data.multilabel:
        raise UserError(f"kNN transfer needs single-label data; {data.name} is {data.task}")
    features, labels = pooled_features(model, fitted_batches(data, meta, device, batch_size))
    if len(labels.unique()) < 2:
        raise UserError(f"kNN dataset {data.name} has {len(labels.unique())} class(es) among its images; it needs at least 2")
    train, test = split_80_20(len(labels))
    if len(train) < KNN_K or len(test) == 0:
        raise UserError(f"kNN dataset {data.name} has {len(labels)} images; it needs at least {KNN_K + 1}: "
                        f"{KNN_K} neighbours in its 80 % part and one image in its 20 % part to score")
    return knn_accuracy(features[train], labels[train], features[test], labels[test], KNN_K)


def split_features(model: nn.Module, meta: dict, split: Split, device: torch.device, batch_size: int) -> torch.Tensor:
    """Pooled features of a split in order, normalised with the model's own statistics."""
    return pooled_features(model, BatchLoader(split, batch_size, tuple(meta["mean"]), tuple(meta["std"]), device))[0]


def cka_with(setup: "Setup", model_id: str, model_dir: str, batch_size: int) -> float:
    """Linear CKA between this model's and `model_id`'s pooled features on the test split."""
    if len(setup.data.test) < 4:
        raise UserError(f"CKA needs at least 4 test images; {setup.data.name} has {len(setup.data.test)}")
    other, other_meta = models.load_model(model_id, model_dir, setup.data.describe(), setup.device)
    mine = split_features(setup.model, setup.meta, setup.data.test, setup.device, batch_size)
    theirs = split_features(other, other_meta, setup.data.test, setup.device, batch_size)
    return linear_cka(mine, theirs)


def transfer_metrics(setup: "Setup", args: argparse.Namespace, batch_size: int) -> dict:
    """{"knn_dataset", "knn_accuracy", "cka_with", "cka"}, None where --knn_dataset / --cka_with was not given."""
    report = {"knn_dataset": args.knn_dataset, "knn_accuracy": None, "cka_with": args.cka_with, "cka": None}
    if args.knn_dataset:
        downstream = datasets.load_dataset(args.knn_dataset, args.data_dir, setup.meta["size"], args.download)
        report["knn_accuracy"] = downstream_knn(setup.model, setup.meta, downstream, setup.device, batch_size)
    if args.cka_with:
        report["cka"] = cka_with(setup, args.cka_with, args.model_dir, batch_size)
    return report


def transfer_lines(report: dict) -> list[str]:
    """What the evaluation script prints after its table."""
    lines = []
    if report["knn_accuracy"] is not None:
        lines.append(f"kNN transfer accuracy on {report['knn_dataset']} (k={KNN_K}, cosine, 80/20 split): "
                     f"{report['knn_accuracy']:.2f}%")
    if report["cka"] is not None:
        lines.append(f"linear CKA of pooled test features with {report['cka_with']}: {report['cka']:.4f}")
    return lines
