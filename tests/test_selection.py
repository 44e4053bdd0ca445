"""The best checkpoint is chosen on val, never on test: a federated target without a val split and a reconstruction
run without one keep the last round / epoch, say so, and read no test volume while training."""
import shutil

import pytest
import torch

import datasets.mri.data
import main_train
from datasets.mri.phantoms import generate

NET = ["--arch", "unet", "--chans", "4", "--num_pool_layers", "2", "--lr", "1e-3"]


@pytest.fixture
def splits_read(monkeypatch) -> list[tuple[str, str]]:
    """(group, split) of every split whose volumes are read."""
    read = []
    scan = datasets.mri.data.scan_group

    def counting(name, root, split, *args, **kwargs):
        read.append((name, split))
        return scan(name, root, split, *args, **kwargs)

    monkeypatch.setattr(datasets.mri.data, "scan_group", counting)
    return read


def weights(path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=True)


def test_federated_target_without_val_keeps_the_last_round_and_reads_no_test(tmp_path, splits_read, capsys):
    for letter, family, seed in (("A", "brain", 1), ("B", "knee", 2)):
        generate(tmp_path / letter, family, volumes=2, slices=2, size=32, seed=seed, sequence="T1")
    shutil.rmtree(tmp_path / "B" / "T1" / "val")
    summary = main_train.main(["--federated", "fedavg", "--sites", f"A:{tmp_path / 'A'},B:{tmp_path / 'B'}",
                               "--sequence", "T1", "--test_dataset", "B", *NET, "--local_bs", "2", "--epochs", "2",
                               "--save_model_id", "fed", "--model_dir", str(tmp_path / "mw"),
                               "--runs_dir", str(tmp_path / "runs")])
    out = capsys.readouterr().out
    assert not any(split == "test" for _, split in splits_read), splits_read
    assert "target B has no val split: keeping the last round" in out
    assert "the best checkpoint is the last round (2)" in out and "PSNR" not in out
    best, last = weights(tmp_path / "mw" / "fed_best.pt"), weights(tmp_path / "mw" / "fed_last.pt")
    assert summary["best_epoch"] == 2 and best["meta"]["best"]["selected_on"] == "last round (no val split)"
    assert all(torch.equal(best["state_dict"][k], last["state_dict"][k]) for k in last["state_dict"])


def test_federated_target_with_val_selects_on_its_val_split(tmp_path, splits_read, capsys):
    for letter, family, seed in (("A", "brain", 1), ("B", "knee", 2)):
        generate(tmp_path / letter, family, volumes=2, slices=2, size=32, seed=seed, sequence="T1")
    main_train.main(["--federated", "fedavg", "--sites", f"A:{tmp_path / 'A'},B:{tmp_path / 'B'}", "--sequence", "T1",
                     "--test_dataset", "B", *NET, "--local_bs", "2", "--epochs", "1", "--save_model_id", "fed",
                     "--model_dir", str(tmp_path / "mw"), "--runs_dir", str(tmp_path / "runs")])
    assert ("B", "val") in splits_read and not any(split == "test" for _, split in splits_read)
    assert "best target PSNR" in capsys.readouterr().out
    assert weights(tmp_path / "mw" / "fed_best.pt")["meta"]["best"]["selected_on"] == "val"


def test_reconstruction_run_without_val_prints_no_best_val_psnr(tmp_path, splits_read, capsys):
    generate(tmp_path / "brain", "brain", volumes=2, slices=2, size=32, seed=1)
    shutil.rmtree(tmp_path / "brain" / "val")
    summary = main_train.main(["--train_groups", f"brain:{tmp_path / 'brain'}", *NET, "--batch_size", "2",
                               "--epochs", "2", "--save_model_id", "r", "--model_dir", str(tmp_path / "mw"),
                               "--runs_dir", str(tmp_path / "runs")])
    out = capsys.readouterr().out
    assert "best val PSNR" not in out and "the best checkpoint is the last epoch (2)" in out
    assert "no val split: keeping the last epoch" in out
    assert summary["best_val_psnr"] is None and summary["best_epoch"] == 2
    assert not any(split == "test" for _, split in splits_read), splits_read
    assert weights(tmp_path / "mw" / "r_best.pt")["meta"]["best"]["selected_on"] == "last epoch (no val split)"
