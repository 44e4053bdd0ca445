"""Cartesian under-sampling masks with fastMRI's semantics (fastmri/data/subsample.py): columns of k-space are kept.

A mask function holds pairs (centre fraction, acceleration); each call draws one pair (rng.randint over the pairs),
keeps a block of round(num_cols · centre fraction) central columns, and adds outer columns, drawing from the same
random state in the same order as fastMRI's mask classes, so that a seed gives fastMRI's mask:

- random (RandomMaskFunc): each column with probability (num_cols / acceleration − centre) / (num_cols − centre);
- equispaced (EquiSpacedMaskFunc): every acceleration-th column from a random offset below it, so more than
  num_cols / acceleration columns are kept in all;
- equispaced_fraction (EquispacedMaskFractionFunc): every `adjusted`-th column (rounded), adjusted for the centre
  so that about num_cols / acceleration columns are kept;
- magic (MagicMaskFunc): equispaced with offset positive and negative halves of k-space (Defazio 2019);
- magic_fraction (MagicMaskFractionFunc): magic at round(num_cols / (round(num_cols / acceleration) − centre)),
  with the centre bounded to 1 ... round(num_cols / acceleration).
"""
from dataclasses import dataclass

import numpy as np
import torch

from utils.errors import UserError

MASK_TYPES = ("random", "equispaced", "equispaced_fraction", "magic", "magic_fraction")
STEPPED = ("equispaced", "magic")  # fastMRI steps through the columns by the acceleration itself: whole numbers


def _random(num_cols: int, acceleration: float, num_low: int, rng: np.random.RandomState) -> np.ndarray:
    prob = (num_cols / acceleration - num_low) / (num_cols - num_low)
    return rng.uniform(size=num_cols) < prob


def _equispaced(num_cols: int, acceleration: float, num_low: int, rng: np.random.RandomState) -> np.ndarray:
    step = int(acceleration)
    mask = np.zeros(num_cols, dtype=bool)
    mask[rng.randint(0, high=step)::step] = True
    return mask


def _equispaced_fraction(num_cols: int, acceleration: float, num_low: int, rng: np.random.RandomState) -> np.ndarray:
    adjusted = acceleration * (num_low - num_cols) / (num_low * acceleration - num_cols)
    offset = rng.randint(0, high=round(adjusted))
    mask = np.zeros(num_cols, dtype=bool)
    mask[np.around(np.arange(offset, num_cols - 1, adjusted)).astype(np.int64)] = True
    return mask


def _magic(num_cols: int, acceleration: float, num_low: int, rng: np.random.RandomState) -> np.ndarray:
    step = int(acceleration)
    offset = rng.randint(0, high=step)
    offset_pos, offset_neg = (offset + 1, offset + 2) if offset % 2 == 0 else (offset + 2, offset - 1)
    positive = np.zeros((num_cols + 1) // 2, dtype=bool)
    negative = np.zeros(num_cols - (num_cols + 1) // 2, dtype=bool)
    positive[offset_pos::step] = True
    negative[offset_neg::step] = True
    return np.fft.fftshift(np.concatenate((positive, negative[::-1])))


OUTER = {"random": _random, "equispaced": _equispaced, "equispaced_fraction": _equispaced_fraction,
         "magic": _magic, "magic_fraction": _magic}


@dataclass(frozen=True)
class MaskFunc:
    kind: str
    center_fractions: tuple[float, ...]
    accelerations: tuple[float, ...]

    def __post_init__(self) -> None:
        check_mask_args(self.kind, self.center_fractions, self.accelerations)

    def __call__(self, num_cols: int, rng: np.random.RandomState) -> tuple[torch.Tensor, int]:
        """A boolean mask over `num_cols` columns and the number of low-frequency (centre) columns."""
        choice = rng.randint(len(self.center_fractions))
        center_fraction, acceleration = self.center_fractions[choice], self.accelerations[choice]
        num_low = round(num_cols * center_fraction)
        if self.kind == "magic_fraction":
            target = round(num_cols / acceleration)
            num_low = max(min(num_low, target), 1)
            if target <= num_low:
                raise UserError(f"--mask_type magic_fraction: {num_cols} columns at --accelerations {acceleration:g} "
                                f"keep {target}, no more than the {num_low} centre columns; use a smaller "
                                f"--center_fractions or wider k-space")
            acceleration = round(num_cols / (target - num_low))
        mask = OUTER[self.kind](num_cols, acceleration, num_low, rng)
        pad = (num_cols - num_low + 1) // 2
        mask[pad:pad + num_low] = True
        return torch.from_numpy(mask), num_low


def check_mask_args(kind: str, center_fractions, accelerations) -> None:
    """Refuse pairs that cannot make a mask: the centre alone must stay below 1 / acceleration, and equispaced and
    magic masks step by whole accelerations."""
    if kind not in MASK_TYPES:
        raise UserError(f"--mask_type {kind!r}: choose one of {', '.join(MASK_TYPES)}")
    if len(center_fractions) != len(accelerations) or not center_fractions:
        raise UserError(f"--center_fractions {list(center_fractions)} and --accelerations {list(accelerations)} must "
                        f"have the same number of values (one centre fraction per acceleration)")
    for fraction, acceleration in zip(center_fractions, accelerations):
        if acceleration <= 1:
            raise UserError(f"--accelerations {acceleration}: must be more than 1 (4 keeps a quarter of the columns)")
        if kind in STEPPED and acceleration != int(acceleration):
            raise UserError(f"--accelerations {acceleration:g}: --mask_type {kind} keeps every acceleration-th "
                            f"column, so it takes whole numbers (4, 8); equispaced_fraction takes any")
        if not 0 < fraction < 1 / acceleration:
            raise UserError(f"--center_fractions {fraction} with --accelerations {acceleration} leaves nothing to "
                            f"sample: the centre alone must be below 1/{acceleration:g} = {1 / acceleration:.3f} of the "
                            f"columns (fastMRI uses 0.08 with 4 and 0.04 with 8)")


def mask_seed(fname: str) -> tuple[int, ...]:
    """Validation and test masks are seeded from the file name, as fastMRI does."""
    return tuple(map(ord, fname))


def apply_mask(kspace: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Zero the k-space columns (last dimension) the mask leaves out; kspace is complex (..., H, W)."""
    return kspace * mask.to(kspace.device).view(*([1] * (kspace.dim() - 1)), -1)


def unpadded(mask: torch.Tensor, padding: tuple[int, int] | None) -> torch.Tensor:
    """The mask with the columns outside the acquired range [left, right) marked unmeasured (fastMRI's VarNet
    padding: mask[:left] = 0, mask[right:] = 0, Python slices as written); unchanged without a padding."""
    if padding is None:
        return mask
    mask = mask.clone()
    mask[:padding[0]] = False
    mask[padding[1]:] = False
    return mask
