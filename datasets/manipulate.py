"""Manipulated training sets for corrective unlearning: BadNets poisoning, interclass and random label swaps.

The manipulation is a plain dict stored in every checkpoint's meta ({"method", "indices", ...}), so
later scripts rebuild exactly the same training set from the clean data without repeating flags.
Poisoned images are stored clean: the split marks their rows, and BatchLoader stamps the trigger on every view
after crop, flip and normalisation (corrective-unlearning-bench's DatasetWrapper), so augmentation never moves
or crops it away.
"""
import argparse
from dataclasses import dataclass, replace

import numpy as np
import torch

from utils.errors import UserError

from .base import ImageDataset, Split

METHODS = {"poisoning": "poisoning", "interclasslabelswap": "interclasslabelswap",
           "labeltargeted": "interclasslabelswap", "randomlabelswap": "randomlabelswap"}


# each manipulation flag and the kinds of manipulation that read it
MANIPULATION_FLAGS = {"forget_set_size": set(METHODS.values()), "patch_size": {"poisoning"},
                      "poison_target": {"poisoning"}, "confused_classes": {"interclasslabelswap"}}


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
    method = METHODS.get(getattr(args, "dataset_method", None) or "")
    for flag, readers in MANIPULATION_FLAGS.items():
        if flag in getattr(args, "given", ()) and method not in readers:
            names = " or ".join(name for name, kind in METHODS.items() if kind in readers)
            raise UserError(f"--{flag} is for --dataset_method {names}"
                            + (f", not {args.dataset_method}" if method else "; add one, or drop it"))
    if method is None:
        return None
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
        candidates = np.arange(len(labels))  # any class, the target's too, as in the reference
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


@dataclass(frozen=True)
class Trigger:
    """BadNets trigger: a size×size square at the bottom-right, in every channel, at the brightest normalised value
    of the clean training images (the reference's max_val: one scalar, the maximum over all pixels and channels)."""

    size: int
    levels: tuple[int, ...]  # per-channel uint8 maximum of the clean training images

    def value(self, mean: tuple[float, ...], std: tuple[float, ...]) -> float:
        """The stamped value under normalisation (x/255 - mean) / std."""
        return max((level / 255 - m) / s for level, m, s in zip(self.levels, mean, std))

    def stamp(self, images: torch.Tensor, rows: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        """Stamp the `rows` (bool N) of normalised N×C×H×W images in place."""
        images[rows, :, -self.size:, -self.size:] = self.value(mean, std)


@dataclass
class PoisonedSplit(Split):
    """A split whose `poisoned` rows (bool N, on the CPU) carry `trigger` on every batch BatchLoader makes of them."""

    poisoned: torch.Tensor
    trigger: Trigger

    def subset(self, indices: torch.Tensor) -> "PoisonedSplit":
        indices = torch.as_tensor(indices, dtype=torch.long)
        part = super().subset(indices)
        return replace(self, images=part.images, labels=part.labels, poisoned=self.poisoned[indices.cpu()])

    def to(self, device: torch.device | str) -> "PoisonedSplit":
        return replace(self, images=self.images.to(device), labels=self.labels.to(device))


def trigger_for(data: ImageDataset, spec: dict) -> Trigger:
    """The trigger of a poisoning spec on `data` (clean), with the levels of its training images."""
    levels = tuple(int(v) for v in data.train.images.amax(dim=(0, 2, 3)).cpu().tolist())
    return Trigger(spec["patch_size"], levels)


def patched_test(data: ImageDataset, spec: dict) -> PoisonedSplit:
    """Every test image with the trigger and its clean label (the reference's test_adversarial split)."""
    rows = torch.ones(len(data.test), dtype=torch.bool)
    return PoisonedSplit(data.test.images, data.test.labels, rows, trigger_for(data, spec))


def apply(data: ImageDataset, spec: dict | None) -> ImageDataset:
    """The dataset with its train split manipulated as `spec` says (val and test stay clean; poisoned images are
    marked, not changed)."""
    if not spec:
        return data
    rows = torch.tensor(spec["indices"], dtype=torch.long)
    labels = data.train.labels.clone()
    train = Split(data.train.images, labels)
    on = rows.to(labels.device)
    if spec["method"] == "poisoning":
        labels[on] = spec["poison_target"]
        poisoned = torch.zeros(len(labels), dtype=torch.bool)
        poisoned[rows] = True
        train = PoisonedSplit(data.train.images, labels, poisoned, trigger_for(data, spec))
    elif spec["method"] == "interclasslabelswap":
        a, b = spec["confused_classes"]
        labels[on] = torch.where(labels[on] == a, torch.tensor(b, device=labels.device), torch.tensor(a, device=labels.device))
    else:
        labels[on] = labels[on][torch.tensor(spec["permutation"], device=labels.device)]
    return ImageDataset(name=data.name, task=data.task, class_names=data.class_names, train=train,
                        val=data.val, test=data.test, hflip=data.hflip, source=data.source)
