"""Dataset registry: name -> loader returning an in-memory ImageDataset."""
import argparse
from typing import Callable

from utils.errors import UserError

from .base import MULTI_LABEL, ImageDataset, Split

_DATASETS: dict[str, Callable[..., ImageDataset]] = {}
_DISPLAY_NAMES: dict[str, str] = {}


def register(*names: str):
    """Register a loader `fn(data_dir, size, download) -> ImageDataset` under case-insensitive names."""
    def add(fn):
        for name in names:
            _DATASETS[name.lower()] = fn
            _DISPLAY_NAMES[name.lower()] = name
        return fn
    return add


def available() -> list[str]:
    return sorted(_DISPLAY_NAMES.values(), key=str.lower)


def load_dataset(name: str, data_dir: str = "./data", size: int = 28, download: bool = False) -> ImageDataset:
    """Load a registered dataset by name (case-insensitive), any MedMNIST-layout .npz by path, or imagefolder:PATH."""
    if name.lower().startswith(IMAGEFOLDER):
        return load_imagefolder(name[len(IMAGEFOLDER):], size)
    if name.lower().endswith(".npz"):
        return load_npz_path(name)
    try:
        loader = _DATASETS[name.lower()]
    except KeyError:
        raise UserError(f"unknown dataset {name!r}; choose one of: {', '.join(available())}, a path to a .npz file, "
                        f"or imagefolder:PATH (a folder of class folders)")
    return loader(data_dir=data_dir, size=size, download=download)


def load(args: argparse.Namespace):
    """The dataset the data flags name: MRI groups with --train_groups (a ReconData), else an ImageDataset."""
    if getattr(args, "train_groups", None):
        from .mri.data import load_recon
        return load_recon(args)
    return load_dataset(args.dataset, args.data_dir, args.size, args.download)


from . import digits  # noqa: E402,F401  (registers Digits)
from .medmnist_npz import load_npz_path  # noqa: E402  (registers the MedMNIST flags)
from .imagefolder import PREFIX as IMAGEFOLDER, load_imagefolder  # noqa: E402  (imagefolder:PATH trees)

__all__ = ["ImageDataset", "Split", "MULTI_LABEL", "register", "available", "load", "load_dataset", "load_npz_path"]
