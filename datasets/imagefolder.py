"""`imagefolder:PATH`: a class-per-folder image tree (Office-Home's `Art/`, `Clipart/`, ...) read once with PIL into
uint8 tensors; split 70/10/20 per class with a fixed seed, or as given by `train/`, `val/`, `test/` subfolders."""
import struct
import zlib
from pathlib import Path

import numpy as np
import torch

from utils.errors import UserError

from .base import ImageDataset, Split

PREFIX = "imagefolder:"
SPLIT_SEED = 0  # fixed, so every run and every script sees the same split
SHARES = (0.7, 0.1)  # train, val; the rest is test
EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm"}
SIXTEEN_BIT = {"I;16", "I;16B", "I;16L", "I;16N"}  # PIL's modes of 16-bit grey PNG / TIFF
WIDE_MODES = SIXTEEN_BIT | {"I", "F"}  # grey modes PIL's convert("RGB") would clip at 255: scaled by wide_to_uint8
GREY_MODES = {"1", "L", "LA"} | WIDE_MODES
SPLITS = ("train", "val", "test")


def class_files(root: Path) -> dict[str, list[Path]]:
    """{class name: its image files (any depth, sorted)} for every sub-folder of `root`, in sorted order."""
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise UserError(f"{root} holds no class folders; an image folder has one sub-folder of images per class "
                        f"(root/cat/1.png, root/dog/2.png, ...)")
    files = {}
    for folder in folders:
        files[folder.name] = sorted(p for p in folder.rglob("*") if p.suffix.lower() in EXTENSIONS and p.is_file())
        if not files[folder.name]:
            raise UserError(f"class folder {folder} holds no images ({', '.join(sorted(EXTENSIONS))}); "
                            f"add its images or remove the folder")
    return files


def read_image(path: Path, size: int) -> tuple[np.ndarray, bool]:
    """An image as size×size×3 uint8 RGB (any size, resized), and whether it was grey; grey images wider than 8 bits
    are scaled to 0..255 by `wide_to_uint8`, not clipped."""
    from PIL import Image
    try:
        with Image.open(path) as image:
            grey = image.mode in GREY_MODES
            image.draft(None, (size, size))  # JPEG: decode at a reduced scale when the image is much larger
            if image.mode in WIDE_MODES:
                image = Image.fromarray(wide_to_uint8(np.asarray(image), image.mode, path))
            rgb = image.convert("RGB").resize((size, size), Image.Resampling.BILINEAR)
    except (OSError, ValueError, SyntaxError, EOFError, struct.error, zlib.error, Image.DecompressionBombError) as err:
        raise UserError(f"cannot read image {path}: {err}; remove or replace the file")
    return np.asarray(rgb, dtype=np.uint8), grey


def wide_to_uint8(pixels: np.ndarray, mode: str, path: Path) -> np.ndarray:
    """A grey image of more than 8 bits as uint8: 16-bit (modes I;16*, and mode I, 32-bit integers, as some readers
    give 16-bit files) scaled from 0..65535 and rounded, x · 255 / 65535; floats (mode F) only when finite, scaled
    ×255 when the image lies in [0, 1], used as they are (rounded) when in [0, 255]. Anything else is refused."""
    if mode == "F":
        if not np.isfinite(pixels).all():
            raise UserError(f"image {path} holds NaN or infinite pixel values; every pixel must be a finite number, "
                            f"replace or remove the file")
        low, high = float(pixels.min()), float(pixels.max())
        if low < 0 or high > 255:
            raise UserError(f"float image {path} runs from {low:g} to {high:g}; float pixels must lie in [0, 1] "
                            f"(scaled ×255) or [0, 255]")
        return np.rint(pixels.astype(np.float32) * (255.0 if high <= 1 else 1.0)).astype(np.uint8)
    low, high = int(pixels.min()), int(pixels.max())
    if low < 0 or high > 65535:
        raise UserError(f"image {path} ({mode}) holds values from {low} to {high}; integer images must be 8-bit or "
                        f"16-bit (0..65535), convert it to one of those")
    return ((pixels.astype(np.int64) * 255 + 32767) // 65535).astype(np.uint8)


def read_images(paths: list[Path], size: int) -> tuple[list[np.ndarray], bool]:
    """Every image (size×size×3 uint8) and whether all of them are grey."""
    pairs = [read_image(path, size) for path in paths]
    return [image for image, _ in pairs], all(grey for _, grey in pairs)


def stack(images: list[np.ndarray], grey: bool, size: int) -> torch.Tensor:
    """N×C×H×W uint8, C = 1 when every image is grey, else 3."""
    if not images:
        return torch.zeros((0, 1 if grey else 3, size, size), dtype=torch.uint8)
    array = np.stack(images).transpose(0, 3, 1, 2)
    return torch.from_numpy(np.ascontiguousarray(array[:, :1] if grey else array))


def per_class_split(labels: np.ndarray) -> dict[str, np.ndarray]:
    """Sorted row indices of a seeded 70/10/20 split within each class."""
    rng = np.random.default_rng(SPLIT_SEED)
    parts: dict[str, list[np.ndarray]] = {name: [] for name in SPLITS}
    for label in np.unique(labels):
        rows = rng.permutation(np.flatnonzero(labels == label))
        n_train, n_val = (int(round(share * len(rows))) for share in SHARES)
        n_val = min(n_val, len(rows) - n_train)
        for name, part in zip(SPLITS, np.split(rows, [n_train, n_train + n_val])):
            parts[name].append(part)
    return {name: np.sort(np.concatenate(chunks)) for name, chunks in parts.items()}


def presplit_files(root: Path) -> tuple[list[str], dict[str, list[tuple[Path, int]]]]:
    """Class names from `train/`, and (file, label) rows of train/, val/ and test/."""
    per_split = {name: class_files(root / name) for name in SPLITS}
    class_names = list(per_split["train"])
    for name in ("val", "test"):
        unknown = sorted(set(per_split[name]) - set(class_names))
        if unknown:
            raise UserError(f"{root / name} has class folders {', '.join(unknown)} that {root / 'train'} lacks; "
                            f"every class needs a folder under train/")
    rows = {name: [(path, class_names.index(cls)) for cls, paths in files.items() for path in paths]
            for name, files in per_split.items()}
    return class_names, rows


def load_imagefolder(root: str, size: int = 28) -> ImageDataset:
    """Read a class-per-folder image tree into an in-memory ImageDataset (images resized to size×size)."""
    path = Path(root)
    if not path.is_dir():
        raise UserError(f"{PREFIX}{root}: no such folder; give a folder with one sub-folder of images per class")
    if all((path / name).is_dir() for name in SPLITS):
        class_names, rows = presplit_files(path)
    else:
        files = class_files(path)
        class_names = list(files)
        everything = [(file, label) for label, paths in enumerate(files.values()) for file in paths]
        index = per_class_split(np.array([label for _, label in everything]))
        rows = {name: [everything[i] for i in index[name]] for name in SPLITS}
    images = {name: read_images([file for file, _ in rows[name]], size) for name in SPLITS}
    grey = all(all_grey for _, all_grey in images.values())
    splits = {name: Split(stack(images[name][0], grey, size),
                          torch.tensor([label for _, label in rows[name]], dtype=torch.int64)) for name in SPLITS}
    task = "binary-class" if len(class_names) == 2 else "multi-class"
    return ImageDataset(name=path.resolve().name, task=task, class_names=class_names, hflip=False,
                        source=f"{PREFIX}{root}", **splits)
