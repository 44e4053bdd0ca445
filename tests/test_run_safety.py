"""What a run promises: a diverged run saves nothing, outputs are never overwritten without --overwrite, one run per
id at a time, --overwrite clears the earlier run, --resume continues the run as it was started, and checkpoints are
only used with data of their own kind. Each bad call: exit 2, one stderr line, no traceback, files unchanged."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import main_test
import main_train
from tests.conftest import expect_user_error, fingerprint, write_medmnist_npz
from utils import checkpoints
from utils.errors import UserError
from utils.paths import run_lock

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--arch", "smallcnn", "--batch_size", "64", "--epochs", "1"]


@pytest.fixture
def work(trained_digits, tmp_path, monkeypatch):
    """The trained Digits run, the current folder moved to an empty one; every file of the run unchanged after."""
    folder, model_id = trained_digits[:2]
    monkeypatch.chdir(tmp_path)
    before = fingerprint(folder)
    yield folder, model_id
    assert fingerprint(folder) == before


def dirs(folder: Path) -> list[str]:
    return ["--model_dir", str(folder / "model_weights"), "--runs_dir", str(folder / "runs")]


def without_progress_bars(result: tuple) -> tuple:
    """The progress bars of the epochs that ran before the error, taken out of stderr."""
    code, out, err = result
    return code, out, "\n".join(line for line in err.splitlines() if line.startswith("error:"))


@pytest.mark.parametrize("run_id", ["boom", "digits"])  # a new id, and an existing one with --overwrite
def test_a_diverged_run_stops_before_saving_anything(work, cli, run_id):
    folder, _ = work
    result = cli(main_train.main, "--save_model_id", run_id, *TINY, "--lr", "1e6", "--overwrite", *dirs(folder))
    assert "Traceback" not in result[2]
    expect_user_error(without_progress_bars(result), "diverged", "Lower the learning rate")
    assert not (folder / "model_weights" / "boom_best.pt").exists()


def test_weights_that_are_not_finite_are_never_saved(tmp_path):
    model = torch.nn.Linear(2, 2)
    path = checkpoints.save_checkpoint(tmp_path / "ok.pt", model, {"arch": "x"})
    before = path.read_bytes()
    with torch.no_grad():
        model.weight[0, 0] = float("nan")
    with pytest.raises(UserError, match="NaN or inf"):
        checkpoints.save_checkpoint(path, model, {"arch": "x"})
    assert path.read_bytes() == before


@pytest.mark.parametrize("flag,value,fragment", [
    ("--lr", "inf", "finite"), ("--lr", "nan", "finite"), ("--momentum", "50", "[0, 1)"),
    ("--seed", "123456789012345678901", "0..4294967295"), ("--epochs", "nan", "invalid"),
    ("--weight_decay=-inf", None, "finite")])
def test_numbers_that_cannot_train(work, cli, flag, value, fragment):
    folder, _ = work
    number = [flag] if value is None else [flag, value]
    expect_user_error(cli(main_train.main, "--save_model_id", "n", *TINY, *number, *dirs(folder)), flag.split("=")[0],
                      fragment)


def test_report_files_are_not_overwritten_and_name_files(work, cli, tmp_path):
    folder, model_id = work
    test = ["--model_id", model_id, "--no_gui", *dirs(folder)]
    (tmp_path / "old.png").write_bytes(b"png")
    expect_user_error(cli(main_test.main, *test, "--json", str(folder / "model_weights" / f"{model_id}.pt")),
                      "already exists", "--overwrite")
    expect_user_error(cli(main_test.main, *test, "--save_fig", str(tmp_path / "old.png")), "already exists")
    expect_user_error(cli(main_test.main, *test, "--json", str(tmp_path)), "is a folder")
    (tmp_path / "file").write_text("x")
    expect_user_error(cli(main_test.main, *test, "--json", str(tmp_path / "file" / "out.json")), "is a file, not a folder")
    assert (tmp_path / "old.png").read_bytes() == b"png"


@pytest.mark.parametrize("bad", ["..", ".", "a/b", ".hidden", "-x", "run.pt"])
def test_ids_that_would_escape_or_hide_are_refused(work, cli, bad):
    folder, _ = work
    expect_user_error(cli(main_train.main, f"--save_model_id={bad}", *TINY, *dirs(folder)), "must be a plain name")


def test_a_second_run_of_the_same_id_is_refused_and_a_dead_runs_lock_is_taken_over(tmp_path, cli, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "model_weights"
    folder.mkdir()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        import socket
        (folder / ".busy.lock").write_text(f"{live.pid} {socket.gethostname()}")
        expect_user_error(cli(main_train.main, "--save_model_id", "busy", *TINY), "being written by another run")
        assert sorted(p.name for p in folder.iterdir()) == [".busy.lock"]
    finally:
        live.kill()
        live.wait()
    (folder / ".busy_last.pt.999999999.tmp").write_bytes(b"half")  # a killed writer's temporary file
    code, out, err = cli(main_train.main, "--save_model_id", "busy", *TINY)
    assert code == 0, err
    assert sorted(p.name for p in folder.iterdir()) == ["busy_best.pt", "busy_last.pt"]


def test_the_lock_is_held_for_the_run_and_released_after(tmp_path):
    with run_lock(tmp_path, "r") as lock:
        assert lock.read_text().split()[0] == str(os.getpid())
        with pytest.raises(UserError, match="being written by another run"):
            with run_lock(tmp_path, "r"):
                pass
    assert not lock.exists()


def test_overwrite_replaces_the_whole_earlier_run(tmp_path, cli, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli(main_train.main, "--save_model_id", "r", *TINY)[0] == 0
    (tmp_path / "runs" / "r" / "samples.png").write_text("not the run's: kept")
    stale = tmp_path / "model_weights" / "r_updates"
    stale.mkdir()
    (stale / "round000_B.pt").write_bytes(b"old")
    expect_user_error(cli(main_train.main, "--save_model_id", "r", *TINY), "already exist", "--overwrite")
    code, out, err = cli(main_train.main, "--save_model_id", "r", *TINY, "--overwrite", "--seed", "2")
    assert code == 0, err
    assert not stale.exists() and (tmp_path / "runs" / "r" / "samples.png").exists()
    assert torch.load(tmp_path / "model_weights" / "r_best.pt", weights_only=True)["meta"]["args"]["seed"] == 2


def test_resume_continues_the_run_as_it_was_started(tmp_path, cli, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli(main_train.main, "--save_model_id", "r", "--arch", "smallcnn", "--epochs", "1", "--lr", "0.02",
               "--batch_size", "32", "--no_aug")[0] == 0
    last = tmp_path / "model_weights" / "r_last.pt"
    before = fingerprint(tmp_path)
    for flag, value in (("--lr", "0.1"), ("--batch_size", "64"), ("--seed", "5"), ("--optimizer", "adam")):
        expect_user_error(cli(main_train.main, "--save_model_id", "r", "--epochs", "2", "--resume", flag, value),
                          "--resume", f"{flag} {value} differs from", "drop")
    assert fingerprint(tmp_path) == before
    code, _, err = cli(main_train.main, "--save_model_id", "r", "--epochs", "2", "--resume")
    assert code == 0, err
    recorded = torch.load(last, weights_only=True)["meta"]["args"]
    assert (recorded["lr"], recorded["batch_size"], recorded["no_aug"], recorded["epochs"]) == (0.02, 32, True, 2)


def test_a_checkpoint_is_used_only_with_data_of_its_size_and_dataset(work, cli, tmp_path):
    folder, model_id = work
    test = ["--model_id", model_id, "--no_gui", *dirs(folder)]
    expect_user_error(cli(main_test.main, *test, "--size", "64"), "28x28 images", "--size 28")
    # another dataset of Digits' shape and classes: refused unless asked for
    npz = write_medmnist_npz(tmp_path / "external.npz", size=28, channels=1, num_classes=10)
    expect_user_error(cli(main_test.main, *test, "--dataset", str(npz)), "trained on Digits", "--other_dataset")
    code, out, err = cli(main_test.main, *test, "--dataset", str(npz), "--other_dataset", "--runs_dir", "runs")
    assert code == 0, err


def test_a_full_disk_leaves_the_previous_checkpoint_intact(tmp_path, monkeypatch):
    model = torch.nn.Linear(2, 2)
    path = checkpoints.save_checkpoint(tmp_path / "m.pt", model, {})
    before = path.read_bytes()

    def full(obj, f, *args, **kwargs):
        Path(f).write_bytes(b"partial")
        raise RuntimeError("[enforce fail at inline_container.cc:664] . PytorchStreamWriter failed writing file data/0: "
                           "file write failed")
    monkeypatch.setattr(torch, "save", full)
    with pytest.raises(UserError, match="cannot write .*disk full.*previous file is unchanged"):
        checkpoints.save_checkpoint(path, model, {})
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["m.pt"]


def test_a_folder_in_place_of_the_model_dir_is_reported_before_training(tmp_path, cli, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "weights").write_text("a file")
    expect_user_error(cli(main_train.main, "--save_model_id", "r", *TINY, "--model_dir", "weights"),
                      "--model_dir", "is a file, not a folder")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_model_dir_is_reported_before_training(tmp_path, cli, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ro").mkdir(mode=0o555)
    expect_user_error(cli(main_train.main, "--save_model_id", "r", *TINY, "--model_dir", "ro"), "not writable")


def test_a_recon_network_too_deep_for_the_images(tmp_path, cli, monkeypatch):
    from datasets.mri.phantoms import write_volume
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        write_volume(tmp_path / "brain" / split / "b.h5", "brain", 2, 32, 1, rng)
    expect_user_error(cli(main_train.main, "--train_groups", "brain:brain", "--save_model_id", "u", "--epochs", "1",
                          "--chans", "4", "--num_pool_layers", "5"), "too deep for 32-pixel images",
                      "--num_pool_layers 4 or less")
    assert not (tmp_path / "model_weights").exists()
