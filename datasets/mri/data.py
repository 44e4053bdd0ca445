"""fastMRI-style .h5 volumes in named groups (organs or sites), read slice by slice.

A group is `name:DIR` with DIR/{train,val,test}/*.h5, or the FL-MRCM layout DIR/{T1,T2}/{train,val,test}/*.h5
with --sequence. Each volume holds `kspace` (slices × H × W single-coil, slices × coils × H × W multi-coil,
complex) and its target `reconstruction_esc` (single-coil) or `reconstruction_rss` (multi-coil), with
attrs `max` and `norm`. Slices are read lazily (one h5 handle per DataLoader worker); a split whose
volumes fit in --cache_mb is read once and kept in memory.

As fastMRI's SliceDataset, the `ismrmrd_header` XML, when a file has one, gives the acquired k-space columns
[padding_left, padding_right) (a VarNet's mask leaves the zero-padded columns out) and the recon size. A fastMRI
test or challenge file has no target but the acquired columns as `mask`, which is used instead of a drawn mask;
such files can only be reconstructed (main_test.py --submission_dir), not trained on or evaluated.
"""
import argparse
import math
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

import h5py
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from utils.errors import UserError

from .samples import MriSample, UnetSample, VarNetSample
from .subsample import MaskFunc, apply_mask, mask_seed, unpadded
from .transforms import (affine, center_crop, crop_size, flip_transpose, ifft2c, normalize, normalize_instance,
                         recon_crop, rss)

SPLITS = ("train", "val", "test")
SEQUENCES = ("T1", "T2")
TARGET_KEYS = {"singlecoil": "reconstruction_esc", "multicoil": "reconstruction_rss"}
CLAMP = 6.0  # fastMRI clamps instance-normalised U-Net images to ±6
HEADER_NS = {"ismrmrd": "http://www.ismrm.org/ISMRMRD"}


@dataclass(frozen=True)
class Volume:
    path: str
    group: str
    num_slices: int
    coils: int  # 0 for single-coil
    max_value: float
    has_target: bool = True
    padding: tuple[int, int] | None = None  # acquired columns [left, right) from the header
    recon_size: tuple[int, int] | None = None  # the header's reconSpace matrix (x, y)
    mask: tuple[bool, ...] | None = None  # a test file's acquired columns

    @property
    def challenge(self) -> str:
        return "multicoil" if self.coils else "singlecoil"


def parse_groups(text: str, flag: str = "--train_groups") -> dict[str, Path]:
    """'brain:DIR,knee:DIR' -> {'brain': Path(DIR), 'knee': Path(DIR)} in the order given."""
    groups: dict[str, Path] = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        name, sep, folder = part.partition(":")
        if not sep or not name or not folder:
            raise UserError(f"{flag} {part!r}: each group is NAME:DIR, e.g. {flag} brain:data/brain,knee:data/knee")
        if name in groups:
            raise UserError(f"{flag}: group {name!r} is named twice")
        if flag == "--sites" and not (len(name) == 1 and name.isalpha()):  # --train_dataset BFHI spells sites
            raise UserError(f"{flag} {part!r}: a site is named by one letter, e.g. {flag} B:data/brats,F:data/fastmri")
        if not Path(folder).is_dir():
            raise UserError(f"{flag}: group {name!r}: no folder {folder}")
        groups[name] = Path(folder)
    if not groups:
        raise UserError(f"{flag} names no group; give NAME:DIR[,NAME:DIR...]")
    return groups


def split_folder(root: Path, split: str, sequence: str | None) -> Path:
    """DIR/{split}, or DIR/{sequence}/{split} in the FL-MRCM layout."""
    if sequence:
        if not (root / sequence).is_dir():
            found = [s for s in SEQUENCES if (root / s).is_dir()]
            raise UserError(f"{root} has no {sequence}/ sub-folder (--sequence {sequence})"
                            + (f"; it holds {', '.join(found)}" if found else ""))
        return root / sequence / split
    if not (root / split).is_dir() and any((root / s).is_dir() for s in SEQUENCES):
        raise UserError(f"{root} holds T1/T2 sub-folders (FL-MRCM layout); pass --sequence T1 or T2")
    return root / split


def scan_volume(path: Path, group: str) -> Volume:
    """Read a file's layout and check it has what training, testing or (test files) reconstruction need."""
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise UserError(f"cannot read {path}: {err}")
    with f:
        if "kspace" not in f:
            raise UserError(f"{path} has no 'kspace' dataset (keys: {', '.join(f.keys()) or 'none'})")
        kspace = f["kspace"]
        if kspace.ndim not in (3, 4) or not np.issubdtype(kspace.dtype, np.complexfloating):
            raise UserError(f"{path}: 'kspace' must be complex slices×H×W or slices×coils×H×W, "
                            f"not {kspace.dtype} {kspace.shape}")
        challenge = "multicoil" if kspace.ndim == 4 else "singlecoil"
        key = TARGET_KEYS[challenge]
        if key in f:
            target = f[key]
            if target.shape[0] != kspace.shape[0]:
                raise UserError(f"{path}: 'kspace' has {kspace.shape[0]} slices but '{key}' has {target.shape[0]}")
            if "max" in f.attrs:
                max_value = attr_max(path, f.attrs["max"])
            else:
                max_value = float(np.max(target[()]))
                if not (math.isfinite(max_value) and max_value > 0):
                    raise UserError(f"{path}: the largest value of '{key}' is {max_value:g}; a target must hold "
                                    f"finite values above 0 somewhere, or the file attrs['max'] must give its peak")
        elif "mask" in f:
            max_value = attr_max(path, f.attrs["max"]) if "max" in f.attrs else 0.0
        else:
            raise UserError(f"{path} has no target '{key}' for its {challenge} k-space, nor the 'mask' of a "
                            f"fastMRI test file (keys: {', '.join(f.keys())})")
        padding, recon_size = read_header(path, f["ismrmrd_header"][()]) if "ismrmrd_header" in f else (None, None)
        return Volume(str(path), group, int(kspace.shape[0]), int(kspace.shape[1]) if kspace.ndim == 4 else 0,
                      max_value, key in f, padding, recon_size,
                      stored_mask(path, f["mask"][()], kspace.shape[-1]) if "mask" in f else None)


def attr_max(path: Path, value) -> float:
    """The file's attrs['max'] (the volume's peak, the data range of PSNR and SSIM): one positive finite number."""
    array = np.asarray(value)
    if array.dtype.kind not in "uif" or array.size != 1:
        shown = value.decode(errors="replace") if isinstance(value, bytes) else value
        raise UserError(f"{path}: attrs['max'] is {shown!r} ({array.dtype}); it must be one number, the volume's "
                        f"largest target value")
    number = float(array.reshape(()))
    if not (math.isfinite(number) and number > 0):
        raise UserError(f"{path}: attrs['max'] is {number:g}; it must be a finite number above 0, the volume's "
                        f"largest target value (or delete the attribute to have it read from the target)")
    return number


def check_finite(volume: Volume, kspace: np.ndarray, target: np.ndarray | None, slice_num: int | None = None) -> None:
    """Refuse NaN or infinite k-space or target values: of slice `slice_num`, or of the whole volume when None."""
    for key, values in (("kspace", kspace), (TARGET_KEYS[volume.challenge], target)):
        if values is None:
            continue
        finite = np.isfinite(values)
        if not finite.all():
            where = slice_num if slice_num is not None else int(np.argmin(finite.reshape(len(values), -1).all(1)))
            raise UserError(f"{volume.path}: '{key}' holds NaN or infinite values (slice {where}); every value must be "
                            f"finite, repair or remove the file")


def read_header(path: Path, xml: bytes | str) -> tuple[tuple[int, int], tuple[int, int]]:
    """fastMRI's SliceDataset._retrieve_metadata: the acquired columns (padding_left = encoded y // 2 − centre of
    kspace_encoding_step_1, padding_right = padding_left + its maximum + 1) and the reconSpace matrix (x, y)."""
    try:
        root = ElementTree.fromstring(xml)
    except ElementTree.ParseError as err:
        raise UserError(f"{path}: 'ismrmrd_header' is not XML: {err}")

    def value(*names: str) -> int:
        node = root.find(".//" + "//".join(f"ismrmrd:{n}" for n in names), HEADER_NS)
        try:
            return int(node.text)
        except (AttributeError, TypeError, ValueError):
            raise UserError(f"{path}: 'ismrmrd_header' has no whole number at {'/'.join(names)}")

    limits = ("encoding", "encodingLimits", "kspace_encoding_step_1")
    left = value("encoding", "encodedSpace", "matrixSize", "y") // 2 - value(*limits, "center")
    recon = ("encoding", "reconSpace", "matrixSize")
    return (left, left + value(*limits, "maximum") + 1), (value(*recon, "x"), value(*recon, "y"))


def stored_mask(path: Path, mask: np.ndarray, width: int) -> tuple[bool, ...]:
    """A test file's `mask`: one flag per k-space column, non-zero where the column was acquired."""
    mask = np.asarray(mask)
    if mask.shape != (width,):
        raise UserError(f"{path}: 'mask' has shape {mask.shape} but the k-space has {width} columns; "
                        f"a fastMRI test file's mask holds one value per column")
    return tuple(bool(m) for m in mask)


def scan_group(name: str, root: Path, split: str, sequence: str | None, sample_rate: float, seed: int) -> list[Volume]:
    """The volumes of one group's split; with sample_rate < 1 a seeded share of them (at least one)."""
    folder = split_folder(root, split, sequence)
    files = sorted(folder.glob("*.h5")) if folder.is_dir() else []
    if not files:
        raise UserError(f"group {name!r}: {folder} holds no .h5 volumes" if folder.is_dir()
                        else f"group {name!r}: {root} has no {split}/ folder ({folder})")
    if sample_rate < 1:
        keep = max(1, round(len(files) * sample_rate))
        order = np.random.default_rng(seed).permutation(len(files))[:keep]
        files = [files[i] for i in sorted(order)]
    return [scan_volume(p, name) for p in files]


class SliceDataset(Dataset):
    """Slices of some volumes as fastMRI samples: the zero-filled image for a U-Net, masked k-space for a VarNet.

    Training masks are drawn afresh for every (seed, epoch, slice); validation and test masks are seeded
    from the file name, so every model sees the same under-sampling; a test file's stored mask is used as it is.
    Crops as fastMRI's transforms: a U-Net's image and target to recon_crop, a VarNet's target to the smallest
    shape (crop_size), and a VarNet sample carries `crop`, the recon_crop its submitted output gets.
    """

    def __init__(self, volumes: list[Volume], kind: str, mask_func: MaskFunc, resolution: int | None,
                 train: bool, seed: int, cache_mb: float = 1024, augment: bool = False, affine_p: float = 0.0
                 ) -> None:
        self.volumes, self.kind, self.mask_func = volumes, kind, mask_func
        self.resolution, self.train, self.seed, self.epoch = resolution, train, seed, 0
        self.augment = augment and train
        self.affine_p = affine_p if train else 0.0
        self.index = [(v, s) for v, vol in enumerate(volumes) for s in range(vol.num_slices)]
        self._files: dict[str, h5py.File] = {}
        self.memory: dict[str, tuple[np.ndarray, np.ndarray | None]] | None = None
        size_mb = sum(_volume_bytes(v) for v in volumes) / 2**20
        if size_mb <= cache_mb:
            self.memory = {v.path: _read_volume(v) for v in volumes}

    def __len__(self) -> int:
        return len(self.index)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_files": {}}  # h5 handles are opened in each worker

    def read(self, volume: Volume, slice_num: int) -> tuple[np.ndarray, np.ndarray | None]:
        """A slice's k-space and target (None for a test file)."""
        if self.memory is not None:
            kspace, target = self.memory[volume.path]
            return kspace[slice_num], None if target is None else target[slice_num]
        f = self._files.get(volume.path)
        if f is None:
            f = self._files[volume.path] = h5py.File(volume.path, "r")
        kspace = f["kspace"][slice_num]
        target = f[TARGET_KEYS[volume.challenge]][slice_num] if volume.has_target else None
        check_finite(volume, kspace, target, slice_num)
        return kspace, target

    def __getitem__(self, i: int) -> MriSample:
        v, s = self.index[i]
        volume = self.volumes[v]
        kspace, target = self.read(volume, s)
        if volume.mask is not None:
            mask, num_low = torch.tensor(volume.mask), 0  # as fastMRI: 0 lets the VarNet count the centre in the mask
        else:
            seed = (self.seed, self.epoch, i) if self.train else mask_seed(Path(volume.path).name)
            mask, num_low = self.mask_func(kspace.shape[-1], np.random.RandomState(seed))
        if self.kind == "kspace":
            mask = unpadded(mask, volume.padding)  # fastMRI's VarNetDataTransform; its U-Net keeps the whole mask
        kspace = torch.from_numpy(np.ascontiguousarray(kspace)).to(torch.complex64)
        if self.augment:  # seeded per (seed, epoch, slice), like the training masks
            rng = np.random.RandomState((self.seed, self.epoch, i, 1))
            flips, turn = (rng.rand() < 0.5, rng.rand() < 0.5), rng.rand() < 0.5
            square = kspace.shape[-1] == kspace.shape[-2] and target.shape[-1] == target.shape[-2]
            kspace, target = flip_transpose(kspace, torch.from_numpy(np.ascontiguousarray(target)), flips,
                                            turn and square)
            target = target.numpy()
        if self.affine_p:  # MRAugment's rotation, scaling and translation, each with probability affine_p
            rng = np.random.RandomState((self.seed, self.epoch, i, 2))
            rotate, zoom, move = rng.rand(3) < self.affine_p
            angle, scale, rows, columns = rng.uniform(-180, 180), 1 + rng.uniform(-0.25, 0.25), *rng.uniform(-1, 1, 2)
            if rotate or zoom or move:
                shift = (0.08 * kspace.shape[-2] * rows, 0.125 * kspace.shape[-1] * columns) if move else (0.0, 0.0)
                kspace, target = affine(kspace, torch.from_numpy(np.ascontiguousarray(target)).float(),
                                        angle if rotate else 0.0, scale if zoom else 1.0, shift)
                target = target.numpy()
        masked = apply_mask(kspace, mask)
        zero_filled = ifft2c(masked)
        zero_filled = rss(zero_filled) if volume.coils else zero_filled.abs()
        height, width = zero_filled.shape[-2:]
        submitted = recon_crop(self.resolution, volume.recon_size or (height, width), height, width)
        if target is None:
            shape = submitted
        elif self.kind == "image":
            shape = recon_crop(self.resolution, target.shape, height, width)
        else:
            shape = crop_size(self.resolution, zero_filled.shape, target.shape)
        zero_filled = center_crop(zero_filled, shape)
        max_value = torch.tensor(volume.max_value)
        target = (torch.empty(0) if target is None
                  else center_crop(torch.from_numpy(np.ascontiguousarray(target)).float(), shape))
        if self.kind == "image":
            image, mean, std = normalize_instance(zero_filled)
            norm_target = normalize(target, mean, std).clamp(-CLAMP, CLAMP).unsqueeze(0) if target.numel() else target
            return UnetSample(image.clamp(-CLAMP, CLAMP).unsqueeze(0), target, norm_target, mean, std, max_value, v, s)
        return VarNetSample(masked if volume.coils else masked.unsqueeze(0), mask.view(1, 1, -1), num_low, target,
                            zero_filled, torch.tensor(submitted), max_value, v, s)


def _volume_bytes(volume: Volume) -> int:
    with h5py.File(volume.path, "r") as f:
        return f["kspace"].nbytes + (f[TARGET_KEYS[volume.challenge]].nbytes if volume.has_target else 0)


def _read_volume(volume: Volume) -> tuple[np.ndarray, np.ndarray | None]:
    with h5py.File(volume.path, "r") as f:
        kspace, target = f["kspace"][()], f[TARGET_KEYS[volume.challenge]][()] if volume.has_target else None
    check_finite(volume, kspace, target)
    return kspace, target


class ReconData:
    """Named groups of volumes per split, with the under-sampling every slice gets; every file of `split` (train,
    or the split a submission reconstructs) is checked up front and gives the challenge."""

    task = "reconstruction"

    def __init__(self, roots: dict[str, Path], mask_func: MaskFunc, *, sequence: str | None = None,
                 resolution: int | None = None, sample_rate: float = 1.0, seed: int = 1, cache_mb: float = 1024,
                 challenge: str | None = None, split: str = "train") -> None:
        self.roots, self.mask_func, self.sequence = roots, mask_func, sequence
        self.resolution, self.sample_rate, self.seed, self.cache_mb = resolution, sample_rate, seed, cache_mb
        self.groups = list(roots)
        self.name = "+".join(self.groups)
        self._volumes: dict[tuple[str, str], list[Volume]] = {}
        self._slices: dict[tuple, SliceDataset] = {}
        self.challenge = challenge or self.volumes(split, self.groups[:1])[0].challenge
        self.volumes(split)  # check every file of the split before anything else happens

    def volumes(self, split: str, groups: list[str] | None = None) -> list[Volume]:
        """The volumes of a split, group by group; every file is checked on first use."""
        found = []
        for g in groups or self.groups:
            if (g, split) not in self._volumes:
                vols = scan_group(g, self.roots[g], split, self.sequence, self.sample_rate, self.seed)
                self._check_challenge(vols)
                self._volumes[(g, split)] = vols
            found += self._volumes[(g, split)]
        return found

    def _check_challenge(self, vols: list[Volume]) -> None:
        expected = getattr(self, "challenge", None) or vols[0].challenge
        for v in vols:
            if v.challenge != expected:
                raise UserError(f"{v.path} is {v.challenge} but the data are {expected}; "
                                f"groups must not mix single- and multi-coil files")

    def has_split(self, split: str, group: str) -> bool:
        folder = split_folder(self.roots[group], split, self.sequence)
        return folder.is_dir() and any(folder.glob("*.h5"))

    def slices(self, split: str, kind: str, groups: list[str] | None = None, train: bool = False,
               inference: bool = False, augment: bool = False, affine_p: float = 0.0) -> SliceDataset:
        """The slices of a split's groups, built (and, when small, read into memory) once per data object; files
        without a target (fastMRI test files) only for `inference`; training slices in random orientations with
        `augment` (flip_transpose), and rotated, zoomed and moved with probability `affine_p` (affine)."""
        if not inference:
            for volume in self.volumes(split, groups):
                if not volume.has_target:
                    raise UserError(f"{volume.path} has no target '{TARGET_KEYS[volume.challenge]}' (a fastMRI test "
                                    f"or challenge file): it cannot be trained on or evaluated; reconstruct "
                                    f"--split {split} with main_test.py --submission_dir DIR")
        key = (split, kind, tuple(groups or self.groups), train, augment, affine_p)
        if key not in self._slices:
            self._slices[key] = SliceDataset(self.volumes(split, groups), kind, self.mask_func, self.resolution, train,
                                             self.seed, self.cache_mb, augment, affine_p)
        return self._slices[key]

    def describe(self) -> dict:
        """What a checkpoint trained on these data records, and what a loaded checkpoint is checked against."""
        return {"dataset": self.name, "task": self.task, "challenge": self.challenge, "groups": self.groups,
                "resolution": self.resolution, "mask_type": self.mask_func.kind,
                "accelerations": list(self.mask_func.accelerations),
                "center_fractions": list(self.mask_func.center_fractions)}


def mask_func_from_args(args: argparse.Namespace) -> MaskFunc:
    return MaskFunc(args.mask_type, tuple(args.center_fractions), tuple(args.accelerations))


def load_recon(args: argparse.Namespace, groups: str | None = None, split: str = "train") -> ReconData:
    """The reconstruction data the flags describe (--train_groups or --sites, or `groups` in the same spelling),
    with every file of `split` checked."""
    if not 0 < args.sample_rate <= 1:
        raise UserError(f"--sample_rate {args.sample_rate} must be in (0, 1]")
    sites = getattr(args, "sites", None)
    roots = parse_groups(groups or args.train_groups or sites, "--train_groups" if groups or args.train_groups else "--sites")
    return ReconData(roots, mask_func_from_args(args), sequence=args.sequence, resolution=args.resolution,
                     sample_rate=args.sample_rate, seed=args.seed, cache_mb=args.cache_mb, challenge=args.challenge,
                     split=split)


def make_loader(dataset: SliceDataset, batch_size: int, *, shuffle: bool = False, seed: int = 0, epoch: int = 0,
                num_workers: int = 0, device: torch.device | None = None, rows: torch.Tensor | None = None) -> DataLoader:
    """Batches of slices (all rows, or `rows`), in a seeded order per epoch when shuffled."""
    dataset.set_epoch(epoch)
    subset = dataset if rows is None else torch.utils.data.Subset(dataset, rows.tolist())
    generator = torch.Generator().manual_seed(seed * 100003 + epoch) if shuffle else None
    return SliceLoader(subset, batch_size=batch_size, shuffle=shuffle, generator=generator, num_workers=num_workers,
                       pin_memory=device is not None and device.type == "cuda", collate_fn=collate,
                       worker_init_fn=fresh_handles if num_workers else None)


class SliceLoader(DataLoader):
    """A DataLoader whose worker processes' UserErrors (a NaN slice, say) reach the main process as the one line they
    were: torch re-raises them there with the worker's traceback inside the message."""

    def __iter__(self):
        try:
            yield from super().__iter__()
        except UserError as err:
            lines = str(err).strip().splitlines()
            if len(lines) > 1 and lines[0].startswith("Caught UserError"):
                raise UserError(lines[-1].split("UserError: ", 1)[-1]) from None
            raise


def fresh_handles(worker_id: int) -> None:
    """HDF5 handles are not fork-safe: a worker opens its own instead of using those it inherited."""
    dataset = torch.utils.data.get_worker_info().dataset
    getattr(dataset, "dataset", dataset)._files = {}


def collate(samples: list[MriSample]) -> MriSample:
    """Stack each field; slices of different sizes (real fastMRI widths differ) need --batch_size 1 or --resolution."""
    fields = []
    for values in zip(*samples):
        if torch.is_tensor(values[0]):
            shapes = {tuple(v.shape) for v in values}
            if len(shapes) > 1:
                raise UserError(f"slices of different shapes {sorted(shapes)} in one batch; use --batch_size 1 "
                                f"or a smaller --resolution")
            fields.append(torch.stack(values))
        else:
            fields.append(torch.tensor(values))
    return type(samples[0])(*fields)
