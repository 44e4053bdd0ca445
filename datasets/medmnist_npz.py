"""MedMNIST 2D datasets, read straight from the npz files (the medmnist package gives metadata and downloads)."""
import functools
import re
import zipfile
from pathlib import Path

import numpy as np
import torch

from utils.errors import UserError
from utils.io import atomic_path

from . import register
from .base import MULTI_LABEL, ImageDataset, Split, host_memory_budget

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
        headers = {split: npz_member_header(path, f"{split}_images") for split in SPLITS}
        mapped = sum(h[2] for h in headers.values()) > host_memory_budget()
        splits = {}
        for split in SPLITS:
            labels = archive[f"{split}_labels"]
            images = mapped_images(path, split, headers[split]) if mapped else _images_nchw(
                archive[f"{split}_images"], path, split)
            if len(images) != len(labels):
                raise UserError(f"{path}: {split}_images has {len(images)} rows but {split}_labels has {len(labels)}")
            splits[split] = (images, _labels_2d(labels))
    return splits


def npz_member_header(path: Path, key: str) -> tuple[tuple[int, ...], np.dtype, int, bool]:
    """(shape, dtype, bytes, fortran order) of one array in an npz, read from its .npy header without loading it."""
    with zipfile.ZipFile(path) as archive, archive.open(f"{key}.npy") as member:
        version = np.lib.format.read_magic(member)
        reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = reader(member)
    return shape, dtype, int(np.prod(shape)) * dtype.itemsize, fortran


def mapped_images(path: Path, split: str, header: tuple) -> torch.Tensor:
    """A split's images as N×C×H×W uint8 memory-mapped from an uncompressed .npy written once next to the npz
    ({name}.npz.cache/{split}_images.npy), streamed from the npz in chunks so the array never has to fit in RAM."""
    shape, dtype, _, fortran = header
    out_shape = (shape[0], 1, *shape[1:]) if len(shape) == 3 else (shape[0], shape[3], shape[1], shape[2])
    if dtype != np.uint8 or fortran or len(shape) not in (3, 4) or (len(shape) == 4 and shape[3] not in (1, 3)):
        with np.load(path) as archive:  # not MedMNIST's own layout: convert in memory
            return _images_nchw(archive[f"{split}_images"], path, split)
    cache = path.with_name(f"{path.name}.cache") / f"{split}_images.npy"
    if not (cache.is_file() and cache.stat().st_mtime >= path.stat().st_mtime):
        write_nchw_cache(path, split, shape, out_shape, cache)
    return torch.from_numpy(np.load(cache, mmap_mode="c"))


def write_nchw_cache(path: Path, split: str, shape: tuple, out_shape: tuple, cache: Path, rows: int = 4096) -> None:
    """Stream N×H×W(×C) uint8 rows out of the npz into an N×C×H×W .npy, atomically."""
    row_bytes = int(np.prod(shape[1:]))
    with atomic_path(cache) as tmp:
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=out_shape)
        with zipfile.ZipFile(path) as archive, archive.open(f"{split}_images.npy") as member:
            version = np.lib.format.read_magic(member)
            (np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0)(member)
            for start in range(0, shape[0], rows):
                count = min(rows, shape[0] - start)
                chunk = np.frombuffer(member.read(count * row_bytes), dtype=np.uint8).reshape(count, *shape[1:])
                out[start:start + count] = chunk[:, None] if len(shape) == 3 else chunk.transpose(0, 3, 1, 2)
        out.flush()
        del out


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
