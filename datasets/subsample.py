"""Cartesian under-sampling masks with fastMRI's semantics (data/subsample.py): columns of k-space are kept.

A mask function holds pairs (centre fraction, acceleration); each call picks one pair at random, keeps
round(num_cols · centre fraction) central columns, and samples the rest so that about num_cols / acceleration
columns are kept in all. Random: every outer column with the same probability. Equispaced: every
`adjusted acceleration`-th column from a random offset.
"""
from dataclasses import dataclass

import numpy as np
import torch

from utils.errors import UserError

MASK_TYPES = ("random", "equispaced")


@dataclass(frozen=True)
class MaskFunc:
    kind: str
    center_fractions: tuple[float, ...]
    accelerations: tuple[float, ...]

    def __post_init__(self) -> None:
        check_mask_args(self.kind, self.center_fractions, self.accelerations)

    def __call__(self, num_cols: int, rng: np.random.RandomState) -> tuple[torch.Tensor, int]:
        """A boolean mask over `num_cols` columns and the number of low-frequency (centre) columns."""
        choice = rng.randint(0, len(self.center_fractions))
        center_fraction, acceleration = self.center_fractions[choice], self.accelerations[choice]
        num_low = round(num_cols * center_fraction)
        if self.kind == "random":
            prob = (num_cols / acceleration - num_low) / (num_cols - num_low)
            mask = rng.uniform(size=num_cols) < prob
        else:
            adjusted = acceleration * (num_low - num_cols) / (num_low * acceleration - num_cols)
            offset = rng.randint(0, round(adjusted))
            mask = np.zeros(num_cols, dtype=bool)
            mask[np.around(np.arange(offset, num_cols - 1, adjusted)).astype(np.int64)] = True
        pad = (num_cols - num_low + 1) // 2
        mask[pad:pad + num_low] = True
        return torch.from_numpy(mask), num_low


def check_mask_args(kind: str, center_fractions, accelerations) -> None:
    """Refuse pairs that cannot make a mask: the centre alone must stay below 1 / acceleration."""
    if kind not in MASK_TYPES:
        raise UserError(f"--mask_type {kind!r}: choose one of {', '.join(MASK_TYPES)}")
    if len(center_fractions) != len(accelerations) or not center_fractions:
        raise UserError(f"--center_fractions {list(center_fractions)} and --accelerations {list(accelerations)} must "
                        f"have the same number of values (one centre fraction per acceleration)")
    for fraction, acceleration in zip(center_fractions, accelerations):
        if acceleration <= 1:
            raise UserError(f"--accelerations {acceleration}: must be more than 1 (4 keeps a quarter of the columns)")
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
