"""Every user mistake: one line on stderr, exit code 2, no traceback, and nothing written or overwritten."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import examine_dataset
import main_test
import main_train
from tests.conftest import fingerprint, write_medmnist_npz

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def work(trained_digits, tmp_path, monkeypatch):
    """The trained Digits run, with the current folder moved to an empty one; checks nothing changed after."""
    folder, model_id, _ = trained_digits
    monkeypatch.chdir(tmp_path)
    before = fingerprint(folder)
    yield folder, model_id
    assert fingerprint(folder) == before
    assert not any(tmp_path.rglob("*.pt"))


def expect_user_error(result, *fragments: str) -> None:
    code, _, err = result
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in err, err


def dirs(folder: Path) -> list[str]:
    return ["--model_dir", str(folder / "model_weights"), "--runs_dir", str(folder / "runs")]


def test_unknown_dataset_and_arch_list_the_valid_names(work, cli):
    folder, _ = work
    expect_user_error(cli(main_train.main, "--save_model_id", "x", "--dataset", "BloodMNST", *dirs(folder)),
                      "unknown dataset 'BloodMNST'", "BloodMNIST")
    expect_user_error(cli(main_train.main, "--save_model_id", "x", "--arch", "resnet19", *dirs(folder)),
                      "unknown arch 'resnet19'", "smallcnn")


def test_missing_medmnist_file_names_the_file_and_download(work, cli, tmp_path):
    expect_user_error(cli(examine_dataset.main, "--dataset", "PathMNIST", "--size", "64", "--data_dir", str(tmp_path)),
                      "pathmnist_64.npz not found", "--download")


def test_broken_npz_files(work, cli, tmp_path):
    np.savez(tmp_path / "nokey.npz", train_images=np.zeros((2, 8, 8), np.uint8))
    expect_user_error(cli(examine_dataset.main, "--dataset", str(tmp_path / "nokey.npz")), "lacks train_labels")
    arrays = dict(np.load(write_medmnist_npz(tmp_path / "counts.npz")))
    arrays["test_labels"] = arrays["test_labels"][:5]
    np.savez(tmp_path / "counts.npz", **arrays)
    expect_user_error(cli(examine_dataset.main, "--dataset", str(tmp_path / "counts.npz")),
                      "test_images has 12 rows but test_labels has 5")


def test_existing_model_id_is_not_overwritten_without_overwrite(work, cli):
    folder, _ = work
    expect_user_error(cli(main_train.main, "--save_model_id", "digits", "--epochs", "1", *dirs(folder)),
                      "already exist", "--overwrite")


def test_model_id_with_no_checkpoint_lists_near_matches(work, cli):
    folder, _ = work
    expect_user_error(cli(main_test.main, "--model_id", "digit_best", *dirs(folder), "--no_gui"),
                      "no checkpoint", "near matches: digits_best")
    expect_user_error(cli(main_train.main, "--save_model_id", "nothing", "--resume", *dirs(folder)),
                      "nothing_last.pt does not exist")


def test_checkpoint_that_does_not_fit_the_dataset_or_arch(work, cli, tmp_path):
    folder, model_id = work
    two_class = write_medmnist_npz(tmp_path / "scans.npz", channels=1, num_classes=2)
    expect_user_error(cli(main_test.main, "--model_id", model_id, "--dataset", str(two_class), *dirs(folder), "--no_gui"),
                      "trained for 10 classes", "scans has 2")
    expect_user_error(cli(main_test.main, "--model_id", model_id, "--arch", "resnet18", *dirs(folder), "--no_gui"),
                      "is a smallcnn model but --arch resnet18")


def test_truncated_checkpoint_is_reported_not_crashed_on(work, cli, tmp_path):
    folder, model_id = work
    broken = tmp_path / "broken.pth"
    broken.write_bytes((folder / "model_weights" / f"{model_id}.pt").read_bytes()[:500])
    expect_user_error(cli(main_test.main, "--model_id", str(broken), "--no_gui"), "cannot read checkpoint")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_device_cuda_without_cuda(work, cli):
    folder, model_id = work
    expect_user_error(cli(main_test.main, "--model_id", model_id, "--device", "cuda", *dirs(folder), "--no_gui"),
                      "no CUDA device")


@pytest.mark.parametrize("flag,value", [("--epochs", "0"), ("--lr", "-0.1"), ("--batch_size", "0"), ("--lr", "0")])
def test_non_positive_numbers(work, cli, flag, value):
    folder, _ = work
    expect_user_error(cli(main_train.main, "--save_model_id", "n", flag, value, *dirs(folder)), flag, "positive")


def test_the_shell_sees_exit_2_and_one_line_without_traceback(tmp_path):
    run = subprocess.run([sys.executable, str(ROOT / "main_train.py"), "--save_model_id", "x", "--dataset", "nope"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and run.stderr.count("\n") == 1 and "Traceback" not in run.stderr
    assert not (tmp_path / "model_weights").exists()
