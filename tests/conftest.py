"""Shared fixtures: tiny MedMNIST-layout files, a trained Digits model, and a way to run scripts in-process."""
import hashlib
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from utils.errors import run_cli

# One torch thread: the tests' models are tiny, so a second thread gains little even on idle cores, and on
# oversubscribed ones (other jobs running) it can cost ten times over (bench/bench_suite.py measures the suite).
# TEST_TORCH_THREADS overrides; processes the tests start (torchrun, DataLoader workers) follow via OMP_NUM_THREADS.
TEST_THREADS = os.environ.get("TEST_TORCH_THREADS", "1")
torch.set_num_threads(int(TEST_THREADS))
os.environ["OMP_NUM_THREADS"] = TEST_THREADS


def write_medmnist_npz(path: Path, n: tuple[int, int, int] = (40, 10, 12), size: int = 28, channels: int = 3,
                       num_classes: int = 8, multilabel: int = 0, seed: int = 0) -> Path:
    """An npz in exactly MedMNIST's layout: N×H×W(×3) uint8 images and N×L labels per split."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, count in zip(("train", "val", "test"), n):
        shape = (count, size, size, 3) if channels == 3 else (count, size, size)
        arrays[f"{split}_images"] = rng.integers(0, 256, shape, dtype=np.uint8)
        if multilabel:
            arrays[f"{split}_labels"] = rng.integers(0, 2, (count, multilabel), dtype=np.uint8)
        else:
            arrays[f"{split}_labels"] = (np.arange(count) % num_classes).astype(np.uint8)[:, None]
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)
    return path


class Cli:
    """Run a script's main(argv) the way the shell would; report its exit code and output."""

    def __init__(self, capsys):
        self.capsys = capsys

    def __call__(self, main, *argv: str):
        self.capsys.readouterr()
        code = 0
        try:
            run_cli(main, list(argv))
        except SystemExit as stop:
            code = stop.code
        out = self.capsys.readouterr()
        return code, out.out, out.err


@pytest.fixture
def cli(capsys):
    return Cli(capsys)


def expect_user_error(result, *fragments: str) -> None:
    """A Cli result of a user mistake: exit 2, one stderr line without a traceback, naming every fragment."""
    code, _, err = result
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in err, err


def fingerprint(folder: Path) -> dict[str, str]:
    """Content hash of every file under `folder`, to prove nothing was touched."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="session")
def trained_digits(tmp_path_factory):
    """A smallcnn trained on Digits once per session: (workdir, model id of the best checkpoint, summary)."""
    import main_train
    work = tmp_path_factory.mktemp("digits")
    summary = main_train.main(["--save_model_id", "digits", "--arch", "smallcnn", "--epochs", "8", "--lr", "0.05",
                               "--batch_size", "64", "--model_dir", str(work / "model_weights"),
                               "--runs_dir", str(work / "runs")])
    return work, "digits_best", summary


def own_copy(trained_digits, tmp_path_factory, name: str) -> tuple[Path, str]:
    """A new folder NAME*/model_weights/ holding a copy of the trained Digits model; the folder and the model's id."""
    import shutil
    source, model_id, _ = trained_digits
    work = tmp_path_factory.mktemp(name)
    (work / "model_weights").mkdir()
    shutil.copy(source / "model_weights" / f"{model_id}.pt", work / "model_weights")
    return work, model_id


@pytest.fixture(scope="session")
def unlearn_env(trained_digits, tmp_path_factory):
    """The Digits model in a folder of its own, with SalUn masks and a model retrained without class 3."""
    import generate_mask
    import main_unlearn
    work, model_id = own_copy(trained_digits, tmp_path_factory, "unlearn")
    common = ["--model_dir", str(work / "model_weights"), "--mask_dir", str(work / "SaliencyMaps"),
              "--runs_dir", str(work / "runs")]
    generate_mask.main(["--model_id", model_id, "--class_to_forget", "3", *common])
    retrain_id = main_unlearn.main(["--model_id", model_id, "--unlearn", "retrain", "--class_to_forget", "3", *common])
    return {"work": work, "model_id": model_id, "retrain_id": retrain_id, "common": common}


@pytest.fixture(scope="session")
def poisoned_digits(tmp_path_factory):
    """smallcnn trained on Digits with 10 % of the train split poisoned (3×3 patch, target 0)."""
    import main_train
    work = tmp_path_factory.mktemp("poisoned")
    common = ["--model_dir", str(work / "model_weights"), "--runs_dir", str(work / "runs")]
    main_train.main(["--save_model_id", "poisoned", "--arch", "smallcnn", "--epochs", "10", "--lr", "0.05",
                     "--batch_size", "64", "--dataset_method", "poisoning", "--forget_set_size", "126", *common])
    return {"work": work, "model_id": "poisoned_best", "common": common}
