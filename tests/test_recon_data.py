"""The MRI reconstruction data path and metrics: centred FFTs, crops, fastMRI masks, h5 volumes through the loader,
the data's error messages, SSIM / PSNR / NMSE against hand-computed values, and noisy targets."""
import argparse
import itertools
import math
import pickle
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from datasets.mri.data import (CLAMP, ReconData, SliceDataset, collate, load_recon, make_loader, parse_groups,
                               scan_group, scan_volume)
from datasets.mri.phantoms import generate
from datasets.mri.samples import UnetSample, VarNetSample
from datasets.mri.subsample import MaskFunc, apply_mask, mask_seed
from datasets.mri.transforms import center_crop, crop_size, fft2c, ifft2c, rss
from engine.recon import sample_loss, with_noisy_targets
from utils.errors import UserError
from utils.recon_metrics import nmse, psnr, ssim, ssim_loss, volume_metrics

TARGET_KEY = {1: "reconstruction_esc", 4: "reconstruction_rss"}
MASK = MaskFunc("random", (0.08,), (4.0,))


def crandn(*shape: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.complex(torch.randn(shape, generator=g, dtype=torch.float64),
                         torch.randn(shape, generator=g, dtype=torch.float64))


# ---------------------------------------------------------------- centred orthonormal FFT, crops

@pytest.mark.parametrize("shape", [(16, 12), (2, 3, 8, 10), (7, 9)])
def test_ifft2c_inverts_fft2c_for_images_and_coil_batches(shape):
    x = crandn(*shape)
    assert torch.allclose(ifft2c(fft2c(x)), x, atol=1e-12)
    assert torch.allclose(fft2c(ifft2c(x)), x, atol=1e-12)


@pytest.mark.parametrize("shape", [(16, 12), (2, 3, 8, 10)])
def test_fft2c_preserves_energy_per_image(shape):
    x = crandn(*shape, seed=1)
    energy = x.abs().square().sum((-2, -1))
    assert torch.allclose(fft2c(x).abs().square().sum((-2, -1)), energy, rtol=1e-12)
    assert not torch.allclose(fft2c(x).abs().square().sum(-1), x.abs().square().sum(-1))  # 2-D, not per row


@pytest.mark.parametrize("h, w", [(8, 6), (7, 5)])
def test_fft2c_of_a_constant_image_is_one_spike_at_the_centre_pixel(h, w):
    k = fft2c(torch.full((h, w), 2.0 + 0j, dtype=torch.complex128))
    expected = torch.zeros(h, w, dtype=torch.complex128)
    expected[h // 2, w // 2] = 2.0 * math.sqrt(h * w)        # orthonormal: all the energy 4·h·w in one pixel
    assert torch.allclose(k, expected, atol=1e-12)


def test_rss_is_the_root_sum_of_squared_magnitudes_over_coils():
    x = crandn(2, 4, 5, 6)
    assert torch.allclose(rss(x), torch.sqrt((x.real ** 2 + x.imag ** 2).sum(1)))
    assert rss(x).shape == (2, 5, 6)


def test_center_crop_takes_the_central_block_of_the_last_two_dimensions():
    x = torch.arange(2 * 7 * 8).reshape(2, 7, 8)
    crop = center_crop(x, (4, 4))
    assert torch.equal(crop, x[:, 1:5, 2:6])
    assert torch.equal(center_crop(x, (7, 8)), x)
    z = crandn(3, 6, 6)
    assert torch.equal(center_crop(z, (2, 2)), z[:, 2:4, 2:4])
    with pytest.raises(ValueError):
        center_crop(x, (8, 4))


def test_crop_size_is_the_smallest_shape_capped_at_the_resolution():
    assert crop_size(None, (4, 32, 30), (36, 40)) == (32, 30)
    assert crop_size(24, (4, 32, 30), (36, 40)) == (24, 24)
    assert crop_size(31, (32, 30), (36, 40)) == (31, 30)
    assert crop_size(100, (32, 30)) == (32, 30)


# ---------------------------------------------------------------- masks (fastMRI's subsample.py)

def draws(mask_func: MaskFunc, num_cols: int, n: int = 200, seed: int = 0) -> tuple[np.ndarray, list[int]]:
    rng = np.random.RandomState(seed)
    masks, lows = zip(*(mask_func(num_cols, rng) for _ in range(n)))
    return torch.stack(masks).numpy(), list(lows)


def centre_block(num_cols: int, num_low: int) -> slice:
    pad = (num_cols - num_low + 1) // 2
    return slice(pad, pad + num_low)


@pytest.mark.parametrize("kind", ["random", "equispaced_fraction"])
@pytest.mark.parametrize("num_cols", [320, 368])
@pytest.mark.parametrize("fraction, acceleration", [(0.08, 4.0), (0.04, 8.0)])
def test_mask_keeps_one_over_acceleration_and_always_the_centre_block(kind, num_cols, fraction, acceleration):
    masks, lows = draws(MaskFunc(kind, (fraction,), (acceleration,)), num_cols)
    assert masks.dtype == bool and masks.shape == (200, num_cols)
    assert masks.mean() == pytest.approx(1 / acceleration, rel=0.04)
    num_low = round(num_cols * fraction)
    assert set(lows) == {num_low}
    always = np.flatnonzero(masks.all(0))
    assert always.tolist() == list(range(num_cols))[centre_block(num_cols, num_low)]   # exactly the centre block


@pytest.mark.parametrize("kind", ["random", "equispaced_fraction"])
def test_mask_with_two_pairs_uses_both(kind):
    masks, lows = draws(MaskFunc(kind, (0.08, 0.04), (4.0, 8.0)), 320)
    lows = np.array(lows)
    assert set(lows.tolist()) == {26, 13}
    assert 0.3 < (lows == 26).mean() < 0.7
    assert masks[lows == 26].mean() == pytest.approx(1 / 4, rel=0.05)
    assert masks[lows == 13].mean() == pytest.approx(1 / 8, rel=0.05)


@pytest.mark.parametrize("kind", ["random", "equispaced", "equispaced_fraction"])
def test_mask_is_a_function_of_the_random_state_seed(kind):
    mask_func = MaskFunc(kind, (0.08, 0.04), (4.0, 8.0))
    first = [mask_func(368, np.random.RandomState(s)) for s in range(10)]
    again = [mask_func(368, np.random.RandomState(s)) for s in range(10)]
    assert all(torch.equal(a[0], b[0]) and a[1] == b[1] for a, b in zip(first, again))
    assert len({tuple(m.tolist()) for m, _ in first}) > 5


def test_mask_seed_is_the_file_names_characters():
    assert mask_seed("file1000.h5") == tuple(ord(c) for c in "file1000.h5")
    one = MASK(320, np.random.RandomState(mask_seed("file1000.h5")))[0]
    assert torch.equal(one, MASK(320, np.random.RandomState(mask_seed("file1000.h5")))[0])
    assert not torch.equal(one, MASK(320, np.random.RandomState(mask_seed("file1001.h5")))[0])


@pytest.mark.parametrize("fraction, gaps", [(0.1, {6}), (0.08, {5, 6})])
def test_equispaced_columns_outside_the_centre_are_evenly_spaced(fraction, gaps):
    num_cols = 320
    masks, lows = draws(MaskFunc("equispaced_fraction", (fraction,), (4.0,)), num_cols, n=50)
    adjusted = 4 * (lows[0] - num_cols) / (lows[0] * 4 - num_cols)        # 6 with 32 centre columns, 5.44 with 26
    assert min(gaps) <= adjusted <= max(gaps)
    block = centre_block(num_cols, lows[0])
    offsets = set()
    for mask in masks:
        cols = np.flatnonzero(mask)
        left, right = cols[cols < block.start], cols[cols >= block.stop]
        assert set(np.diff(left)) <= gaps and set(np.diff(right)) <= gaps
        offsets.add(int(cols[0]))
    assert offsets == set(range(round(adjusted)))      # a random offset below the adjusted acceleration


@pytest.mark.parametrize("kind, fractions, accelerations, flags", [
    ("random", (0.3,), (4.0,), ["--center_fractions", "--accelerations"]),
    ("equispaced", (0.25,), (4.0,), ["--center_fractions", "--accelerations"]),    # the centre alone is 1/4
    ("random", (0.08, 0.5), (4.0, 8.0), ["--center_fractions", "--accelerations"]),
    ("random", (0.08,), (1.0,), ["--accelerations"]),
    ("random", (0.08,), (0.5,), ["--accelerations"]),
    ("random", (0.08, 0.04), (4.0,), ["--center_fractions", "--accelerations"]),
    ("random", (), (), ["--center_fractions", "--accelerations"]),
    ("gaussian", (0.08,), (4.0,), ["--mask_type", "random", "equispaced", "equispaced_fraction", "magic"]),
    ("equispaced", (0.08,), (4.5,), ["--accelerations", "whole"]),                 # steps of 4.5 columns
])
def test_mask_func_refuses_pairs_that_cannot_make_a_mask(kind, fractions, accelerations, flags):
    with pytest.raises(UserError) as err:
        MaskFunc(kind, fractions, accelerations)
    assert all(flag in str(err.value) for flag in flags), str(err.value)


@pytest.mark.parametrize("shape", [(6, 10), (3, 6, 10), (2, 3, 6, 10)])
def test_apply_mask_zeroes_exactly_the_columns_left_out(shape):
    kspace = crandn(*shape) + 1                     # no exact zeros to begin with
    mask = torch.tensor([1, 0, 0, 1, 1, 0, 1, 0, 0, 1], dtype=torch.bool)
    masked = apply_mask(kspace, mask)
    assert masked.shape == kspace.shape and masked.dtype == kspace.dtype
    assert torch.equal(masked[..., mask], kspace[..., mask])
    assert torch.all(masked[..., ~mask] == 0)


# ---------------------------------------------------------------- h5 volumes through the loader

@pytest.fixture(scope="module")
def roots(tmp_path_factory) -> dict[int, Path]:
    """Brain phantoms per coil count: 2 train, 2 val, 1 test volumes of 3 slices of 32×32."""
    out = {}
    for coils in (1, 4):
        out[coils] = tmp_path_factory.mktemp(f"coils{coils}")
        generate(out[coils], "brain", 2, 3, 32, coils=coils, seed=coils, val_volumes=2, test_volumes=1)
    return out


def recon(root: Path, **kwargs) -> ReconData:
    return ReconData({"brain": root}, kwargs.pop("mask_func", MASK), **kwargs)


def read_file(path: str, key: str, slice_num: int) -> tuple[np.ndarray, np.ndarray]:
    with h5py.File(path, "r") as hf:
        return hf["kspace"][slice_num], hf[key][slice_num]


def same_sample(a: UnetSample | VarNetSample, b: UnetSample | VarNetSample) -> bool:
    return type(a) is type(b) and all(
        torch.equal(x, y) if torch.is_tensor(x) else x == y for x, y in zip(a, b))


@pytest.mark.parametrize("coils", [1, 4])
def test_image_samples_have_unet_keys_shapes_and_the_files_max(roots, coils):
    data = recon(roots[coils])
    assert data.challenge == ("multicoil" if coils > 1 else "singlecoil")
    ds = data.slices("train", "image")
    assert len(ds) == 2 * 3 and len(data.slices("val", "image")) == 2 * 3 and len(data.slices("test", "image")) == 3
    sample = ds[4]
    assert isinstance(sample, UnetSample)
    assert (sample.volume, sample.slice) == (1, 1)
    assert sample.image.shape == (1, 32, 32) and sample.image.dtype == torch.float32
    assert sample.target.shape == (32, 32) and sample.norm_target.shape == (1, 32, 32)
    assert sample.mean.shape == () and sample.std.shape == () and sample.std > 0
    with h5py.File(data.volumes("train")[1].path, "r") as hf:
        assert float(sample.max_value) == pytest.approx(float(hf.attrs["max"]))
    assert sample.image.abs().max() <= CLAMP and sample.norm_target.abs().max() <= CLAMP


@pytest.mark.parametrize("coils", [1, 4])
def test_kspace_samples_have_varnet_keys_and_shapes(roots, coils):
    ds = recon(roots[coils]).slices("val", "kspace")
    sample = ds[2]
    assert isinstance(sample, VarNetSample)
    assert sample.kspace.shape == (coils, 32, 32) and sample.kspace.dtype == torch.complex64
    assert sample.mask.shape == (1, 1, 32) and sample.mask.dtype == torch.bool
    assert sample.num_low == round(32 * 0.08)
    assert sample.mask[0, 0, centre_block(32, sample.num_low)].all()
    assert sample.target.shape == (32, 32)
    assert torch.all(sample.kspace[..., ~sample.mask[0, 0]] == 0)
    assert torch.all(sample.kspace[..., sample.mask[0, 0]] != 0)


@pytest.mark.parametrize("coils", [1, 4])
@pytest.mark.parametrize("resolution", [None, 24])
def test_target_is_the_files_reconstruction_slice_centre_cropped(roots, coils, resolution):
    data = recon(roots[coils], resolution=resolution)
    size = resolution or 32
    for kind in ("image", "kspace"):
        ds = data.slices("val", kind)
        for i in range(len(ds)):
            sample = ds[i]
            volume = ds.volumes[sample.volume]
            _, target = read_file(volume.path, TARGET_KEY[coils], sample.slice)
            assert sample.target.shape == (size, size)
            assert torch.equal(sample.target, center_crop(torch.from_numpy(target), (size, size)))


@pytest.mark.parametrize("coils", [1, 4])
def test_unnormalised_image_is_the_zero_filled_magnitude_of_the_masked_kspace(roots, coils):
    data = recon(roots[coils], resolution=24)
    images, kspaces = data.slices("val", "image"), data.slices("val", "kspace")
    for i in range(len(images)):
        sample = images[i]
        volume = images.volumes[sample.volume]
        kspace, _ = read_file(volume.path, TARGET_KEY[coils], sample.slice)
        mask, _ = MASK(32, np.random.RandomState(mask_seed(Path(volume.path).name)))
        masked = apply_mask(torch.from_numpy(kspace), mask)
        assert torch.equal(kspaces[i].kspace, masked if coils > 1 else masked.unsqueeze(0))
        zero_filled = rss(ifft2c(masked)) if coils > 1 else ifft2c(masked).abs()
        zero_filled = center_crop(zero_filled, (24, 24))
        image = collate([sample]).zero_filled()[0]
        inside = sample.image[0].abs() < CLAMP
        assert inside.float().mean() > 0.9
        scale = float(zero_filled.max())
        assert torch.allclose(image[inside], zero_filled[inside], atol=1e-5 * scale)
        assert torch.allclose(kspaces[i].zero_filled_image, zero_filled, atol=1e-6 * scale)
        assert torch.all(image[~inside] < zero_filled[~inside] + 1e-6 * scale)   # clamped at +6 std only


def test_unet_image_and_normalised_target_are_clamped_at_six_standard_deviations(tmp_path):
    image = np.full((1, 32, 32), 1e-3, np.complex128)
    image[0, 16, 16] = 1.0                                     # one pixel far above the rest
    target = np.abs(image).astype(np.float32)
    write_h5(tmp_path / "train" / "spike.h5", kspace=fft2c(torch.from_numpy(image)).numpy().astype(np.complex64),
             reconstruction_esc=target)
    sample = recon(tmp_path).slices("train", "image")[0]
    assert float(sample.image.max()) == CLAMP and float(sample.norm_target.max()) == CLAMP
    assert float(sample.image.min()) > -CLAMP
    unclamped = (sample.target - sample.mean) / sample.std
    assert float(unclamped.max()) > 2 * CLAMP
    inside = unclamped.abs() < CLAMP
    assert torch.allclose(sample.norm_target[0][inside], unclamped[inside], atol=1e-4)


@pytest.mark.parametrize("kind", ["image", "kspace"])
def test_val_and_test_masks_are_the_same_on_every_read_and_every_dataset(roots, tmp_path, kind):
    for split in ("val", "test"):
        first, second = recon(roots[4]).slices(split, kind), recon(roots[4], seed=9).slices(split, kind)
        second.set_epoch(5)
        for i in range(len(first)):
            a, b = first[i], second[i]
            assert same_sample(a, first[i]) and same_sample(a, b)
    first = recon(roots[4]).slices("val", kind)
    # the mask depends on the file name alone: the same file elsewhere gets the same mask, a renamed copy another
    volume = Path(first.volumes[0].path)
    for name in (volume.name, "renamed.h5"):
        (tmp_path / name.replace(".h5", "") / "val").mkdir(parents=True)
        shutil.copy(volume, tmp_path / name.replace(".h5", "") / "val" / name)
    moved = scan_group("b", tmp_path / volume.stem, "val", None, 1.0, 0)
    renamed = scan_group("b", tmp_path / "renamed", "val", None, 1.0, 0)
    original = SliceDataset(first.volumes[:1], "kspace", MASK, None, False, 0)[0]
    assert torch.equal(SliceDataset(moved, "kspace", MASK, None, False, 7)[0].mask, original.mask)
    assert not torch.equal(SliceDataset(renamed, "kspace", MASK, None, False, 0)[0].mask, original.mask)


def test_training_masks_change_with_the_epoch_and_repeat_for_the_same_seed_and_epoch(roots):
    def masks(seed: int, epoch: int) -> torch.Tensor:
        ds = recon(roots[1], seed=seed).slices("train", "kspace", train=True)
        ds.set_epoch(epoch)
        return torch.stack([ds[i].mask for i in range(len(ds))])

    epoch0 = masks(1, 0)
    assert torch.equal(epoch0, masks(1, 0))
    assert torch.equal(masks(1, 3), masks(1, 3))
    assert not torch.equal(epoch0, masks(1, 1))
    assert not torch.equal(epoch0, masks(2, 0))
    assert len({tuple(m.flatten().tolist()) for m in epoch0}) > 1      # each slice draws its own mask


@pytest.mark.parametrize("coils", [1, 4])
@pytest.mark.parametrize("kind", ["image", "kspace"])
def test_lazy_reads_give_the_same_samples_as_the_in_memory_copy(roots, coils, kind):
    lazy = recon(roots[coils], cache_mb=0, resolution=24).slices("train", kind, train=True)
    memory = recon(roots[coils], resolution=24).slices("train", kind, train=True)
    assert lazy.memory is None and memory.memory is not None
    for ds in (lazy, memory):
        ds.set_epoch(2)
    for i in range(len(lazy)):
        assert same_sample(lazy[i], memory[i])
    assert lazy._files                                          # the lazy one holds open h5 handles now ...
    copy = pickle.loads(pickle.dumps(lazy))                     # ... yet travels to a spawned worker
    assert copy.epoch == 2 and same_sample(copy[len(copy) - 1], memory[len(memory) - 1])


@pytest.mark.parametrize("cache_mb", [0, 1024])
def test_loader_with_two_workers_gives_the_same_batches_as_no_workers(roots, cache_mb):
    ds = recon(roots[4], cache_mb=cache_mb).slices("train", "kspace", train=True)
    ds[0]                                            # a lazy dataset now holds an open h5 handle in this process

    def batches(workers: int) -> list[dict]:
        return list(make_loader(ds, 2, shuffle=True, seed=3, epoch=1, num_workers=workers))

    serial, parallel = batches(0), batches(2)
    assert len(serial) == len(parallel) == 3
    assert sorted(int(v) * 3 + int(s) for b in serial for v, s in zip(b.volume, b.slice)) == list(range(6))
    for a, b in zip(serial, parallel):
        assert same_sample(a, b)
    assert serial[0].kspace.shape == (2, 4, 32, 32) and serial[0].num_low.tolist() == [3, 3]


def test_loader_order_is_seeded_per_epoch_and_rows_pick_a_subset(roots):
    ds = recon(roots[1]).slices("train", "image", train=True)
    order = lambda **kw: [(int(v), int(s)) for b in make_loader(ds, 4, **kw)  # noqa: E731
                          for v, s in zip(b.volume, b.slice)]
    assert order(shuffle=True, seed=1, epoch=0) == order(shuffle=True, seed=1, epoch=0)
    assert order(shuffle=True, seed=1, epoch=0) != order(shuffle=True, seed=1, epoch=1)
    assert order() == [(v, s) for v in range(2) for s in range(3)]
    assert order(rows=torch.tensor([1, 4])) == [(0, 1), (1, 1)]


def test_collate_refuses_slices_of_different_shapes():
    def sample(width: int, volume: int) -> VarNetSample:
        return VarNetSample(torch.zeros(1, 4, width), torch.ones(1, 1, width, dtype=torch.bool), 0,
                            torch.zeros(4, width), torch.zeros(4, width), torch.tensor([4, width]), torch.tensor(1.0),
                            volume, 0)
    a, b = sample(4, 0), sample(6, 1)
    with pytest.raises(UserError, match="--batch_size 1"):
        collate([a, b])
    assert collate([a, a]).volume.tolist() == [0, 0]


# ---------------------------------------------------------------- sample rate, layouts

@pytest.fixture(scope="module")
def six_volumes(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("six")
    generate(root, "knee", 6, 1, 16, val_volumes=1, test_volumes=1)
    return root


def test_sample_rate_keeps_a_seeded_share_of_the_volumes_and_at_least_one(six_volumes):
    everything = [v.path for v in recon(six_volumes).volumes("train")]
    assert len(everything) == 6
    half = {seed: [v.path for v in recon(six_volumes, sample_rate=0.5, seed=seed).volumes("train")]
            for seed in range(6)}
    assert all(len(paths) == 3 and set(paths) <= set(everything) for paths in half.values())
    assert half[0] == [v.path for v in recon(six_volumes, sample_rate=0.5, seed=0).volumes("train")]
    assert len({tuple(p) for p in half.values()}) > 1
    assert len(recon(six_volumes, sample_rate=0.01).volumes("train")) == 1
    assert len(recon(six_volumes, sample_rate=0.01).slices("val", "image")) == 1


def test_load_recon_reads_the_flags(six_volumes):
    args = argparse.Namespace(train_groups=f"knee:{six_volumes}", sample_rate=0.5, mask_type="equispaced",
                              center_fractions=[0.08], accelerations=[4.0], sequence=None, resolution=12, seed=0,
                              cache_mb=0, challenge=None)
    data = load_recon(args)
    assert data.groups == ["knee"] and len(data.volumes("train")) == 3
    assert data.describe() == {"dataset": "knee", "task": "reconstruction", "challenge": "singlecoil",
                                    "groups": ["knee"], "resolution": 12, "mask_type": "equispaced",
                                    "accelerations": [4.0], "center_fractions": [0.08]}
    assert data.slices("train", "image")[0].target.shape == (12, 12)
    with pytest.raises(UserError, match="--sample_rate"):
        load_recon(argparse.Namespace(**{**vars(args), "sample_rate": 0.0}))


def test_fl_mrcm_layout_reads_the_named_sequence_and_names_what_is_missing(tmp_path):
    root = tmp_path / "site"
    generate(root, "brain", 1, 2, 16, sequence="T1")
    data = recon(root, sequence="T1")
    assert len(data.slices("train", "image")) == 2 and "/T1/train/" in data.volumes("train")[0].path
    assert data.has_split("val", "brain") and len(data.volumes("test")) == 1
    with pytest.raises(UserError) as err:
        recon(root, sequence="T2")
    assert str(root) in str(err.value) and "T2" in str(err.value) and "T1" in str(err.value)
    (root / "T2").mkdir()
    with pytest.raises(UserError, match="--sequence"):
        recon(root)


# ---------------------------------------------------------------- what the data refuse

def write_h5(path: Path, **arrays) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as hf:
        for key, value in arrays.items():
            hf.create_dataset(key, data=value)
    return path


KSPACE = np.ones((2, 8, 8), np.complex64)
TARGET = np.ones((2, 8, 8), np.float32)


@pytest.mark.parametrize("arrays, names", [
    (dict(reconstruction_esc=TARGET), ["kspace", "reconstruction_esc"]),
    (dict(kspace=KSPACE), ["reconstruction_esc"]),
    (dict(kspace=KSPACE[:, None].repeat(3, 1), reconstruction_esc=TARGET), ["reconstruction_rss"]),
    (dict(kspace=KSPACE, reconstruction_esc=TARGET[:1]), ["kspace", "reconstruction_esc", "2", "1"]),
    (dict(kspace=TARGET, reconstruction_esc=TARGET), ["kspace", "complex"]),
])
def test_scan_volume_names_the_file_and_the_key_it_lacks(tmp_path, arrays, names):
    path = write_h5(tmp_path / "bad.h5", **arrays)
    with pytest.raises(UserError) as err:
        scan_volume(path, "brain")
    message = str(err.value)
    assert str(path) in message and all(n in message for n in names), message


def test_scan_volume_refuses_a_file_that_is_not_h5(tmp_path):
    path = tmp_path / "junk.h5"
    path.write_text("not hdf5")
    with pytest.raises(UserError, match="cannot read .*junk.h5"):
        scan_volume(path, "brain")


def test_scan_volume_reads_max_from_attrs_or_else_from_the_target(tmp_path):
    path = write_h5(tmp_path / "ok.h5", kspace=KSPACE, reconstruction_esc=TARGET * 3)
    volume = scan_volume(path, "g")
    assert (volume.num_slices, volume.coils, volume.max_value, volume.challenge) == (2, 0, 3.0, "singlecoil")
    with h5py.File(path, "a") as hf:
        hf.attrs["max"] = 5.0                                  # fastMRI's volume max, not this file's target max
    assert scan_volume(path, "g").max_value == 5.0


def test_a_group_without_volumes_or_without_a_split_folder_is_refused(tmp_path):
    (tmp_path / "empty" / "train").mkdir(parents=True)
    with pytest.raises(UserError, match="'brain'.*holds no .h5"):
        recon(tmp_path / "empty")
    write_h5(tmp_path / "noval" / "train" / "a.h5", kspace=KSPACE, reconstruction_esc=TARGET)
    data = recon(tmp_path / "noval")
    assert not data.has_split("val", "brain")
    with pytest.raises(UserError) as err:
        data.volumes("val")
    assert "val/" in str(err.value) and "'brain'" in str(err.value)
    with pytest.raises(UserError, match="'broken'.*train/"):
        ReconData({"broken": tmp_path / "noval" / "train"}, MASK)


def test_groups_mixing_single_and_multi_coil_files_are_refused(roots, tmp_path):
    with pytest.raises(UserError, match="must not mix single- and multi-coil"):
        ReconData({"single": roots[1], "multi": roots[4]}, MASK)
    with pytest.raises(UserError, match="must not mix single- and multi-coil"):
        ReconData({"multi": roots[4], "single": roots[1]}, MASK)
    mixed = tmp_path / "mixed" / "train"
    shutil.copytree(roots[1] / "train", mixed)
    write_h5(mixed / "z_multi.h5", kspace=KSPACE[:, None].repeat(3, 1), reconstruction_rss=TARGET)
    with pytest.raises(UserError, match="z_multi.h5 is multicoil"):
        ReconData({"mixed": mixed.parent}, MASK)
    with pytest.raises(UserError, match="is singlecoil but the data are multicoil"):
        ReconData({"single": roots[1]}, MASK, challenge="multicoil")


def test_parse_groups_keeps_the_order_given(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    groups = parse_groups(f" knee:{tmp_path / 'b'} , brain:{tmp_path / 'a'},")
    assert list(groups) == ["knee", "brain"] and groups["brain"] == tmp_path / "a"


@pytest.mark.parametrize("spec, words", [
    ("brain", ["NAME:DIR"]),
    ("brain:", ["NAME:DIR"]),
    (":{dir}", ["NAME:DIR"]),
    ("brain:{dir},brain:{dir}", ["'brain'", "twice"]),
    ("brain:{dir}/nowhere", ["'brain'", "nowhere"]),
    (" , ", ["names no group"]),
])
def test_parse_groups_refuses_bad_specs_naming_the_flag(tmp_path, spec, words):
    with pytest.raises(UserError) as err:
        parse_groups(spec.format(dir=tmp_path), "--test_groups")
    message = str(err.value)
    assert "--test_groups" in message and all(w in message for w in words), message


# ---------------------------------------------------------------- metrics

def one_pixel_off() -> tuple[torch.Tensor, torch.Tensor]:
    target = torch.ones(1, 4, 4)
    output = target.clone()
    output[0, 2, 1] = 0.9
    return target, output


def test_psnr_and_nmse_match_the_formulas_on_a_one_pixel_error():
    target, output = one_pixel_off()
    mse = 0.01 / 16
    assert psnr(target, output, 1.0) == pytest.approx(-10 * math.log10(mse), rel=1e-6)      # 32.04 dB
    assert psnr(target, output, 2.0) == pytest.approx(20 * math.log10(2) - 10 * math.log10(mse), rel=1e-6)
    assert psnr(target, target, 1.0) == math.inf
    assert nmse(target, output) == pytest.approx(0.01 / 16, rel=1e-6)
    assert nmse(2 * target, 2 * output) == pytest.approx(0.01 / 16, rel=1e-6)            # scale-free
    assert nmse(target, target) == 0.0


def test_ssim_of_an_image_with_itself_is_one_and_with_a_changed_one_lower():
    image = torch.rand(2, 16, 16, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert torch.allclose(ssim(image, image, 1.0), torch.ones(2, dtype=torch.float64))
    negative = ssim(image, 1 - image, 1.0)
    shifted = ssim(image, torch.roll(image, 3, dims=-1), 1.0)
    assert negative.shape == shifted.shape == (2,)
    assert torch.all(negative < 0) and torch.all(shifted < 0.5)
    assert torch.allclose(ssim(image.unsqueeze(1), image.unsqueeze(1), 1.0), ssim(image, image, 1.0))


@pytest.mark.parametrize("c1, c2, data_range", [(0.3, 0.7, 1.0), (0.2, 0.25, 0.5), (5.0, 1.0, 10.0)])
def test_ssim_of_two_constant_images_is_the_luminance_term(c1, c2, data_range):
    x, y = torch.full((1, 9, 8), c1, dtype=torch.float64), torch.full((1, 9, 8), c2, dtype=torch.float64)
    C1 = (0.01 * data_range) ** 2
    expected = (2 * c1 * c2 + C1) / (c1 ** 2 + c2 ** 2 + C1)
    assert float(ssim(x, y, data_range)) == pytest.approx(expected, rel=1e-9)


def ssim_loop(x: np.ndarray, y: np.ndarray, data_range: float, win: int = 7) -> float:
    """scikit-image's structural_similarity, window by window: sample (co)variances, 7×7 uniform windows that lie
    wholly inside the image, mean over them."""
    C1, C2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    values = []
    for r, c in itertools.product(range(x.shape[0] - win + 1), range(x.shape[1] - win + 1)):
        a, b = x[r:r + win, c:c + win].ravel(), y[r:r + win, c:c + win].ravel()
        ma, mb = a.mean(), b.mean()
        va, vb = a.var(ddof=1), b.var(ddof=1)
        cov = ((a - ma) * (b - mb)).sum() / (a.size - 1)
        values.append((2 * ma * mb + C1) * (2 * cov + C2) / ((ma ** 2 + mb ** 2 + C1) * (va + vb + C2)))
    return float(np.mean(values))


def test_ssim_matches_a_window_by_window_reference_and_scikit_image():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (12, 13))
    y = 0.7 * x + 0.3 * rng.uniform(0, 1, (12, 13))
    expected = ssim_loop(x, y, 1.0)
    got = ssim(torch.from_numpy(x)[None], torch.from_numpy(y)[None], 1.0)
    assert float(got) == pytest.approx(expected, rel=1e-9)
    assert float(ssim(torch.from_numpy(x)[None].float(), torch.from_numpy(y)[None].float(), 1.0)) == \
        pytest.approx(expected, rel=1e-4)
    metrics = pytest.importorskip("skimage.metrics")
    assert expected == pytest.approx(metrics.structural_similarity(x, y, data_range=1.0), rel=1e-9)


def test_ssim_uses_each_images_own_data_range():
    rng = np.random.default_rng(1)
    x, y = rng.uniform(0, 1, (2, 10, 10)), rng.uniform(0, 1, (2, 10, 10))
    got = ssim(torch.from_numpy(x), torch.from_numpy(y), torch.tensor([1.0, 3.0]))
    assert got.tolist() == pytest.approx([ssim_loop(x[0], y[0], 1.0), ssim_loop(x[1], y[1], 3.0)], rel=1e-9)


def test_volume_metrics_and_ssim_loss_agree_with_the_per_slice_values():
    rng = np.random.default_rng(2)
    target = torch.from_numpy(rng.uniform(0, 1, (3, 10, 11)))
    output = target + torch.from_numpy(rng.normal(0, 0.1, (3, 10, 11)))
    per_slice = [ssim_loop(target[i].numpy(), output[i].numpy(), 1.0) for i in range(3)]
    metrics = volume_metrics(target, output, 1.0)
    assert set(metrics) == {"nmse", "psnr", "ssim"}
    assert metrics["ssim"] == pytest.approx(np.mean(per_slice), rel=1e-9)
    assert metrics["nmse"] == pytest.approx(float(((target - output) ** 2).sum() / (target ** 2).sum()))
    assert metrics["psnr"] == pytest.approx(-10 * math.log10(float(((target - output) ** 2).mean())))
    loss = ssim_loss(output.unsqueeze(1), target.unsqueeze(1), torch.ones(3, dtype=torch.float64))
    assert float(loss) == pytest.approx(1 - np.mean(per_slice), rel=1e-9)
    assert float(ssim_loss(target, target, torch.ones(3))) == pytest.approx(0.0, abs=1e-9)


# ---------------------------------------------------------------- losses and noisy targets on real samples

def test_losses_of_the_target_itself_are_zero_for_both_model_kinds(roots):
    data = recon(roots[4], resolution=24)
    image = collate([data.slices("val", "image")[i] for i in range(3)])
    kspace = collate([data.slices("val", "kspace")[i] for i in range(3)])
    assert torch.all(image.norm_target.abs() < CLAMP)            # nothing clamped: the round trip is exact
    assert torch.allclose(image.to_image(image.norm_target), image.target,
                          atol=1e-5 * float(image.target.max()))
    for name in ("l1", "l2", "ssim", "ssim_l1"):
        assert sample_loss(name)(image.norm_target, image).shape == (3,)
        assert torch.allclose(sample_loss(name)(image.norm_target, image), torch.zeros(3), atol=1e-4)
        assert torch.allclose(sample_loss(name)(kspace.target, kspace), torch.zeros(3), atol=1e-4)
        worse = sample_loss(name)(kspace.zero_filled_image, kspace)
        assert torch.all(worse > 1e-4 if name not in ("l1", "l2") else worse > 0)
    offset = image.norm_target + 0.5                               # l2 is the mean square, l1 the mean absolute
    assert torch.allclose(sample_loss("l2")(offset, image), torch.full((3,), 0.25), atol=1e-6)
    assert torch.allclose(sample_loss("l1")(offset, image), torch.full((3,), 0.5), atol=1e-6)


def test_noisy_targets_add_non_negative_noise_only_on_the_chosen_rows(roots):
    batch = collate([recon(roots[1]).slices("val", "image")[i] for i in range(3)])
    rows = torch.tensor([True, False, True])
    noisy = with_noisy_targets(batch, rows, 0.2, torch.Generator().manual_seed(5))
    added = noisy.target - batch.target
    expected = torch.randn(batch.target.shape, generator=torch.Generator().manual_seed(5)).abs()
    expected = expected * 0.2 * batch.max_value.view(-1, 1, 1) * rows.view(-1, 1, 1)
    assert torch.all(added[1] == 0) and torch.equal(noisy.norm_target[1], batch.norm_target[1])
    assert torch.all(added[rows] >= 0) and torch.all(added[rows].flatten(1).max(1).values > 0)
    assert torch.allclose(added, expected, atol=1e-6 * float(batch.max_value.max()))
    ratio = added[rows] / (0.2 * batch.max_value[rows].view(-1, 1, 1))
    assert 0.6 < float(ratio.mean()) < 1.0                            # E|N(0,1)| = 0.80
    norm_added = noisy.norm_target - batch.norm_target
    assert torch.allclose(norm_added[:, 0], added / batch.std.view(-1, 1, 1), rtol=1e-4, atol=1e-4)
    assert noisy.image is batch.image and not torch.equal(noisy.target, batch.target)
    assert torch.equal(with_noisy_targets(batch, rows, 0.0).target, batch.target)
