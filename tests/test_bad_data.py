"""Bad data is refused at the loader, in one line naming the file, the array and the fix, before any work starts;
16-bit and float images are scaled to 0..255 by a stated rule (never clipped); the npz memory-map cache follows the
file's content."""
import io
import os
import pickle
import shutil
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from PIL import Image

import datasets
import examine_dataset
import main_train
from datasets import medmnist_npz
from datasets.mri.phantoms import generate
from tests.conftest import expect_user_error, fingerprint, write_medmnist_npz

MASK = ["--mask_type", "random", "--accelerations", "4", "--center_fractions", "0.08"]
NET = ["--arch", "unet", "--chans", "8", "--num_pool_layers", "2"]


def npz_with(folder: Path, change, name: str = "scans.npz") -> Path:
    """A small MedMNIST-layout npz (16/4/4 rows of 8×8×3, 8 classes) with `change(arrays)` applied."""
    path = write_medmnist_npz(folder / name, n=(16, 4, 4), size=8)
    arrays = dict(np.load(path))
    change(arrays)
    np.savez(path, **arrays)
    return path


def examine(cli, dataset: str, *more: str):
    return cli(examine_dataset.main, "--dataset", dataset, "--no_gui", *more)


def as_float(arrays: dict, key: str, scale: float = 1 / 255) -> np.ndarray:
    arrays[key] = arrays[key].astype(np.float32) * scale
    return arrays[key]


def put(arrays: dict, key: str, index: tuple, value, dtype=None) -> None:
    arrays[key] = arrays[key].astype(dtype or arrays[key].dtype)
    arrays[key][index] = value


def object_array(rows: np.ndarray) -> np.ndarray:
    out = np.empty(len(rows), dtype=object)
    out[:] = list(rows)
    return out


def multi_label(arrays: dict) -> None:
    for split, rows in (("train", 16), ("val", 4), ("test", 4)):
        arrays[f"{split}_labels"] = np.random.default_rng(0).integers(0, 2, (rows, 3)).astype(np.uint8)
    arrays["val_labels"][2, 1] = 5


# ---------------------------------------------------------------- npz: values and layouts that are refused

NPZ_CASES = {
    "nan pixel": (lambda a: as_float(a, "train_images").__setitem__((3, 2, 1, 0), np.nan),
                  ["train_images", "1 NaN or infinite", "finite"]),
    "inf pixel": (lambda a: as_float(a, "test_images").__setitem__((0, 0, 0, 0), np.inf),
                  ["test_images", "NaN or infinite", "finite"]),
    "float range": (lambda a: as_float(a, "val_images", 300 / 255), ["float images run from 0 to 300", "[0, 1]"]),
    "signed range": (lambda a: put(a, "train_images", (0, 0, 0, 0), -5, np.int16),
                     ["train_images is int16", "-5", "must be uint8"]),
    "complex pixels": (lambda a: a.update(val_images=a["val_images"].astype(np.complex64)),
                       ["val_images", "complex64 (complex numbers)", "images must be real"]),
    "object pixels": (lambda a: a.update(train_images=object_array(a["train_images"])),
                      ["train_images", "dtype object (Python objects)", "images must be real"]),
    "object labels": (lambda a: a.update(test_labels=object_array(a["test_labels"])),
                      ["test_labels", "Python objects", "whole numbers"]),
    "fractional label": (lambda a: put(a, "train_labels", (5, 0), 2.7, np.float64),
                         ["train_labels holds 2.7 (row 5)", "not a whole number", "class indices"]),
    "nan label": (lambda a: put(a, "val_labels", (1, 0), np.nan, np.float32),
                  ["val_labels holds NaN or infinite values (row 1)", "whole numbers"]),
    "multi-label 5": (multi_label, ["val_labels holds 5 (row 2, label 1)", "must be 0 or 1"]),
    "negative label": (lambda a: put(a, "test_labels", (0, 0), -1, np.int64),
                       ["test_labels holds -1", "indices 0..K-1"]),
    "label gap": (lambda a: put(a, "train_labels", (0, 0), 200),
                  ["labels run from 0 to 200", "9 distinct values", "relabel"]),
    "empty split": (lambda a: a.update(val_images=a["val_images"][:0], val_labels=a["val_labels"][:0]),
                    ["val_images is empty", "at least one image"]),
    "split of another size": (lambda a: a.update(test_images=np.zeros((4, 16, 16, 3), np.uint8)),
                              ["test_images are 16×16×3 (H×W×C) but train_images are 8×8×3", "one size"]),
    "3-d labels": (lambda a: a.update(train_labels=a["train_labels"][:, :, None]),
                   ["train_labels has shape (16, 1, 1)", "N×L"]),
}


@pytest.mark.parametrize("case", NPZ_CASES)
def test_bad_npz_content_is_one_line_naming_the_array(cli, tmp_path, case):
    change, fragments = NPZ_CASES[case]
    path = npz_with(tmp_path / "data", change)
    before = fingerprint(tmp_path / "data")
    result = examine(cli, str(path))
    expect_user_error(result, str(path), *fragments)
    assert "allow_pickle" not in result[2]
    assert fingerprint(tmp_path / "data") == before  # and no cache folder either


def test_labels_out_of_a_medmnist_flags_range_and_whole_float_labels(cli, tmp_path):
    path = npz_with(tmp_path, lambda a: put(a, "test_labels", (1, 0), 8), name="bloodmnist.npz")
    expect_user_error(examine(cli, str(path)), "test_labels run from 0 to 8", "class indices 0..7")
    path = npz_with(tmp_path, lambda a: a.update(train_labels=a["train_labels"].astype(np.float32)), name="f.npz")
    data = datasets.load_dataset(str(path))  # 2.0 is a whole number: fine
    assert data.train.labels.dtype == torch.int64 and data.num_classes == 8


@pytest.mark.parametrize("content", [b"not a zip archive at all", pickle.dumps({"train_images": [1, 2]}), "npy"])
def test_npz_that_is_not_a_zip_is_refused_without_numpys_pickle_advice(cli, tmp_path, content):
    path = tmp_path / "scans.npz"
    if content == "npy":
        buffer = io.BytesIO()
        np.save(buffer, np.zeros((2, 8, 8), np.uint8))
        content = buffer.getvalue()
    path.write_bytes(content)
    result = examine(cli, str(path))
    expect_user_error(result, str(path), "is not a readable .npz file", "numpy.savez")
    assert "allow_pickle" not in result[2] and "unsafe" not in result[2]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scans.npz"]


def member_data_offset(path: Path, name: str) -> tuple[int, int]:
    """(where `name`'s stored bytes start in the zip, how many there are)."""
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(name)
    raw = path.read_bytes()
    start = info.header_offset
    name_len, extra_len = (int.from_bytes(raw[start + i:start + i + 2], "little") for i in (26, 28))
    return start + 30 + name_len + extra_len, info.compress_size


@pytest.mark.parametrize("mapped", [False, True])
def test_corrupt_zip_member_is_one_line_and_leaves_no_cache(cli, tmp_path, monkeypatch, mapped):
    if mapped:
        monkeypatch.setattr(medmnist_npz, "host_memory_budget", lambda: 0)
    path = npz_with(tmp_path, lambda a: None)  # np.savez: stored members, so one flipped byte breaks only the CRC
    start, size = member_data_offset(path, "train_images.npy")
    raw = bytearray(path.read_bytes())
    raw[start + size - 1] ^= 0xFF
    path.write_bytes(bytes(raw))
    before = fingerprint(tmp_path)
    expect_user_error(examine(cli, str(path)), str(path), "train_images is damaged", "CRC", "re-download")
    assert fingerprint(tmp_path) == before
    assert not (tmp_path / "scans.npz.cache").exists()


def test_header_declaring_a_huge_array_is_refused_before_any_allocation(cli, tmp_path):
    arrays = dict(np.load(write_medmnist_npz(tmp_path / "base.npz", n=(16, 4, 4), size=8)))
    path = tmp_path / "data" / "huge.npz"
    path.parent.mkdir()
    with zipfile.ZipFile(path, "w") as archive:
        for key, value in arrays.items():
            buffer = io.BytesIO()
            if key == "train_images":  # a header claiming 10^12 pixels over 64 bytes of data
                np.lib.format.write_array_header_1_0(
                    buffer, {"descr": "|u1", "fortran_order": False, "shape": (10**6, 10**6)})
                buffer.write(bytes(64))
            else:
                np.lib.format.write_array(buffer, value)
            archive.writestr(f"{key}.npy", buffer.getvalue())
    before = fingerprint(tmp_path / "data")
    expect_user_error(examine(cli, str(path)), str(path), "train_images declares shape (1000000, 1000000)",
                      "truncated or corrupt")
    assert fingerprint(tmp_path / "data") == before
    assert not (tmp_path / "data" / "huge.npz.cache").exists()


# ---------------------------------------------------------------- npz: 16-bit and float pixels are scaled, not clipped

def constant_images(values, dtype) -> np.ndarray:
    return np.stack([np.full((8, 8), v, dtype) for v in values])


@pytest.mark.parametrize("dtype, values, expected", [
    (np.uint16, [0, 257, 32768, 65535], [0, 1, 128, 255]),        # x · 255 / 65535, rounded
    (np.float32, [0.0, 0.5, 0.2, 1.0], [0, 128, 51, 255]),        # every float in [0, 1]: ×255
    (np.float64, [0.0, 2.0, 100.4, 255.0], [0, 2, 100, 255]),     # floats in [0, 255]: as they are
])
def test_wide_npz_pixels_are_scaled_to_eight_bits_by_their_range(tmp_path, capsys, dtype, values, expected):
    images = constant_images(values, dtype)
    labels = np.array([[0], [1], [0], [1]])
    path = tmp_path / "wide.npz"
    np.savez(path, **{f"{s}_{k}": images if k == "images" else labels for s in ("train", "val", "test")
                      for k in ("images", "labels")})
    data = datasets.load_dataset(str(path))
    for split in ("train", "val", "test"):
        images = data.split(split).images
        assert images.dtype == torch.uint8 and images.shape == (4, 1, 8, 8)
        assert images.flatten(1).min(1).values.tolist() == expected == images.flatten(1).max(1).values.tolist()
    assert capsys.readouterr().out == ""  # said nowhere noisy


# ---------------------------------------------------------------- npz: the memory-map cache follows the content

def same_size_npz(path: Path, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    arrays = {f"{s}_images": rng.integers(0, 256, (n, 8, 8, 3), dtype=np.uint8) for s, n in
              (("train", 16), ("val", 4), ("test", 4))}
    arrays |= {f"{s}_labels": (np.arange(n) % 4).astype(np.uint8)[:, None] for s, n in
               (("train", 16), ("val", 4), ("test", 4))}
    np.savez(path, **arrays)  # uncompressed: the same shapes give the same file size
    return arrays


def test_replaced_npz_with_an_older_mtime_is_not_served_from_the_stale_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(medmnist_npz, "host_memory_budget", lambda: 0)
    path = tmp_path / "scans.npz"
    same_size_npz(path, seed=0)
    datasets.load_dataset(str(path))
    cache = tmp_path / "scans.npz.cache" / "train_images.npy"
    assert cache.is_file()
    old = path.stat()
    second = same_size_npz(path, seed=1)  # other content, same size, same inode ...
    os.utime(path, ns=(old.st_atime_ns, old.st_mtime_ns - 10**10))  # ... and an mtime older than the cache
    assert path.stat().st_size == old.st_size and path.stat().st_mtime_ns < cache.stat().st_mtime_ns
    data = datasets.load_dataset(str(path))
    for split in ("train", "val", "test"):
        expected = torch.from_numpy(second[f"{split}_images"]).permute(0, 3, 1, 2)
        assert torch.equal(data.split(split).images, expected), split
    written = cache.stat().st_mtime_ns
    os.utime(path, ns=(old.st_atime_ns, old.st_mtime_ns + 10**10))  # touched, same content: the cache stays
    assert torch.equal(datasets.load_dataset(str(path)).train.images,
                       torch.from_numpy(second["train_images"]).permute(0, 3, 1, 2))
    assert cache.stat().st_mtime_ns == written


# ---------------------------------------------------------------- imagefolder

def save_image(path: Path, pixels: np.ndarray, fmt: str | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, format=fmt)


def test_sixteen_bit_png_and_tiff_and_float_tiff_are_scaled_and_mixed_sizes_resized(tmp_path):
    root = tmp_path / "scans"
    for i, (value, expected) in enumerate([(0, 0), (257, 1), (32768, 128), (65535, 255)]):
        save_image(root / "png16" / f"{i}.png", np.full((10 + i, 12), value, np.uint16))
        save_image(root / "tiff16" / f"{i}.tif", np.full((30, 9 + i), value, np.uint16))
        save_image(root / "tiff_float" / f"{i}.tif", np.full((20, 20), expected / 255, np.float32))
    data = datasets.load_dataset(f"imagefolder:{root}", size=28)
    assert data.in_channels == 1 and data.size == 28
    seen = {name: set() for name in data.class_names}
    for split in ("train", "val", "test"):
        part = data.split(split)
        for image, label in zip(part.images, part.labels):
            assert image.min() == image.max(), "a constant image stays constant"
            seen[data.class_names[label]].add(int(image.max()))
    assert seen == {"png16": {0, 1, 128, 255}, "tiff16": {0, 1, 128, 255}, "tiff_float": {0, 1, 128, 255}}


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("bad, fragments", [
    ("empty class", ["class folder", "holds no images", "add its images or remove the folder"]),
    ("junk bytes", ["cannot read image", "b/3.png", "remove or replace the file"]),
    ("truncated png", ["cannot read image", "b/3.png", "truncated", "remove or replace the file"]),
    ("nan float tiff", ["b/3.tif", "NaN or infinite", "finite"]),
    ("float tiff above 255", ["float image", "b/3.tif", "runs from 0 to 300", "[0, 1]"]),
])
def test_bad_image_folders_are_one_line(cli, tmp_path, bad, fragments):
    root = tmp_path / "scans"
    for cls in ("a", "b"):
        for i in range(3):
            (root / cls).mkdir(parents=True, exist_ok=True)
            (root / cls / f"{i}.png").write_bytes(png_bytes())
    if bad == "empty class":
        (root / "c").mkdir()
    elif bad == "junk bytes":
        (root / "b" / "3.png").write_bytes(b"these are not the pixels you are looking for")
    elif bad == "truncated png":
        (root / "b" / "3.png").write_bytes(png_bytes()[:300])
    else:
        pixels = np.zeros((8, 8), np.float32)
        pixels[2, 3] = np.nan if bad == "nan float tiff" else 300
        save_image(root / "b" / "3.tif", pixels)
    before = fingerprint(root)
    expect_user_error(examine(cli, f"imagefolder:{root}"), *fragments)
    assert fingerprint(root) == before


# ---------------------------------------------------------------- MRI h5 volumes

@pytest.fixture(scope="module")
def phantoms(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("mri") / "brain"
    generate(folder, "brain", volumes=2, slices=2, size=32, val_volumes=1, test_volumes=1, seed=4)
    return folder


def group_copy(phantoms: Path, tmp_path: Path) -> tuple[Path, Path]:
    folder = tmp_path / "brain"
    shutil.copytree(phantoms, folder)
    return folder, sorted((folder / "train").glob("*.h5"))[1]


@pytest.mark.parametrize("value, fragments", [
    ("5.0", ["'5.0'", "it must be one number"]),
    (0.0, ["is 0;", "finite number above 0"]),
    (-2.5, ["is -2.5;", "finite number above 0"]),
    (np.nan, ["is nan;", "finite number above 0"]),
    (np.inf, ["is inf;", "finite number above 0"]),
])
def test_h5_whose_max_attribute_is_not_a_positive_number(cli, tmp_path, phantoms, value, fragments):
    folder, victim = group_copy(phantoms, tmp_path)
    with h5py.File(victim, "a") as f:
        f.attrs["max"] = value
    before = fingerprint(folder)
    expect_user_error(cli(examine_dataset.main, "--train_groups", f"brain:{folder}", *MASK, "--no_gui"),
                      str(victim), "attrs['max']", *fragments)
    assert fingerprint(folder) == before


@pytest.mark.parametrize("key, cache_mb, workers", [("kspace", "1024", "0"), ("kspace", "0", "0"),
                                                    ("reconstruction_esc", "0", "0"), ("kspace", "0", "2")])
def test_non_finite_kspace_or_target_stops_training_in_one_line(cli, tmp_path, phantoms, key, cache_mb, workers):
    folder, victim = group_copy(phantoms, tmp_path)
    with h5py.File(victim, "a") as f:
        f[key][1, 3, 4] = np.nan if key == "kspace" else np.inf
    before = fingerprint(folder)
    result = cli(main_train.main, "--train_groups", f"brain:{folder}", *MASK, *NET, "--epochs", "1",
                 "--batch_size", "4", "--cache_mb", cache_mb, "--num_workers", workers, "--save_model_id", "x",
                 "--model_dir", str(tmp_path / "mw"), "--runs_dir", str(tmp_path / "runs"))
    fragments = [str(victim), f"'{key}' holds NaN or infinite values (slice 1)", "finite"]
    if cache_mb == "0":  # read lazily, slice by slice (in the workers, if any): refused when the slice is read, in
        # the main process, after the progress bar began
        code, _, err = result
        assert code == 2 and "Traceback" not in err, err
        last = err.strip().splitlines()[-1]
        assert last.startswith("error: ") and all(f in last for f in fragments), err
    else:  # read into memory up front: refused before training starts
        expect_user_error(result, *fragments)
    assert fingerprint(folder) == before
    assert not list((tmp_path / "mw").rglob("*.pt"))
