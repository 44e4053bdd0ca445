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
from tests.conftest import expect_user_error, fingerprint, write_medmnist_npz

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


def dirs(folder: Path) -> list[str]:
    return ["--model_dir", str(folder / "model_weights"), "--runs_dir", str(folder / "runs")]


def test_unknown_dataset_and_arch_list_the_valid_names(work, cli):
    folder, _ = work
    expect_user_error(cli(main_train.main, "--save_model_id", "x", "--dataset", "BloodMNST", *dirs(folder)),
                      "unknown dataset 'BloodMNST'", "BloodMNIST")
    expect_user_error(cli(main_train.main, "--save_model_id", "x", "--arch", "resnet19", *dirs(folder)),
                      "unknown arch 'resnet19'", "smallcnn")


def test_a_flag_of_the_other_kind_of_data_is_refused_naming_what_it_is_for(work, cli):
    folder, model_id = work
    expect_user_error(cli(main_train.main, "--save_model_id", "x", "--accelerations", "8", *dirs(folder)),
                      "--accelerations is for MRI reconstruction", "--dataset Digits", "drop it")
    expect_user_error(cli(main_test.main, "--model_id", model_id, "--mask_type", "equispaced", *dirs(folder)),
                      "--mask_type is for MRI reconstruction")
    expect_user_error(cli(main_train.main, "--save_model_id", "x", "--train_groups", "brain:nowhere", "--no_aug",
                          *dirs(folder)), "--no_aug is for image classification", "drop it")


def test_training_refuses_the_evaluation_outputs_and_a_checkpoint_of_another_arch(work, cli, tmp_path):
    folder, model_id = work
    expect_user_error(cli(main_train.main, "--save_model_id", "x", "--json", str(tmp_path / "t.json"), *dirs(folder)),
                      "--json is for the evaluation scripts", "log.csv")
    expect_user_error(cli(main_train.main, "--save_model_id", "x", "--save_fig", str(tmp_path / "t.png"),
                          *dirs(folder)), "--save_fig is for the evaluation scripts", "curves.png")
    pretrained = str(folder / "model_weights" / f"{model_id}.pt")  # a smallcnn: only fc.bias fits a 10-class ResNet
    expect_user_error(cli(main_train.main, "--save_model_id", "x", "--arch", "resnet18", "--pretrained", pretrained,
                          "--epochs", "1", *dirs(folder)), "none of its weights fit", "only fc.bias")
    assert not (folder / "model_weights" / "x_best.pt").exists()


@pytest.mark.parametrize("argv, fragments", [
    (["--forget_set_size", "10"], ["--forget_set_size is for --dataset_method", "add one, or drop it"]),
    (["--patch_size", "2"], ["--patch_size is for --dataset_method poisoning"]),
    (["--dataset_method", "labeltargeted", "--forget_set_size", "10", "--poison_target", "2"],
     ["--poison_target is for --dataset_method poisoning, not labeltargeted"]),
    (["--dataset_method", "randomlabelswap", "--forget_set_size", "10", "--confused_classes", "3,5"],
     ["--confused_classes is for --dataset_method interclasslabelswap or labeltargeted"]),
])
def test_a_manipulation_flag_without_its_manipulation_is_refused(work, cli, argv, fragments):  # trained clean before
    folder, _ = work
    expect_user_error(cli(main_train.main, "--save_model_id", "x", "--epochs", "1", *argv, *dirs(folder)), *fragments)


def test_a_folder_that_refuses_new_entries_is_refused_before_the_run(work, cli, tmp_path, monkeypatch):
    import tempfile
    folder, _ = work

    def refuse(**_):
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(tempfile, "mkdtemp", refuse)  # what /proc, or a read-only mount, does even for root
    expect_user_error(cli(main_train.main, "--save_model_id", "x", "--model_dir", str(tmp_path / "ro"),
                          "--runs_dir", str(folder / "runs")), "--model_dir", "cannot create anything in",
                      "Read-only file system")


def test_missing_medmnist_file_names_the_file_and_download(work, cli, tmp_path):
    expect_user_error(cli(examine_dataset.main, "--dataset", "PathMNIST", "--size", "64", "--data_dir", str(tmp_path)),
                      "pathmnist_64.npz not found", "--download")


def test_a_figure_format_matplotlib_cannot_write_is_refused_before_the_work(work, cli, tmp_path):
    expect_user_error(cli(examine_dataset.main, "--save_fig", str(tmp_path / "data.jpgg")),
                      "matplotlib cannot write .jpgg files", ".png")
    assert not list(tmp_path.iterdir())


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


@pytest.fixture
def env(unlearn_env, tmp_path, monkeypatch):
    """The unlearning fixture, checked to be untouched by each bad call."""
    monkeypatch.chdir(tmp_path)
    before = fingerprint(unlearn_env["work"])
    yield unlearn_env
    assert fingerprint(unlearn_env["work"]) == before


def forget_args(env, *argv: str) -> list[str]:
    return ["--model_id", env["model_id"], *env["common"], *argv]


def test_unknown_method_lists_them(env, cli):
    import main_unlearn
    expect_user_error(cli(main_unlearn.main, *forget_args(env, "--unlearn", "RL_salun", "--class_to_forget", "3")),
                      "unknown method 'RL_salun'", "RL_with_SalUn", "SSD")


@pytest.mark.parametrize("value", ["2", "0"])
def test_bad_teachers_retain_share_is_a_share(env, cli, value):  # 2 crashed in numpy's choice, after the data loaded
    import main_unlearn
    expect_user_error(cli(main_unlearn.main, *forget_args(env, "--unlearn", "BadT", "--class_to_forget", "3",
                                                          "--bad_teacher_retain_share", value)),
                      "--bad_teacher_retain_share", "share in (0, 1]")


def test_class_out_of_range_empty_and_whole_forget_sets(env, cli, tmp_path):
    import main_unlearn
    expect_user_error(cli(main_unlearn.main, *forget_args(env, "--unlearn", "FT", "--class_to_forget", "12")),
                      "class 12 is out of range", "0..9")
    (tmp_path / "none.txt").write_text("")
    expect_user_error(cli(main_unlearn.main, *forget_args(env, "--unlearn", "FT", "--indexes_to_replace",
                                                          str(tmp_path / "none.txt"))), "forget set is empty")
    expect_user_error(cli(main_unlearn.main, *forget_args(env, "--unlearn", "FT", "--num_indexes_to_replace", "1257")),
                      "whole train split")
    expect_user_error(cli(main_unlearn.main, *forget_args(env, "--unlearn", "FT")), "say what to forget")


def test_missing_mask_says_to_run_generate_mask(env, cli):
    import main_unlearn
    expect_user_error(cli(main_unlearn.main, *forget_args(env, "--unlearn", "RL_with_SalUn", "--class_to_forget", "5")),
                      "made for another forget set", "generate_mask.py")
    fresh = ["--model_id", env["retrain_id"], *env["common"], "--unlearn", "GA_with_SalUn", "--class_to_forget", "3"]
    expect_user_error(cli(main_unlearn.main, *fresh), "no mask", "run generate_mask.py")


def test_mask_from_another_architecture(env, cli, tmp_path):
    import main_unlearn
    import models
    other = {name: torch.ones_like(p, dtype=torch.uint8) for name, p in models.create_model("resnet18", 10, 1).named_parameters()}
    torch.save(other, tmp_path / "resnet_mask.pth")
    expect_user_error(cli(main_unlearn.main, *forget_args(env, "--unlearn", "RL_with_SalUn", "--class_to_forget", "3",
                                                          "--mask_path", str(tmp_path / "resnet_mask.pth"))),
                      "another architecture")


def test_retrained_model_for_another_forget_set_is_refused(env, cli):
    import main_test_unlearn
    expect_user_error(cli(main_test_unlearn.main, *forget_args(env, "--class_to_forget", "5", "--retrain_model_id",
                                                               env["retrain_id"])),
                      "was retrained without class 3", "class 5")
    expect_user_error(cli(main_test_unlearn.main, "--model_id", env["retrain_id"], *env["common"], "--class_to_forget", "4"),
                      "forgot class 3")


@pytest.mark.parametrize("flag, value", [("--unlearn", "SSD"), ("--unlearn_lr", "0.1"), ("--alpha", "0"),
                                         ("--mask_thresh", "0.5")])
def test_evaluating_an_unlearned_model_refuses_the_method_and_its_knobs(env, cli, flag, value):
    import main_test_unlearn
    expect_user_error(cli(main_test_unlearn.main, "--model_id", env["retrain_id"], *env["common"], flag, value),
                      f"{flag} is main_unlearn.py's", "read from its checkpoint")


def test_a_record_label_without_a_record_and_a_split_the_report_does_not_read(env, cli):
    import main_test_unlearn
    for flag, value in (("--label", "mine"), ("--tag", "share=30")):
        expect_user_error(cli(main_test.main, "--model_id", env["model_id"], *env["common"], "--no_gui", flag, value),
                          f"{flag} goes into the --json record", "add --json FILE")
    expect_user_error(cli(main_test_unlearn.main, "--model_id", env["retrain_id"], *env["common"], "--split", "val"),
                      "--split", "train split", "TA on test")


def test_existing_unlearned_output_needs_overwrite(env, cli):
    import main_unlearn
    expect_user_error(cli(main_unlearn.main, *forget_args(env, "--unlearn", "retrain", "--class_to_forget", "3")),
                      "already exist", "--overwrite")


def test_corrective_flags_that_do_not_fit(work, cli):
    folder, model_id = work
    base = ["--arch", "smallcnn", "--epochs", "1", *dirs(folder)]
    expect_user_error(cli(main_train.main, "--save_model_id", "ic", "--dataset_method", "interclasslabelswap",
                          "--forget_set_size", "41", *base), "must be even")
    expect_user_error(cli(main_train.main, "--save_model_id", "ic", "--dataset_method", "interclasslabelswap",
                          "--forget_set_size", "40", "--confused_classes", "3,3", *base), "two different classes")
    expect_user_error(cli(main_train.main, "--save_model_id", "ic", "--dataset_method", "interclasslabelswap",
                          "--forget_set_size", "40", "--confused_classes", "3,12", *base), "0..9")
    expect_user_error(cli(main_train.main, "--save_model_id", "p", "--dataset_method", "poisoning",
                          "--forget_set_size", "40", "--patch_size", "28", *base), "does not fit 28x28")
    expect_user_error(cli(main_train.main, "--save_model_id", "p", "--dataset_method", "poisoning", *base),
                      "--forget_set_size")


def test_deletion_and_k_flags_that_do_not_fit(poisoned_digits, cli, tmp_path, monkeypatch):
    import main_unlearn
    monkeypatch.chdir(tmp_path)
    before = fingerprint(poisoned_digits["work"])
    args = ["--model_id", poisoned_digits["model_id"], *poisoned_digits["common"]]
    expect_user_error(cli(main_unlearn.main, *args, "--unlearn", "EU", "--deletion_size", "500"),
                      "--deletion_size 500 is larger than the 126 manipulated samples")
    expect_user_error(cli(main_unlearn.main, *args, "--unlearn", "CF", "--k", "9"), "use one of 1, 2, 3, 4")
    assert fingerprint(poisoned_digits["work"]) == before
