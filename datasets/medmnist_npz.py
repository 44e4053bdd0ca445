"""MedMNIST 2D datasets, read straight from the npz files (the medmnist package gives metadata and downloads)."""
import functools
import re
from pathlib import Path

import numpy as np
import torch

from utils.errors import UserError

from . import register
from .base import MULTI_LABEL, ImageDataset, Split

FLAGS_2D = ["PathMNIST", "ChestMNIST", "DermaMNIST", "OCTMNIST", "PneumoniaMNIST", "RetinaMNIST",
            "BreastMNIST", "BloodMNIST", "TissueMNIST", "OrganAMNIST", "OrganCMNIST", "OrganSMNIST"]
# Left-right flips keep the meaning of microscopy, dermoscopy, fundus, OCT and ultrasound images,
# but not of chest X-rays or abdominal CT, where laterality is anatomy.
FLIP_SAFE = {"pathmnist", "dermamnist", "octmnist", "retinamnist", "breastmnist", "bloodmnist", "tissuemnist"}
SPLITS = ("train", "val", "test")


def medmnist_info(flag: str) -> dict:
    from medmnist import INFO
    return INFO[flag.lower()]


def npz_filename(flag: str, size: int) -> str:
    return f"{flag.lower()}.npz" if size == 28 else f"{flag.lower()}_{size}.npz"


def download_file(flag: str, data_dir: str, size: int) -> None:
    """Fetch one MedMNIST file from Zenodo, checking its MD5 (what the medmnist package does)."""
    from torchvision.datasets.utils import download_url
    info = medmnist_info(flag)
    suffix = "" if size == 28 else f"_{size}"
    Path(data_dir).mkdir(parents=True, exist_ok=True)
    try:
        download_url(info[f"url{suffix}"], root=data_dir, filename=npz_filename(flag, size), md5=info[f"MD5{suffix}"])
    except OSError as err:
        raise UserError(f"could not download {npz_filename(flag, size)}: {err}")


def read_npz(path: str | Path) -> dict[str, Split]:
    """The three splits of a MedMNIST-layout npz as uint8 N×C×H×W images and N×L labels."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"no such file: {path}")
    try:
        archive = np.load(path)
    except (OSError, ValueError) as err:
        raise UserError(f"{path} is not a readable .npz file: {err}")
    with archive:
        wanted = [f"{s}_{kind}" for s in SPLITS for kind in ("images", "labels")]
        missing = [key for key in wanted if key not in archive.files]
        if missing:
            raise UserError(f"{path} lacks {', '.join(missing)}; a MedMNIST-layout npz holds {', '.join(wanted)}")
        splits = {}
        for split in SPLITS:
            images, labels = archive[f"{split}_images"], archive[f"{split}_labels"]
            if len(images) != len(labels):
                raise UserError(f"{path}: {split}_images has {len(images)} rows but {split}_labels has {len(labels)}")
            splits[split] = (_images_nchw(images, path, split), _labels_2d(labels))
    return splits


def _images_nchw(images: np.ndarray, path: Path, split: str) -> torch.Tensor:
    if images.ndim == 3:
        images = images[:, None]
    elif images.ndim == 4 and images.shape[-1] in (1, 3):
        images = images.transpose(0, 3, 1, 2)
    else:
        raise UserError(f"{path}: {split}_images has shape {images.shape}; expected N×H×W or N×H×W×C (C = 1 or 3)")
    if images.dtype != np.uint8:
        if images.max(initial=0) <= 1.0:
            images = images * 255.0
        images = np.clip(np.rint(images), 0, 255).astype(np.uint8)
    return torch.from_numpy(np.ascontiguousarray(images))


def _labels_2d(labels: np.ndarray) -> np.ndarray:
    labels = np.asarray(labels)
    return labels.reshape(len(labels), -1)


def build_dataset(name: str, raw: dict, task: str, class_names: list[str], hflip: bool, source: str) -> ImageDataset:
    """Turn N×L numpy labels into the task's label tensors and check them against the class names."""
    splits = {}
    for split, (images, labels) in raw.items():
        if task == MULTI_LABEL:
            if labels.shape[1] != len(class_names):
                raise UserError(f"{source}: {split} labels have {labels.shape[1]} columns, expected {len(class_names)}")
            target = torch.from_numpy(labels.astype(np.float32))
        else:
            if labels.shape[1] != 1:
                raise UserError(f"{source}: {split} labels are N×{labels.shape[1]}; a single-label task needs N×1")
            target = torch.from_numpy(labels[:, 0].astype(np.int64))
            if len(target) and (target.min() < 0 or target.max() >= len(class_names)):
                raise UserError(f"{source}: {split} labels run from {int(target.min())} to {int(target.max())}, "
                                f"expected 0..{len(class_names) - 1}")
        splits[split] = Split(images, target)
    return ImageDataset(name=name, task=task, class_names=class_names, hflip=hflip, source=source, **splits)


def _info_dataset(flag: str, raw: dict, source: str) -> ImageDataset:
    info = medmnist_info(flag)
    names = [info["label"][k] for k in sorted(info["label"], key=int)]
    channels = raw["train"][0].shape[1]
    if channels != info["n_channels"]:
        raise UserError(f"{source} has {channels}-channel images; {flag} has {info['n_channels']}")
    display = next(f for f in FLAGS_2D if f.lower() == flag.lower())
    return build_dataset(display, raw, info["task"], names, flag.lower() in FLIP_SAFE, source)


def load_medmnist(flag: str, data_dir: str, size: int, download: bool) -> ImageDataset:
    path = Path(data_dir) / npz_filename(flag, size)
    if not path.is_file():
        if not download:
            raise UserError(f"{path} not found; add --download to fetch {flag} (size {size}) with the medmnist package, "
                            f"or point --data_dir at the folder that holds it")
        download_file(flag, data_dir, size)
    return _info_dataset(flag, read_npz(path), str(path))


def load_npz_path(path: str) -> ImageDataset:
    """Any npz in MedMNIST layout; a file named like a MedMNIST flag gets that flag's metadata."""
    raw = read_npz(path)
    stem = re.sub(r"_\d+$", "", Path(path).stem).lower()
    if stem in {f.lower() for f in FLAGS_2D}:
        return _info_dataset(stem, raw, path)
    columns = raw["train"][1].shape[1]
    if columns > 1:
        task, count = MULTI_LABEL, columns
    else:
        count = int(max(labels.max(initial=0) for _, labels in raw.values())) + 1
        task = "binary-class" if count == 2 else "multi-class"
    return build_dataset(Path(path).stem, raw, task, [str(i) for i in range(count)], False, path)


for _flag in FLAGS_2D:
    register(_flag)(functools.partial(load_medmnist, _flag))
