"""Write an offline downstream image folder for kNN transfer: scikit-learn's 1,797 digits as a 2-class task,
`low_0-4/` against `high_5-9/`, rendered blocky (nearest-neighbour 8 -> 32 px PNGs, where the models see bilinear
28 px images): other classes and another rendering than the data the models were trained on.

    python experiments/digits_downstream.py data/digits_low_high     # then --knn_dataset imagefolder:data/digits_low_high
"""
import sys
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits

SIZE = 32
GROUPS = {"low_0-4": range(0, 5), "high_5-9": range(5, 10)}


def write_tree(root: Path) -> int:
    """Write every digit as root/{group}/{index:04d}.png; return how many were written."""
    bunch = load_digits()
    pixels = (bunch.images * (255 / 16)).round().astype(np.uint8)
    for group, digits in GROUPS.items():
        folder = root / group
        folder.mkdir(parents=True, exist_ok=True)
        for index in np.flatnonzero(np.isin(bunch.target, list(digits))):
            image = Image.fromarray(pixels[index], mode="L").resize((SIZE, SIZE), Image.Resampling.NEAREST)
            image.save(folder / f"{index:04d}.png")
    return len(pixels)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(f"usage: python {sys.argv[0]} OUT_FOLDER")
    print(f"wrote {write_tree(Path(sys.argv[1]))} images under {sys.argv[1]}")
