"""The offline MRI phantom generator: fastMRI's h5 format, the FFT convention, seeding, families, layout, CLI."""
import subprocess
import sys
import xml.etree.ElementTree as etree
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from datasets.mri import phantoms as mri_phantoms
from datasets.mri.phantoms import generate, write_volume
from datasets.mri.transforms import ifft2c, rss
from tests.conftest import fingerprint
from utils.errors import UserError

ROOT = Path(__file__).resolve().parents[1]
NS = {"m": "http://www.ismrm.org/ISMRMRD"}


def read(path: Path) -> dict:
    with h5py.File(path, "r") as hf:
        return {"keys": sorted(hf.keys()), "attrs": dict(hf.attrs),
                **{key: hf[key][()] for key in hf.keys()}}


def volume(tmp_path, family="brain", coils=1, seed=0, name="v.h5", **kwargs) -> dict:
    path = write_volume(tmp_path / name, family, 4, 32, coils, np.random.default_rng(seed), **kwargs)
    return read(path)


def test_single_coil_file_has_fastmri_keys_shapes_dtypes_and_attrs(tmp_path):
    data = volume(tmp_path, "knee", scale=3e-4)
    assert data["keys"] == ["ismrmrd_header", "kspace", "reconstruction_esc"]
    assert data["kspace"].shape == (4, 32, 32) and data["kspace"].dtype == np.complex64
    assert data["reconstruction_esc"].shape == (4, 32, 32) and data["reconstruction_esc"].dtype == np.float32
    target, attrs = data["reconstruction_esc"], data["attrs"]
    assert set(attrs) == {"acquisition", "max", "norm", "patient_id"}
    assert attrs["acquisition"] == "CORPD_FBK" and isinstance(attrs["patient_id"], str)
    assert attrs["max"] == pytest.approx(float(target.max()))
    assert attrs["norm"] == pytest.approx(float(np.linalg.norm(target)))
    assert 0.9 * 3e-4 < attrs["max"] < 1.1 * 3e-4        # --scale sets the volume max, fastMRI-small
    assert np.abs(data["kspace"].imag).max() > 0 and np.iscomplexobj(data["kspace"])


def test_multi_coil_file_has_coil_axis_and_rss_target(tmp_path):
    data = volume(tmp_path, "brain", coils=4)
    assert data["keys"] == ["ismrmrd_header", "kspace", "reconstruction_rss"]
    assert data["kspace"].shape == (4, 4, 32, 32) and data["kspace"].dtype == np.complex64
    assert data["reconstruction_rss"].shape == (4, 32, 32) and data["reconstruction_rss"].dtype == np.float32
    assert data["attrs"]["acquisition"] == "AXT2"
    coil_energy = (np.abs(data["kspace"]) ** 2).sum(axis=(0, 2, 3))
    assert coil_energy.max() / coil_energy.min() > 1.01       # coils see the object differently


@pytest.mark.parametrize("coils", [1, 3])
def test_torch_ifft2c_of_stored_kspace_gives_the_stored_target(tmp_path, coils):
    data = volume(tmp_path, "brain", coils=coils, noise=0.05)
    images = ifft2c(torch.from_numpy(data["kspace"]))
    got = (rss(images, dim=1) if coils > 1 else images.abs()).numpy()
    target = data["reconstruction_rss" if coils > 1 else "reconstruction_esc"]
    assert np.abs(got - target).max() <= 1e-5 * target.max()


def test_numpy_fft2c_matches_the_torch_convention():
    x = np.random.default_rng(0).standard_normal((2, 17, 16)) + 1j
    from datasets.mri.transforms import fft2c
    np.testing.assert_allclose(mri_phantoms.fft2c(x), fft2c(torch.from_numpy(x)).numpy(), atol=1e-12)
    np.testing.assert_allclose(mri_phantoms.ifft2c(mri_phantoms.fft2c(x)), x, atol=1e-12)


def test_ismrmrd_header_parses_and_gives_zero_padding_as_fastmri_computes_it(tmp_path):
    root = etree.fromstring(volume(tmp_path)["ismrmrd_header"])
    size = {space: [int(root.find(f"m:encoding/m:{space}/m:matrixSize/m:{a}", NS).text) for a in "xyz"]
            for space in ("encodedSpace", "reconSpace")}
    assert size == {"encodedSpace": [32, 32, 1], "reconSpace": [32, 32, 1]}
    limits = root.find("m:encoding/m:encodingLimits/m:kspace_encoding_step_1", NS)
    centre, maximum = int(limits.find("m:center", NS).text), int(limits.find("m:maximum", NS).text)
    assert (centre, maximum, int(limits.find("m:minimum", NS).text)) == (16, 31, 0)
    padding_left = size["encodedSpace"][1] // 2 - centre         # fastMRI SliceDataset's arithmetic
    assert (padding_left, padding_left + maximum + 1) == (0, 32)


def test_same_seed_same_arrays_other_seed_different(tmp_path):
    a, b = volume(tmp_path, seed=5, name="a.h5"), volume(tmp_path, seed=5, name="b.h5")
    c = volume(tmp_path, seed=6, name="c.h5")
    np.testing.assert_array_equal(a["kspace"], b["kspace"])
    np.testing.assert_array_equal(a["reconstruction_esc"], b["reconstruction_esc"])
    assert not np.allclose(a["reconstruction_esc"], c["reconstruction_esc"])


def test_generate_is_reproducible_and_volumes_differ(tmp_path):
    first = generate(tmp_path / "a", "knee", 3, 2, 16, seed=1)
    second = generate(tmp_path / "b", "knee", 3, 2, 16, seed=1)
    assert [p.name for p in first] == [p.name for p in second]
    assert fingerprint(tmp_path / "a").keys() == fingerprint(tmp_path / "b").keys()
    for p, q in zip(first, second):
        np.testing.assert_array_equal(read(p)["kspace"], read(q)["kspace"])
    assert not np.allclose(read(first[0])["kspace"], read(first[1])["kspace"])


def edge_signal(target: np.ndarray) -> float:
    """Mean magnitude of the top and bottom 3 rows, relative to the volume max."""
    return float(np.concatenate([target[:, :3], target[:, -3:]], axis=1).mean() / target.max())


def vertical_structure(target: np.ndarray) -> float:
    """Energy of horizontal differences over that of vertical differences: > 1 for vertical bars."""
    return float((np.diff(target, axis=2) ** 2).sum() / (np.diff(target, axis=1) ** 2).sum())


def test_brain_and_knee_families_differ_in_structure(tmp_path):
    brain = [read(p)["reconstruction_esc"] for p in generate(tmp_path / "b", "brain", 4, 4, 48, test_volumes=1)]
    knee = [read(p)["reconstruction_esc"] for p in generate(tmp_path / "k", "knee", 4, 4, 48, test_volumes=1)]
    # heads sit inside the field of view; legs run through its top and bottom edges
    assert max(edge_signal(t) for t in brain) < 0.1 < min(edge_signal(t) for t in knee)
    # legs are vertical bars (measured 5.7-10 at 48 px); heads are roundish ellipses (1.1-2.1)
    assert max(vertical_structure(t) for t in brain) < 3.5 < min(vertical_structure(t) for t in knee)


def test_slices_change_smoothly_within_a_volume(tmp_path):
    def neighbour_change(target):
        return np.abs(np.diff(target, axis=0)).mean() / target.max()

    def slices(count, seed=0):
        path = write_volume(tmp_path / f"{count}_{seed}.h5", "brain", count, 32, 1, np.random.default_rng(seed),
                            noise=0.0)
        return read(path)["reconstruction_esc"]

    coarse, fine, other = slices(4), slices(16), slices(16, seed=1)
    assert 0 < neighbour_change(fine) < 0.5 * neighbour_change(coarse)   # same anatomy, sampled finer
    assert neighbour_change(fine) < 0.5 * np.abs(fine - other).mean() / fine.max()


def test_noise_is_relative_to_kspace_rms_and_contrast_changes_the_histogram(tmp_path):
    clean = volume(tmp_path, "knee", noise=0.0, name="clean.h5")["kspace"]
    noisy = volume(tmp_path, "knee", noise=0.1, name="noisy.h5")["kspace"]
    ratio = np.sqrt(np.mean(np.abs(noisy - clean) ** 2) / np.mean(np.abs(clean) ** 2))
    assert ratio == pytest.approx(0.1, rel=0.1)
    flat = volume(tmp_path, "knee", noise=0.0, name="g1.h5")["reconstruction_esc"]
    steep = volume(tmp_path, "knee", noise=0.0, contrast=2.0, name="g2.h5")["reconstruction_esc"]
    assert steep.max() == pytest.approx(flat.max(), rel=1e-3)   # renormalised to the same max
    assert (steep / steep.max()).mean() < 0.9 * (flat / flat.max()).mean()


def test_existing_split_is_refused_unless_overwrite_which_replaces_only_this_family(tmp_path):
    generate(tmp_path, "brain", 4, 2, 16)
    before = fingerprint(tmp_path)
    with pytest.raises(UserError, match="already holds .h5 files.*--overwrite"):
        generate(tmp_path, "brain", 4, 2, 16, seed=3)
    assert fingerprint(tmp_path) == before
    generate(tmp_path, "brain", 2, 2, 16, overwrite=True)            # fewer volumes: stale ones go
    generate(tmp_path, "knee", 1, 2, 16, overwrite=True)             # another family joins: brain stays
    names = sorted(p.name for p in (tmp_path / "train").glob("*.h5"))
    assert names == ["file1000000.h5", "file_brain_AXT2_000000.h5", "file_brain_AXT2_000001.h5"]


def run_module(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "datasets.mri.phantoms", *argv], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


def test_cli_writes_train_val_test_and_the_sequence_layout(tmp_path):
    done = run_module("--out", str(tmp_path / "fastmri"), "--family", "knee", "--volumes", "5", "--slices", "2",
                      "--size", "16", "--coils", "2", "--seed", "7")
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.strip().splitlines()) == 1 and "wrote 7 knee volumes" in done.stdout
    files = {split: sorted(p.name for p in (tmp_path / "fastmri" / split).glob("*.h5"))
             for split in ("train", "val", "test")}
    assert [len(files[s]) for s in ("train", "val", "test")] == [5, 1, 1]
    assert files["train"][0] == "file1007000.h5"
    assert files["val"] == ["file1107000.h5"] and files["test"] == ["file1207000.h5"]
    assert read(tmp_path / "fastmri" / "val" / "file1107000.h5")["kspace"].shape == (2, 2, 16, 16)

    done = run_module("--out", str(tmp_path / "brats"), "--family", "brain", "--volumes", "2", "--slices", "2",
                      "--size", "16", "--sequence", "T1", "--val_volumes", "2", "--test_volumes", "1")
    assert done.returncode == 0, done.stderr
    counts = [len(list((tmp_path / "brats" / "T1" / split).glob("file_brain_AXT1_*.h5")))
              for split in ("train", "val", "test")]
    assert counts == [2, 2, 1] and not (tmp_path / "brats" / "train").exists()


BAD_INPUT = [
    (["--family", "liver"], "invalid choice"),
    (["--family", "brain", "--volumes", "0"], "--volumes"),
    (["--family", "brain", "--slices", "-2"], "--slices"),
    (["--family", "brain", "--size", "8"], "--size 8"),
    (["--family", "brain", "--coils", "0"], "--coils"),
    (["--family", "brain", "--seed", "-1"], "--seed -1"),
    (["--family", "brain", "--noise", "-0.1"], "--noise"),
    (["--family", "brain", "--scale", "inf"], "finite positive number, got inf"),
    (["--family", "brain", "--sequence", "FLAIR"], "invalid choice"),
]


@pytest.mark.parametrize("argv,fragment", BAD_INPUT)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(cli, tmp_path, argv, fragment):
    code, _, err = cli(mri_phantoms.main, "--out", str(tmp_path / "out"), *argv)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert fragment in err
    assert not (tmp_path / "out").exists()


def test_bad_input_through_the_shell(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    done = run_module("--out", str(tmp_path / "file"), "--family", "knee")
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "is a file" in done.stderr and not done.stdout
