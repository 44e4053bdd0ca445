"""Manipulated training sets for corrective unlearning: BadNets poisoning, interclass and random label swaps.

The manipulation is a plain dict stored in every checkpoint's meta ({"method", "indices", ...}), so
later scripts rebuild exactly the same training set from the clean data without repeating flags.
"""
import argparse

import numpy as np
import torch

from utils.errors import UserError

from .base import ImageDataset, Split

METHODS = {"poisoning": "poisoning", "interclasslabelswap": "interclasslabelswap",
           "labeltargeted": "interclasslabelswap", "randomlabelswap": "randomlabelswap"}


def parse_pair(text: str) -> list[int]:
    try:
        pair = [int(part) for part in text.split(",")]
    except ValueError:
        pair = []
    if len(pair) != 2:
        raise UserError(f"--confused_classes {text!r} must be two class numbers such as 3,5")
    return pair


def default_pair(num_classes: int) -> list[int]:
    """The classes swapped when --confused_classes is not given (CIFAR-10's cat/dog pair, or 0,1)."""
    return [3, 5] if num_classes > 5 else [0, 1]


def plan(args: argparse.Namespace, data: ImageDataset) -> dict | None:
    """The manipulation the training flags ask for, drawn with --seed and checked against the data."""
    if not getattr(args, "dataset_method", None):
        return None
    method = METHODS[args.dataset_method]
    if data.multilabel:
        raise UserError(f"--dataset_method needs a single-label task; {data.name} is multi-label")
    size, labels = args.forget_set_size, data.train.labels.cpu()
    if size is None:
        raise UserError("--dataset_method needs --forget_set_size N (how many training samples to manipulate)")
    rng = np.random.default_rng(args.seed)
    spec = {"method": method, "forget_set_size": size}
    if method == "poisoning":
        p, image = args.patch_size, data.size
        if not 0 < p < image:
            raise UserError(f"--patch_size {p} does not fit {image}x{image} images; use 1..{image - 1}")
        if not 0 <= args.poison_target < data.num_classes:
            raise UserError(f"--poison_target {args.poison_target} is out of range 0..{data.num_classes - 1}")
        candidates = (labels != args.poison_target).nonzero().flatten().numpy()
        spec |= {"patch_size": p, "poison_target": args.poison_target}
    elif method == "interclasslabelswap":
        a, b = parse_pair(args.confused_classes) if args.confused_classes else default_pair(data.num_classes)
        if a == b or not (0 <= a < data.num_classes and 0 <= b < data.num_classes):
            raise UserError(f"--confused_classes {a},{b} must be two different classes in 0..{data.num_classes - 1}")
        if size % 2:
            raise UserError(f"--forget_set_size {size} must be even for interclass swap: half from each class")
        members = [(labels == c).nonzero().flatten().numpy() for c in (a, b)]
        short = [c for c, m in zip((a, b), members) if len(m) < size // 2]
        if short:
            raise UserError(f"class {short[0]} has fewer than {size // 2} training samples; lower --forget_set_size")
        spec |= {"confused_classes": [a, b]}
        chosen = np.concatenate([m[:size // 2] for m in members])
        return spec | {"indices": sorted(int(i) for i in chosen)}
    else:
        candidates = np.arange(len(labels))
    if not 0 < size <= len(candidates):
        raise UserError(f"--forget_set_size {size} must be in 1..{len(candidates)} for {method} on {data.name}")
    chosen = rng.choice(candidates, size=size, replace=False)
    if method == "randomlabelswap":
        spec["permutation"] = rng.permutation(size).tolist()
        spec["indices"] = [int(i) for i in chosen]
        return spec
    return spec | {"indices": sorted(int(i) for i in chosen)}


def patch(images: torch.Tensor, size: int) -> torch.Tensor:
    """BadNets trigger: a size×size square at the bottom-right corner at the brightest value, every channel."""
    patched = images.clone()
    patched[..., -size:, -size:] = 255
    return patched


def apply(data: ImageDataset, spec: dict | None) -> ImageDataset:
    """The dataset with its train split manipulated as `spec` says (val and test stay clean)."""
    if not spec:
        return data
    rows = torch.tensor(spec["indices"], dtype=torch.long)
    images, labels = data.train.images.clone(), data.train.labels.clone()
    on = rows.to(labels.device)
    if spec["method"] == "poisoning":
        images[on] = patch(images[on], spec["patch_size"])
        labels[on] = spec["poison_target"]
    elif spec["method"] == "interclasslabelswap":
        a, b = spec["confused_classes"]
        labels[on] = torch.where(labels[on] == a, torch.tensor(b, device=labels.device), torch.tensor(a, device=labels.device))
    else:
        labels[on] = labels[on][torch.tensor(spec["permutation"], device=labels.device)]
    return ImageDataset(name=data.name, task=data.task, class_names=data.class_names, train=Split(images, labels),
                        val=data.val, test=data.test, hflip=data.hflip, source=data.source)
