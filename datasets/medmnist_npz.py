"""MedMNIST 2D datasets, read straight from the npz files (the medmnist package gives metadata and downloads)."""
import functools
import hashlib
import json
import math
import re
import shutil
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from utils.errors import UserError
from utils.io import atomic_path, save_json

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


def read_npz(path: str | Path, check: Callable[[dict[str, np.ndarray], int], object] | None = None
             ) -> dict[str, tuple[torch.Tensor, np.ndarray]]:
    """The three splits of a MedMNIST-layout npz as uint8 N×C×H×W images and N×L labels.

    Every array's header is checked before any array is read (names, types, shapes, row counts, non-empty splits,
    one image size in every split, declared sizes the file can hold), then every array's values (pixel types as
    `pixels_uint8` accepts them; labels finite whole numbers), then `check(labels, channels)` (the caller's checks
    of the labels against the task): a bad file is refused in one line before anything, the memory-map cache
    included, is written."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"no such file: {path}")
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as err:
        raise UserError(f"{path} is not a readable .npz file ({err}); an .npz is the zip of .npy arrays that "
                        f"numpy.savez or numpy.savez_compressed writes")
    with archive:
        members = npz_members(path, archive)
        mapped = sum(members[f"{s}_images"].nbytes for s in SPLITS) > host_memory_budget()
        to_map = [s for s in SPLITS if mapped and members[f"{s}_images"].mappable]
        loaded = {s: read_member(path, archive, f"{s}_images", members[f"{s}_images"])
                  for s in SPLITS if s not in to_map}
        labels = {s: check_labels(path, s, read_member(path, archive, f"{s}_labels", members[f"{s}_labels"]))
                  for s in SPLITS}
        images = {s: _images_nchw(array) for s, array in pixels_uint8(path, loaded).items()}
    if check is not None:
        shape = members["train_images"].shape
        check(labels, shape[3] if len(shape) == 4 else 1)
    if to_map:
        images |= mapped_images(path, {s: members[f"{s}_images"] for s in to_map})
    return {s: (images[s], labels[s]) for s in SPLITS}


READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, ValueError, OSError)  # what a damaged zip member raises


@dataclass(frozen=True)
class Member:
    """One array of an npz as its .npy header declares it."""

    name: str  # the zip member
    shape: tuple[int, ...]
    dtype: np.dtype
    fortran: bool

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize

    @property
    def mappable(self) -> bool:
        """MedMNIST's own layout, which can be streamed into the memory-map cache as it is."""
        return self.dtype == np.uint8 and not self.fortran


def npz_members(path: Path, archive: zipfile.ZipFile) -> dict[str, Member]:
    """The header of every array a MedMNIST-layout npz needs, checked before any array is read."""
    names = set(archive.namelist())
    wanted = [f"{s}_{kind}" for s in SPLITS for kind in ("images", "labels")]
    found = {key: f"{key}.npy" if f"{key}.npy" in names else key for key in wanted}
    missing = [key for key, name in found.items() if name not in names]
    if missing:
        raise UserError(f"{path} lacks {', '.join(missing)}; a MedMNIST-layout npz holds {', '.join(wanted)}")
    members = {key: member_header(path, archive, key, name) for key, name in found.items()}
    first = None
    for split in SPLITS:
        images, labels = members[f"{split}_images"], members[f"{split}_labels"]
        shape = images.shape
        if not (len(shape) == 3 or (len(shape) == 4 and shape[3] in (1, 3))):
            raise UserError(f"{path}: {split}_images has shape {shape}; expected N×H×W or N×H×W×C (C = 1 or 3)")
        if len(labels.shape) not in (1, 2):
            raise UserError(f"{path}: {split}_labels has shape {labels.shape}; expected N (class indices) or N×L")
        if shape[0] != labels.shape[0]:
            raise UserError(f"{path}: {split}_images has {shape[0]} rows but {split}_labels has {labels.shape[0]}")
        if shape[0] == 0:
            raise UserError(f"{path}: {split}_images is empty (shape {shape}); every split needs at least one image")
        hwc = (shape[1], shape[2], shape[3] if len(shape) == 4 else 1)
        first = first or hwc
        if hwc != first:
            raise UserError(f"{path}: {split}_images are {'×'.join(map(str, hwc))} (H×W×C) but train_images are "
                            f"{'×'.join(map(str, first))}; every split needs images of one size and channel count")
    return members


def member_header(path: Path, archive: zipfile.ZipFile, key: str, name: str) -> Member:
    """One array's .npy header, without reading the array; refused when its type is not a plain real number or it
    declares more bytes than the zip member holds (a truncated or corrupt file, or a forged header)."""
    try:
        with archive.open(name) as member:
            version = np.lib.format.read_magic(member)
            if version not in ((1, 0), (2, 0)):
                raise ValueError(f".npy format version {version[0]}.{version[1]} is not supported")
            reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, fortran, dtype = reader(member)
    except ValueError as err:
        raise UserError(f"{path}: {key} is not a readable .npy array ({err}); re-create the file with numpy.savez")
    except READ_ERRORS as err:
        raise UserError(f"{path}: {key} is damaged ({err}); re-create or re-download the file")
    kinds = "uif" if key.endswith("_images") else "uifb"
    if dtype.hasobject or dtype.kind not in kinds:
        what = {"O": "Python objects", "c": "complex numbers"}.get(dtype.kind, "no plain numbers")
        right = ("images must be real: uint8 0..255, uint16, or floats in [0, 1] or [0, 255]" if kinds == "uif"
                 else "labels must be whole numbers: class indices, or 0/1 per label")
        raise UserError(f"{path}: {key} has dtype {dtype} ({what}); {right}")
    member = Member(name, tuple(int(n) for n in shape), dtype, bool(fortran))
    size = archive.getinfo(name).file_size
    if member.nbytes > size:
        raise UserError(f"{path}: {key} declares shape {member.shape} ({member.nbytes:,} bytes) but holds only "
                        f"{size:,} bytes; the file is truncated or corrupt, re-create or re-download it")
    return member


def read_member(path: Path, archive: zipfile.ZipFile, key: str, member: Member) -> np.ndarray:
    """One array, read whole; a damaged member (bad CRC, truncated or corrupt data) is a UserError."""
    try:
        with archive.open(member.name) as f:
            array = np.lib.format.read_array(f, allow_pickle=False)
            if f.read(1):  # reading to the end is also what checks the member's CRC
                raise ValueError("it holds more data than its header declares")
        return array
    except READ_ERRORS as err:
        raise UserError(f"{path}: {key} is damaged ({err}); re-create or re-download the file")


def pixels_uint8(path: Path, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """{split: images as uint8}, by one rule for the whole file:

    - uint8: as they are;
    - unsigned integers of more bits (uint16, common in medical exports): scaled from their type's full range and
      rounded, x · 255 / 65535 for uint16;
    - signed integers: only when every value lies in 0..255, then as they are;
    - floats: only when every value is finite; when every float image of the file lies in [0, 1] they are scaled ×255,
      else when in [0, 255] used as they are, both rounded; other ranges are refused.
    """
    floats = {s: a for s, a in arrays.items() if a.dtype.kind == "f"}
    for split, array in floats.items():
        bad = array.size - np.count_nonzero(np.isfinite(array))
        if bad:
            raise UserError(f"{path}: {split}_images holds {bad} NaN or infinite pixel value(s); every pixel must be "
                            f"a finite number, replace them and save the file again")
    if floats:
        low = min(float(a.min()) for a in floats.values())
        high = max(float(a.max()) for a in floats.values())
        if low < 0 or high > 255:
            raise UserError(f"{path}: float images run from {low:g} to {high:g}; float pixels must lie in [0, 1] "
                            f"(scaled ×255) or [0, 255]")
        factor = 255.0 if high <= 1 else 1.0
    out = {}
    for split, array in arrays.items():
        if array.dtype == np.uint8:
            out[split] = array
        elif array.dtype.kind == "u":
            top = np.iinfo(array.dtype).max
            work = np.uint32 if array.dtype.itemsize <= 2 else np.uint64
            if array.dtype.itemsize > 4:
                out[split] = np.rint(array * (255 / top)).astype(np.uint8)
            else:
                out[split] = ((array.astype(work) * 255 + top // 2) // top).astype(np.uint8)
        elif array.dtype.kind == "i":
            low, high = int(array.min()), int(array.max())
            if low < 0 or high > 255:
                raise UserError(f"{path}: {split}_images is {array.dtype} with values from {low} to {high}; integer "
                                f"images must be uint8 (0..255), unsigned 16-bit (scaled from 0..65535), or hold "
                                f"values in 0..255 only")
            out[split] = array.astype(np.uint8)
        else:
            out[split] = np.rint(array.astype(np.float32) * factor).astype(np.uint8)
    return out


def check_labels(path: Path, split: str, labels: np.ndarray) -> np.ndarray:
    """N×L labels, refused unless every value is a finite whole number (2.0 is fine, 2.7 and NaN are not)."""
    labels = labels.reshape(len(labels), -1)
    if labels.dtype.kind == "f":
        finite = np.isfinite(labels)
        if not finite.all():
            row = int(np.argwhere(~finite)[0][0])
            raise UserError(f"{path}: {split}_labels holds NaN or infinite values (row {row}); labels must be whole "
                            f"numbers: class indices, or 0/1 per label")
        broken = labels != np.round(labels)
        if broken.any():
            row, col = (int(i) for i in np.argwhere(broken)[0])
            raise UserError(f"{path}: {split}_labels holds {labels[row, col]:g} (row {row}), not a whole number; "
                            f"labels must be class indices, or 0/1 per label")
    return labels.astype(np.uint8) if labels.dtype == bool else labels


CACHE_SOURCE = "source.json"  # beside the cached splits: the npz's sha256, and the stat it was last checked at


def mapped_images(path: Path, members: dict[str, Member]) -> dict[str, torch.Tensor]:
    """Splits' images as N×C×H×W uint8 memory-mapped from uncompressed .npy files written next to the npz
    ({name}.npz.cache/{split}_images.npy), streamed from the npz in chunks so an array never has to fit in RAM.

    The cache belongs to the npz's content: `source.json` holds its sha256, and the cache is rewritten when the
    npz's sha256 differs (a file replaced by another, whatever its size or mtime). The hash is recomputed only when
    the npz's (size, mtime, ctime, inode, device) differ from those recorded. A failed write leaves no cache folder
    behind that this call created."""
    folder = path.with_name(f"{path.name}.cache")
    created = not folder.exists()
    try:
        digest, current, stat = cache_source(path, folder)
        if not current:
            (folder / CACHE_SOURCE).unlink(missing_ok=True)
        out = {}
        for split, member in members.items():
            shape = member.shape
            out_shape = (shape[0], 1, *shape[1:3]) if len(shape) == 3 else (shape[0], shape[3], shape[1], shape[2])
            cache = folder / f"{split}_images.npy"
            if not (current and cache.is_file()):
                write_nchw_cache(path, split, shape, out_shape, cache)
            out[split] = torch.from_numpy(np.load(cache, mmap_mode="c"))
        if stat is not None:
            save_json({"sha256": digest, "stat": stat}, folder / CACHE_SOURCE)
    except BaseException:
        if created:
            shutil.rmtree(folder, ignore_errors=True)
        raise
    return out


def stat_key(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev]


def cache_source(path: Path, folder: Path) -> tuple[str, bool, list[int] | None]:
    """(the npz's sha256, whether the cache in `folder` was made from that content, and the npz's stat when it
    differs from the one recorded, to be recorded)."""
    try:
        recorded = json.loads((folder / CACHE_SOURCE).read_text())
    except (OSError, ValueError):
        recorded = {}
    if not isinstance(recorded, dict):
        recorded = {}
    stat = stat_key(path)
    if recorded.get("stat") == stat and isinstance(recorded.get("sha256"), str):
        return recorded["sha256"], True, None
    digest = file_sha256(path)
    return digest, recorded.get("sha256") == digest, stat


def file_sha256(path: Path, chunk: int = 1 << 24) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            sha.update(block)
    return sha.hexdigest()


def write_nchw_cache(path: Path, split: str, shape: tuple, out_shape: tuple, cache: Path, rows: int = 4096) -> None:
    """Stream N×H×W(×C) uint8 rows out of the npz into an N×C×H×W .npy, atomically; a damaged member is a
    UserError and leaves no cache file."""
    row_bytes = math.prod(shape[1:])
    with atomic_path(cache) as tmp:
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=out_shape)
        try:
            with zipfile.ZipFile(path) as archive, archive.open(images_member(archive, split)) as member:
                version = np.lib.format.read_magic(member)
                fmt = np.lib.format
                (fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0)(member)
                for start in range(0, shape[0], rows):
                    count = min(rows, shape[0] - start)
                    data = member.read(count * row_bytes)
                    if len(data) != count * row_bytes:
                        raise EOFError(f"{split}_images.npy ends after {start * row_bytes + len(data):,} bytes of data")
                    chunk = np.frombuffer(data, dtype=np.uint8).reshape(count, *shape[1:])
                    out[start:start + count] = chunk[:, None] if len(shape) == 3 else chunk.transpose(0, 3, 1, 2)
                if member.read(1):
                    raise ValueError(f"{split}_images.npy holds more data than its header declares")
        except READ_ERRORS as err:
            del out
            raise UserError(f"{path}: {split}_images is damaged ({err}); re-create or re-download the file") from None
        out.flush()
        del out


def images_member(archive: zipfile.ZipFile, split: str) -> str:
    """The zip member of a split's images: numpy.savez names it {split}_images.npy."""
    name = f"{split}_images.npy"
    return name if name in archive.namelist() else f"{split}_images"


def _images_nchw(images: np.ndarray) -> torch.Tensor:
    """N×H×W or N×H×W×C uint8 (shapes checked by npz_members) as N×C×H×W."""
    images = images[:, None] if images.ndim == 3 else images.transpose(0, 3, 1, 2)
    return torch.from_numpy(np.ascontiguousarray(images))


def check_targets(labels: dict[str, np.ndarray], task: str, class_names: list[str], source: str) -> None:
    """Refuse labels that do not fit the task: N×K of 0/1 for multi-label, N×1 class indices 0..K-1 otherwise."""
    for split, rows in labels.items():
        if task == MULTI_LABEL:
            if rows.shape[1] != len(class_names):
                raise UserError(f"{source}: {split}_labels have {rows.shape[1]} columns, expected {len(class_names)}")
            wrong = (rows != 0) & (rows != 1)
            if wrong.any():
                row, col = (int(i) for i in np.argwhere(wrong)[0])
                raise UserError(f"{source}: {split}_labels holds {rows[row, col]:g} (row {row}, label {col}); "
                                f"multi-label labels must be 0 or 1")
        else:
            if rows.shape[1] != 1:
                raise UserError(f"{source}: {split}_labels are N×{rows.shape[1]}; a single-label task needs N×1")
            if rows.min() < 0 or rows.max() >= len(class_names):
                raise UserError(f"{source}: {split}_labels run from {rows.min():g} to {rows.max():g}, "
                                f"expected class indices 0..{len(class_names) - 1}")


def build_dataset(name: str, raw: dict, task: str, class_names: list[str], hflip: bool, source: str) -> ImageDataset:
    """Turn N×L numpy labels (checked by `check_targets`) into the task's label tensors."""
    splits = {}
    for split, (images, labels) in raw.items():
        target = labels.astype(np.float32) if task == MULTI_LABEL else labels[:, 0].astype(np.int64)
        splits[split] = Split(images, torch.from_numpy(target))
    return ImageDataset(name=name, task=task, class_names=class_names, hflip=hflip, source=source, **splits)


def npz_meta(flag: str | None, labels: dict[str, np.ndarray], channels: int,
             source: str) -> tuple[str, str, list[str], bool]:
    """(name, task, class names, hflip) of an npz's data, its labels checked against them: a MedMNIST flag's
    metadata, or for any other file what its labels say (N×L with L > 1: multi-label; N×1: classes 0..K-1 with K
    the largest label + 1, every class present in some split)."""
    if flag:
        info = medmnist_info(flag)
        names = [info["label"][k] for k in sorted(info["label"], key=int)]
        if channels != info["n_channels"]:
            raise UserError(f"{source} has {channels}-channel images; {flag} has {info['n_channels']}")
        display = next(f for f in FLAGS_2D if f.lower() == flag.lower())
        meta = display, info["task"], names, flag.lower() in FLIP_SAFE
    elif labels["train"].shape[1] > 1:
        meta = Path(source).stem, MULTI_LABEL, [str(i) for i in range(labels["train"].shape[1])], False
    else:
        values = np.unique(np.concatenate([rows.ravel() for rows in labels.values()]))
        if values[0] < 0:
            split = next(s for s, rows in labels.items() if rows.min() < 0)
            raise UserError(f"{source}: {split}_labels holds {labels[split].min():g}; class labels must be indices "
                            f"0..K-1")
        count = int(values[-1]) + 1
        if len(values) < count:
            raise UserError(f"{source}: labels run from 0 to {values[-1]:g} but only {len(values)} distinct values "
                            f"occur; class labels must be 0..K-1 with every class present: relabel them "
                            f"consecutively")
        meta = Path(source).stem, "binary-class" if count == 2 else "multi-class", [str(i) for i in range(count)], False
    check_targets(labels, meta[1], meta[2], source)
    return meta


def load_npz(path: str | Path, flag: str | None) -> ImageDataset:
    """An npz's dataset, every array and label checked before the memory-map cache (for large files) is written."""
    def check(labels: dict[str, np.ndarray], channels: int) -> tuple[str, str, list[str], bool]:
        return npz_meta(flag, labels, channels, str(path))

    raw = read_npz(path, check)
    name, task, class_names, hflip = check({s: labels for s, (_, labels) in raw.items()}, raw["train"][0].shape[1])
    return build_dataset(name, raw, task, class_names, hflip, str(path))


def load_medmnist(flag: str, data_dir: str, size: int, download: bool) -> ImageDataset:
    path = Path(data_dir) / npz_filename(flag, size)
    if not path.is_file():
        if not download:
            raise UserError(f"{path} not found; add --download to fetch {flag} (size {size}) with the medmnist package, "
                            f"or point --data_dir at the folder that holds it")
        download_file(flag, data_dir, size)
    return load_npz(path, flag)


def load_npz_path(path: str) -> ImageDataset:
    """Any npz in MedMNIST layout; a file named like a MedMNIST flag gets that flag's metadata."""
    stem = re.sub(r"_\d+$", "", Path(path).stem).lower()
    return load_npz(path, stem if stem in {f.lower() for f in FLAGS_2D} else None)


for _flag in FLAGS_2D:
    register(_flag)(functools.partial(load_medmnist, _flag))
