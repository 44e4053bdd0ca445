"""The real 8×8 handwritten digits that ship inside scikit-learn (1,797 images), upscaled: the offline dataset.

The images are read from scikit-learn's own file and the 70/10/20 split from digits_split.json, so that loading the
set does not import scikit-learn (a second of start-up). That split is the one `train_test_split` draws (stratified,
SPLIT_SEED); tests/test_datasets.py checks it, and `python -c "from datasets import digits; digits.write_split()"`
writes it again."""
import gzip
import importlib.util
import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from utils.errors import UserError

from . import register
from .base import ImageDataset, Split

SPLIT_SEED = 0  # fixed, so every run and every script sees the same 70/10/20 split
SPLIT_FILE = Path(__file__).with_name("digits_split.json")


def read_digits() -> tuple[np.ndarray, np.ndarray]:
    """The 1,797 images (N×8×8, values 0-16) and labels as `sklearn.datasets.load_digits` reads them, from its
    digits.csv.gz, found without importing scikit-learn."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise UserError("the Digits set ships with scikit-learn, which is not installed: "
                        "pip install -r requirements.txt")
    path = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "digits.csv.gz"
    with gzip.open(path, mode="rt", encoding="utf-8") as file:
        table = np.loadtxt(file, delimiter=",")
    return table[:, :-1].reshape(-1, 8, 8), table[:, -1].astype(np.int64)


def sklearn_split(labels: np.ndarray) -> dict[str, list[int]]:
    """Sorted row numbers of the train, val and test splits: 70 %, then the rest cut 1:2, stratified, SPLIT_SEED."""
    from sklearn.model_selection import train_test_split
    index = np.arange(len(labels))
    train, rest = train_test_split(index, train_size=0.7, stratify=labels, random_state=SPLIT_SEED)
    val, test = train_test_split(rest, test_size=2 / 3, stratify=labels[rest], random_state=SPLIT_SEED)
    return {name: sorted(int(i) for i in rows) for name, rows in (("train", train), ("val", val), ("test", test))}


@register("Digits")
def load_digits(data_dir: str = "", size: int = 28, download: bool = False) -> ImageDataset:
    """Digits upscaled bilinearly to size×size uint8, split 70/10/20 per class with a fixed seed."""
    digits, target = read_digits()
    small = torch.from_numpy(digits.astype(np.float32) / 16.0)[:, None]
    images = F.interpolate(small, size=(size, size), mode="bilinear", align_corners=False)
    images = (images.clamp(0, 1) * 255).round().to(torch.uint8)
    labels = torch.from_numpy(target)
    rows = json.loads(SPLIT_FILE.read_text())
    splits = {name: Split(images[rows[name]], labels[rows[name]]) for name in ("train", "val", "test")}
    return ImageDataset(name="Digits", task="multi-class", class_names=[str(d) for d in range(10)],
                        hflip=False, source="sklearn.datasets.load_digits", **splits)


def write_split() -> None:
    """Write SPLIT_FILE from scikit-learn's draw."""
    SPLIT_FILE.write_text(json.dumps(sklearn_split(read_digits()[1])) + "\n")
