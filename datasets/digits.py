"""The real 8×8 handwritten digits that ship inside scikit-learn (1,797 images), upscaled: the offline dataset."""
import numpy as np
import torch
import torch.nn.functional as F

from . import register
from .base import ImageDataset, Split

SPLIT_SEED = 0  # fixed, so every run and every script sees the same 70/10/20 split


@register("Digits")
def load_digits(data_dir: str = "", size: int = 28, download: bool = False) -> ImageDataset:
    """Digits upscaled bilinearly to size×size uint8, split 70/10/20 per class with a fixed seed."""
    from sklearn.datasets import load_digits as sklearn_digits
    from sklearn.model_selection import train_test_split

    bunch = sklearn_digits()
    small = torch.from_numpy(bunch.images.astype(np.float32) / 16.0)[:, None]
    images = F.interpolate(small, size=(size, size), mode="bilinear", align_corners=False)
    images = (images.clamp(0, 1) * 255).round().to(torch.uint8)
    labels = torch.from_numpy(bunch.target.astype(np.int64))

    index = np.arange(len(labels))
    train, rest = train_test_split(index, train_size=0.7, stratify=bunch.target, random_state=SPLIT_SEED)
    val, test = train_test_split(rest, test_size=2 / 3, stratify=bunch.target[rest], random_state=SPLIT_SEED)
    splits = {name: Split(images[np.sort(idx)], labels[np.sort(idx)]) for name, idx in
              (("train", train), ("val", val), ("test", test))}
    return ImageDataset(name="Digits", task="multi-class", class_names=[str(d) for d in range(10)],
                        hflip=False, source="sklearn.datasets.load_digits", **splits)
