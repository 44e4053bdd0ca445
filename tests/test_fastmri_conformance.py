"""The reconstruction data path against fastMRI's rules (fastmri 0.3.0), with every expected value worked out by hand:
the mask functions and the order they draw from a seed (data/subsample.py), the ismrmrd_header padding and recon
size (SliceDataset._retrieve_metadata), the U-Net and VarNet masks and crops (data/transforms.py, the VarNet
module's steps), test files with a stored mask and no target, and submission files (utils.save_reconstructions)."""
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

import main_test
from datasets.mri.data import ReconData, SliceDataset, read_header, scan_volume
from datasets.mri.subsample import MaskFunc, mask_seed
from datasets.mri.transforms import center_crop, ifft2c, recon_crop, rss
from models import create_model
from models.recon.varnet import num_low_freqs_and_pad
from utils.checkpoints import save_checkpoint
from utils.errors import UserError

NS = "http://www.ismrm.org/ISMRMRD"


def header(enc: tuple[int, int], recon: tuple[int, int], center: int, maximum: int) -> bytes:
    """An ISMRMRD header shaped as in fastMRI's files, with the fields its SliceDataset reads."""
    def matrix(x: int, y: int) -> str:
        return f"<matrixSize><x>{x}</x><y>{y}</y><z>1</z></matrixSize>"

    return (f'<?xml version="1.0" encoding="utf-8"?>\n<ismrmrdHeader xmlns="{NS}"><encoding>'
            f"<encodedSpace>{matrix(*enc)}</encodedSpace><reconSpace>{matrix(*recon)}</reconSpace><encodingLimits>"
            f"<kspace_encoding_step_1><minimum>0</minimum><maximum>{maximum}</maximum><center>{center}</center>"
            f"</kspace_encoding_step_1><slice><minimum>0</minimum><maximum>0</maximum><center>0</center></slice>"
            f"</encodingLimits><trajectory>cartesian</trajectory></encoding></ismrmrdHeader>").encode()


def kspace(*shape: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape) + 0.5).astype(np.complex64)


def write_fastmri(path: Path, k: np.ndarray, *, target: np.ndarray | None = None, mask: np.ndarray | None = None,
                  xml: bytes | None = None) -> Path:
    """A file in fastMRI's layout: ismrmrd_header, kspace, the target with attrs max and norm (train / val files),
    or the acquired columns as `mask` and no target (test / challenge files)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as hf:
        if xml is not None:
            hf.create_dataset("ismrmrd_header", data=np.bytes_(xml))
        hf.create_dataset("kspace", data=k)
        if target is not None:
            hf.create_dataset("reconstruction_rss" if k.ndim == 4 else "reconstruction_esc", data=target)
            hf.attrs["max"], hf.attrs["norm"] = float(target.max()), float(np.linalg.norm(target))
        if mask is not None:
            hf.create_dataset("mask", data=mask)
            hf.attrs["acceleration"], hf.attrs["num_low_frequency"] = 4, 2
        hf.attrs["acquisition"] = "CORPD_FBK"
    return path


def kept(mask: torch.Tensor) -> set[int]:
    return set(np.flatnonzero(mask.numpy()).tolist())


def centre(num_cols: int, num_low: int) -> set[int]:
    pad = (num_cols - num_low + 1) // 2
    return set(range(pad, pad + num_low))


def offset(seed: int, high: int) -> int:
    """fastMRI's offset draw: after the pair is chosen (randint over one pair), randint(0, high)."""
    rng = np.random.RandomState(seed)
    rng.randint(1)
    return int(rng.randint(0, high))


# ---------------------------------------------------------------- masks (data/subsample.py)

def test_equispaced_keeps_every_fourth_column_and_equispaced_fraction_a_quarter_in_all():
    # 368 columns, 4x, centre 0.08: round(29.44) = 29 centre columns, pad (368 − 29 + 1) // 2 = 170 -> 170 ... 198
    assert offset(19, 4) == 1 and offset(19, 5) == 2
    mask, num_low = MaskFunc("equispaced", (0.08,), (4.0,))(368, np.random.RandomState(19))
    assert num_low == 29 and kept(mask) == centre(368, 29) | set(range(1, 368, 4))
    assert len(kept(mask)) == 29 + 92 - 7 == 114          # 7 of the columns 1, 5, 9 ... lie in 170 ... 198
    # fraction: spacing 4·(29 − 368) / (29·4 − 368) = 1356 / 252 ≈ 5.38, offset below round(5.38) = 5
    mask, num_low = MaskFunc("equispaced_fraction", (0.08,), (4.0,))(368, np.random.RandomState(19))
    spaced = set(np.around(np.arange(2, 367, 1356 / 252)).astype(int).tolist())
    assert num_low == 29 and kept(mask) == centre(368, 29) | spaced and len(kept(mask)) == 92


def test_random_mask_is_fastmris_draw_for_the_file_names_seed():
    seed = mask_seed("file1000.h5")
    rng = np.random.RandomState(seed)
    fraction, acceleration = [(0.08, 4), (0.04, 8)][rng.randint(2)]     # the pair first, then one uniform per column
    num_low = round(368 * fraction)
    prob = (368 / acceleration - num_low) / (368 - num_low)
    expected = set(np.flatnonzero(rng.uniform(size=368) < prob).tolist()) | centre(368, num_low)
    mask, got_low = MaskFunc("random", (0.08, 0.04), (4.0, 8.0))(368, np.random.RandomState(seed))
    assert got_low == num_low and kept(mask) == expected
    # Python's round (half to even) on num_cols · fraction: 25 · 0.1 = 2.5 -> 2 centre columns, 12 and 13
    mask, num_low = MaskFunc("random", (0.1,), (3.0,))(25, np.random.RandomState(0))
    assert num_low == 2 and centre(25, 2) == {12, 13} <= kept(mask)


def test_magic_masks_sample_no_column_with_its_conjugate():
    # 16 columns, 4x: halves of 8; offset o even -> positive[o+1::4], negative[o+2::4]; odd -> o+2, o−1;
    # the negative half reversed, both joined and fftshifted; centre round(1.28) = 1 column, 8
    by_offset = {0: {1, 5, 9, 13}, 1: {3, 7, 11, 15}, 2: {3, 11, 15}, 3: {1, 5, 13}}
    offsets = set()
    for seed in range(8):
        mask, num_low = MaskFunc("magic", (0.08,), (4.0,))(16, np.random.RandomState(seed))
        outer = by_offset[offset(seed, 4)]
        assert num_low == 1 and kept(mask) == outer | {8}
        assert not {16 - c for c in outer} & outer        # column k and its conjugate 16 − k are never both kept
        offsets.add(offset(seed, 4))
    assert offsets == set(by_offset)


def test_magic_fraction_spaces_the_outer_columns_to_keep_one_in_acceleration():
    # 32 columns, 4x: 8 to keep, centre round(2.56) = 3 (15, 16, 17), so 5 outer: spacing round(32 / 5) = 6;
    # offset 0 -> positive[1::6] = 1, 7, 13 and negative[2::6] reversed -> 17, 23, 29
    seed = next(s for s in range(50) if offset(s, 6) == 0)
    mask, num_low = MaskFunc("magic_fraction", (0.08,), (4.0,))(32, np.random.RandomState(seed))
    assert num_low == 3 and kept(mask) == {1, 7, 13, 15, 16, 17, 23, 29}
    # 16 columns, centre round(0.32) = 0 raised to 1 (column 8), 4 to keep, spacing round(16 / 3) = 5;
    # offset 0 -> positive[1::5] = 1, 6, negative[2::5] reversed -> 8, 13, all fftshifted by 8
    seed = next(s for s in range(50) if offset(s, 5) == 0)
    mask, num_low = MaskFunc("magic_fraction", (0.02,), (4.0,))(16, np.random.RandomState(seed))
    assert num_low == 1 and kept(mask) == {0, 5, 8, 9, 14}


# ---------------------------------------------------------------- header padding, VarNet and U-Net masks

def test_header_gives_fastmris_padding_and_recon_size(tmp_path):
    # padding_left = 372 // 2 − 171 = 15, padding_right = 15 + 332 + 1 = 348; reconSpace (x, y) = (320, 320)
    assert read_header(tmp_path, header((640, 372), (320, 320), center=171, maximum=332)) == ((15, 348), (320, 320))
    with pytest.raises(UserError, match="kspace_encoding_step_1/center"):
        read_header(tmp_path, header((640, 372), (320, 320), 171, 332).replace(b"<center>171</center>", b""))


def test_varnet_mask_leaves_the_padded_columns_out_and_the_unet_keeps_them(tmp_path):
    # 24 columns, centre 10, maximum 17: padding (24 // 2 − 10, 2 + 17 + 1) = (2, 20)
    k = kspace(1, 2, 16, 24)
    target = rss(ifft2c(torch.from_numpy(k))).numpy()
    path = write_fastmri(tmp_path / "file_pad.h5", k, target=target, xml=header((16, 24), (16, 16), 10, 17))
    volume = scan_volume(path, "knee")
    assert volume.padding == (2, 20) and volume.recon_size == (16, 16)
    mask_func = MaskFunc("equispaced", (0.08,), (2.0,))
    drawn, _ = mask_func(24, np.random.RandomState(mask_seed("file_pad.h5")))
    assert drawn[:2].any() and drawn[20:].any()
    expected = drawn.clone()
    expected[:2], expected[20:] = False, False
    sample = SliceDataset([volume], "kspace", mask_func, None, False, 0)[0]
    assert torch.equal(sample.mask[0, 0], expected)
    assert torch.all(sample.kspace[..., ~expected] == 0) and torch.all(sample.kspace[..., expected] != 0)
    image = SliceDataset([volume], "image", mask_func, None, False, 0)[0]      # UnetDataTransform: no padding
    whole = rss(ifft2c(torch.from_numpy(k) * drawn))[0]
    assert torch.allclose(image.mean, whole.mean(), rtol=1e-5)
    unheaded = write_fastmri(tmp_path / "plain" / "file_pad.h5", k, target=target)   # no header: no padding
    plain = SliceDataset([scan_volume(unheaded, "knee")], "kspace", mask_func, None, False, 0)[0]
    assert torch.equal(plain.mask[0, 0], drawn)


# ---------------------------------------------------------------- crops

def test_256_columns_and_a_320_target_crop_to_256_square_for_the_unet_and_320_by_256_for_the_varnet(tmp_path):
    k = kspace(1, 640, 256)
    target = np.abs(np.random.default_rng(1).standard_normal((1, 320, 320))).astype(np.float32)
    path = write_fastmri(tmp_path / "flair.h5", k, target=target, xml=header((640, 256), (320, 320), 128, 255))
    volume, mask_func = scan_volume(path, "brain"), MaskFunc("random", (0.08,), (4.0,))
    image = SliceDataset([volume], "image", mask_func, None, False, 0)[0]
    assert image.image.shape == (1, 256, 256)
    assert torch.equal(image.target, center_crop(torch.from_numpy(target[0]), (256, 256)))
    varnet = SliceDataset([volume], "kspace", mask_func, None, False, 0)[0]      # center_crop_to_smallest in training
    assert varnet.target.shape == (320, 256) and varnet.crop.tolist() == [256, 256]  # test_step's crop
    capped = SliceDataset([volume], "image", mask_func, 200, False, 0)[0]
    assert capped.image.shape == (1, 200, 200) and capped.target.shape == (200, 200)
    assert recon_crop(None, (320, 320), 640, 368) == (320, 320) and recon_crop(None, (320, 320), 640, 256) == (256, 256)


# ---------------------------------------------------------------- test files and submissions

def write_test_file(path: Path, height: int, width: int, slices: int = 2) -> Path:
    """A multi-coil test file: k-space zero outside the stored mask (columns 0, 3 and the centre 10 ... 13 of 24),
    header recon 16 × 16, acquired columns (24 // 2 − 11, 1 + 21 + 1) = (1, 23) when 24 wide."""
    mask = np.zeros(width, bool)
    mask[[0, width // 8]] = True
    mask[width // 2 - 2:width // 2 + 2] = True
    k = kspace(slices, 2, height, width) * mask
    return write_fastmri(path, k, mask=mask, xml=header((height, width), (16, 16), width // 2 - 1, width - 3))


def test_test_files_are_read_with_their_stored_mask_and_only_for_inference(tmp_path):
    path = write_test_file(tmp_path / "test" / "file_t.h5", 32, 24)
    volume = scan_volume(path, "knee")
    assert not volume.has_target and volume.padding == (1, 23) and volume.max_value == 0.0
    sample = SliceDataset([volume], "kspace", MaskFunc("random", (0.08,), (4.0,)), None, False, 0)[0]
    assert kept(sample.mask[0, 0]) == {3, 10, 11, 12, 13}       # column 0 lies in the padding
    assert sample.num_low == 0 and sample.target.numel() == 0 and sample.crop.tolist() == [16, 16]
    num_low, pad = num_low_freqs_and_pad(sample.mask.unsqueeze(0), 1, torch.tensor([0]))
    assert num_low.tolist() == [4] and pad.tolist() == [10]           # the VarNet counts the centre 10 ... 13
    data = ReconData({"knee": tmp_path}, MaskFunc("random", (0.08,), (4.0,)), split="test")
    with pytest.raises(UserError, match="file_t.h5.*--submission_dir"):
        data.slices("test", "image")
    assert data.slices("test", "image", inference=True)[0].image.shape == (1, 16, 16)
    (tmp_path / "test").rename(tmp_path / "train")
    with pytest.raises(UserError, match="no target"):
        ReconData({"knee": tmp_path}, MaskFunc("random", (0.08,), (4.0,))).slices("train", "kspace", train=True)


def save_model(model_dir: Path, arch: str, challenge: str, **kwargs) -> torch.nn.Module:
    torch.manual_seed(0)
    model = create_model(arch, in_channels=1, **kwargs)
    meta = {"task": "reconstruction", "dataset": "knee", "challenge": challenge, "arch": arch,
            "kind": "image" if arch == "unet" else "kspace", "model_kwargs": {"in_channels": 1, **kwargs}}
    save_checkpoint(model_dir / f"{arch}_best.pt", model, meta)
    return model


def test_main_test_writes_fastmri_submission_files_from_test_files(tmp_path):
    write_test_file(tmp_path / "knee" / "test" / "file_a.h5", 32, 24)
    write_test_file(tmp_path / "knee" / "test" / "file_b.h5", 48, 12, slices=1)      # 12 columns < 16: 12 × 12
    model = save_model(tmp_path / "mw", "varnet", "multicoil", num_cascades=1, chans=2, pools=1, sens_chans=2,
                       sens_pools=1)
    out = tmp_path / "submission"
    flags = ["--train_groups", f"knee:{tmp_path / 'knee'}", "--split", "test", "--model_id", "varnet_best",
             "--model_dir", str(tmp_path / "mw"), "--batch_size", "1", "--device", "cpu", "--submission_dir", str(out)]
    main_test.main(flags)
    assert sorted(p.name for p in out.iterdir()) == ["file_a.h5", "file_b.h5"]
    with h5py.File(out / "file_a.h5", "r") as hf:
        assert list(hf) == ["reconstruction"] and hf["reconstruction"].dtype == np.float32
        written = hf["reconstruction"][()]
    with h5py.File(out / "file_b.h5", "r") as hf:
        assert hf["reconstruction"].shape == (1, 12, 12)
    assert written.shape == (2, 16, 16)
    data = ReconData({"knee": tmp_path / "knee"}, MaskFunc("random", (0.08,), (4.0,)), split="test")
    sample = data.slices("test", "kspace", inference=True)[1]                   # file_a, slice 1
    with torch.no_grad():
        expected = model.eval()(sample.kspace[None], sample.mask[None], torch.tensor([0]))[0]
    assert np.allclose(written[1], center_crop(expected, (16, 16)).numpy(), rtol=1e-4, atol=1e-6)
    with pytest.raises(UserError, match="file_a.h5 exists.*--overwrite"):
        main_test.main(flags)
    main_test.main([*flags, "--overwrite"])
    (out / "file_a.h5").unlink()
    (out / "file_b.h5").unlink()
    out.rmdir()
    out.write_text("")
    with pytest.raises(UserError, match="is a file"):
        main_test.main(flags)


def test_unet_submission_of_a_challenge_file_is_320_square(tmp_path):
    mask = np.zeros(368, bool)
    mask[::4] = mask[170:199] = True
    k = kspace(1, 640, 368) * mask
    write_fastmri(tmp_path / "knee" / "test" / "file1000_v2.h5", k, mask=mask,
                  xml=header((640, 368), (320, 320), 168, 335))
    save_model(tmp_path / "mw", "unet", "singlecoil", chans=2, num_pool_layers=1)
    out = tmp_path / "sub"
    main_test.main(["--train_groups", f"knee:{tmp_path / 'knee'}", "--split", "test", "--model_id", "unet_best",
                    "--model_dir", str(tmp_path / "mw"), "--device", "cpu", "--submission_dir", str(out)])
    with h5py.File(out / "file1000_v2.h5", "r") as hf:
        assert hf["reconstruction"].shape == (1, 320, 320) and hf["reconstruction"].dtype == np.float32
