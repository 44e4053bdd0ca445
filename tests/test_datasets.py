import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import datasets
from tests.conftest import write_medmnist_npz
from utils.errors import UserError

ROOT = Path(__file__).resolve().parents[1]


def test_medmnist_flag_loads_npz_with_shapes_task_and_names(tmp_path):
    write_medmnist_npz(tmp_path / "bloodmnist.npz", n=(40, 10, 12), channels=3, num_classes=8)
    for name in ("BloodMNIST", "bloodmnist"):
        data = datasets.load_dataset(name, str(tmp_path), 28)
        assert data.name == "BloodMNIST" and data.task == "multi-class"
        assert data.train.images.shape == (40, 3, 28, 28) and data.train.images.dtype == torch.uint8
        assert data.val.labels.shape == (10,) and data.test.labels.dtype == torch.int64
        assert data.class_names[3].startswith("immature granulocytes")
        assert data.num_classes == 8 and data.in_channels == 3 and data.hflip


def test_size_picks_the_medmnist_plus_file(tmp_path):
    write_medmnist_npz(tmp_path / "dermamnist_64.npz", size=64, num_classes=7)
    data = datasets.load_dataset("DermaMNIST", str(tmp_path), 64)
    assert data.size == 64 and data.num_classes == 7
    with pytest.raises(UserError, match=r"dermamnist\.npz not found.*--download"):
        datasets.load_dataset("DermaMNIST", str(tmp_path), 28)


def test_chestmnist_is_multilabel_with_float_label_rows(tmp_path):
    write_medmnist_npz(tmp_path / "chestmnist.npz", channels=1, multilabel=14)
    data = datasets.load_dataset("ChestMNIST", str(tmp_path))
    assert data.multilabel and data.task == "multi-label, binary-class"
    assert data.train.images.shape == (40, 1, 28, 28)
    assert data.train.labels.shape == (40, 14) and data.train.labels.dtype == torch.float32
    assert data.class_names[1] == "cardiomegaly"


def test_any_npz_path_in_medmnist_layout(tmp_path):
    path = write_medmnist_npz(tmp_path / "my_scans.npz", channels=1, num_classes=2)
    data = datasets.load_dataset(str(path))
    assert data.name == "my_scans" and data.task == "binary-class" and data.class_names == ["0", "1"]
    assert len(data.train) == 40 and len(data.val) == 10 and len(data.test) == 12


def test_npz_missing_key_or_mismatched_counts_is_a_user_error(tmp_path):
    path = tmp_path / "broken.npz"
    np.savez(path, train_images=np.zeros((2, 8, 8), np.uint8), train_labels=np.zeros((2, 1)))
    with pytest.raises(UserError, match="lacks val_images"):
        datasets.load_dataset(str(path))
    arrays = {f"{s}_{k}": np.zeros((3, 8, 8), np.uint8) if k == "images" else np.zeros((3, 1), np.uint8)
              for s in ("train", "val", "test") for k in ("images", "labels")}
    arrays["val_labels"] = np.zeros((2, 1), np.uint8)
    np.savez(path, **arrays)
    with pytest.raises(UserError, match="val_images has 3 rows but val_labels has 2"):
        datasets.load_dataset(str(path))


def test_unknown_dataset_lists_the_valid_names():
    with pytest.raises(UserError, match="BloodMNIST.*Digits.*OrganSMNIST"):
        datasets.load_dataset("CIFAR-11")


def test_digits_is_the_real_sklearn_set_split_70_10_20_the_same_way_every_time():
    a, b = datasets.load_dataset("Digits"), datasets.load_dataset("digits")
    assert (len(a.train), len(a.val), len(a.test)) == (1257, 180, 360)
    assert a.train.images.shape[1:] == (1, 28, 28)
    assert torch.equal(a.test.images, b.test.images) and torch.equal(a.test.labels, b.test.labels)
    assert torch.bincount(a.test.labels).min() >= 35  # stratified
    assert datasets.load_dataset("Digits", size=64).train.images.shape[-1] == 64


def test_digits_are_sklearns_images_and_split_read_without_importing_sklearn():
    from sklearn.datasets import load_digits

    from datasets import digits
    bunch = load_digits()
    images, labels = digits.read_digits()
    assert np.array_equal(images, bunch.images) and np.array_equal(labels, bunch.target)
    assert json.loads(digits.SPLIT_FILE.read_text()) == digits.sklearn_split(bunch.target)
    probe = "import sys, datasets; datasets.load_dataset('Digits'); print('sklearn' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True)
    assert done.stdout.strip() == "False", done.stderr


def test_channel_stats_match_direct_computation():
    data = datasets.load_dataset("Digits")
    x = data.train.images.double() / 255
    assert data.mean[0] == pytest.approx(x.mean().item(), abs=1e-5)
    assert data.std[0] == pytest.approx(x.std(unbiased=False).item(), abs=1e-5)


@pytest.mark.parametrize("channels", [1, 3])
def test_splits_larger_than_the_ram_budget_are_memory_mapped_from_an_npy_cache(tmp_path, monkeypatch, channels):
    from datasets import medmnist_npz
    path = write_medmnist_npz(tmp_path / "tiny.npz", channels=channels)
    in_memory = datasets.load_npz_path(str(path))
    monkeypatch.setattr(medmnist_npz, "host_memory_budget", lambda: 0)
    monkeypatch.setattr(medmnist_npz, "write_nchw_cache", _small_chunks(medmnist_npz.write_nchw_cache))
    mapped = datasets.load_npz_path(str(path))
    cache = tmp_path / "tiny.npz.cache" / "train_images.npy"
    assert cache.is_file() and isinstance(np.load(cache, mmap_mode="r"), np.memmap)
    for split in ("train", "val", "test"):
        assert torch.equal(mapped.split(split).images, in_memory.split(split).images)
        assert torch.equal(mapped.split(split).labels, in_memory.split(split).labels)
    assert mapped.mean == in_memory.mean
    written = cache.stat().st_mtime_ns
    datasets.load_npz_path(str(path))
    assert cache.stat().st_mtime_ns == written  # written once, read again


def _small_chunks(write):
    """The cache writer with 7-row chunks, so streaming across chunk borders is exercised."""
    return lambda *args: write(*args, rows=7)
