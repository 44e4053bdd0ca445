"""Unlearning mistakes (issue 13): a flag the method does not take, flags main_unlearn.py does not read, broken mask
and --pretrained files, bad forget-set counts and unwritable outputs. Each is one stderr line, exit 2, no traceback,
and nothing written or overwritten."""
import json
import os
import shutil
from pathlib import Path

import pytest
import torch

import generate_mask
import main_forget
import main_train
import main_unlearn
from tests.conftest import expect_user_error, fingerprint

needs_permissions = pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")


@pytest.fixture
def env(unlearn_env, tmp_path, monkeypatch):
    """The unlearning fixture and an empty current folder; both are checked to be untouched by each bad call (the
    files a test puts in tmp_path before a call are part of the fingerprint)."""
    monkeypatch.chdir(tmp_path)
    before = fingerprint(unlearn_env["work"])
    yield unlearn_env
    assert fingerprint(unlearn_env["work"]) == before


def refused(cli, main, argv: list[str], *fragments: str, folder: Path | None = None) -> None:
    """Run main(argv): a UserError naming every fragment, and `folder` (default: the current one) unchanged."""
    folder = folder or Path.cwd()
    before = fingerprint(folder)
    expect_user_error(cli(main, *argv), *fragments)
    assert fingerprint(folder) == before


def forget(env, *argv: str) -> list[str]:
    return ["--model_id", env["model_id"], *env["common"], "--class_to_forget", "3", *argv]


def own_models(env, tmp_path: Path) -> list[str]:
    """The original model copied into a model folder of the test's own, for runs that write (the session's folder
    stays as the other tests expect it)."""
    models = tmp_path / "models"
    models.mkdir()
    shutil.copy(env["work"] / "model_weights" / f"{env['model_id']}.pt", models)
    return ["--model_id", env["model_id"], "--model_dir", str(models), "--mask_dir", str(env["work"] / "SaliencyMaps")]


# ---- 1. a flag the method does not take names the flags it does take ----

@pytest.mark.parametrize("argv, fragments", [
    (["--unlearn", "RL", "--alpha", "0.7"],
     ["--alpha is not a knob of RL",
      "RL takes --unlearn_epochs, --unlearn_lr, --unlearn_batch_size, --unlearn_optimizer"]),
    (["--unlearn", "FT", "--k", "3"], ["--k is not a knob of FT", "FT takes --unlearn_epochs"]),
    (["--unlearn", "FT_with_SalUn", "--msteps", "3"], ["--msteps is not a knob of FT_with_SalUn"]),
    (["--unlearn", "SSD", "--unlearn_epochs", "3"],
     ["--unlearn_epochs is not a knob of SSD", "SSD takes --unlearn_batch_size, --SSDselectwt, --SSDdampening"]),
    (["--unlearn", "ASSD", "--SSDselectwt", "5"], ["--SSDselectwt is not a knob of ASSD", "--SSDdampening"]),
    (["--unlearn", "wfisher", "--unlearn_optimizer", "adam"],
     ["--unlearn_optimizer is not a knob of wfisher", "--alpha"]),
    (["--unlearn", "RL_with_SalUn", "--scrub_variant", "corrective"],
     ["--scrub_variant is not a knob of RL_with_SalUn"]),
    (["--unlearn", "retrain", "--beta", "0.1"], ["--beta is not a knob of retrain"]),
])
def test_a_flag_the_method_does_not_take_names_the_flags_it_does(env, cli, argv, fragments):
    refused(cli, main_unlearn.main, forget(env, *argv), *fragments)


def test_the_knobs_each_method_reads_are_the_flags_it_takes():
    import unlearn
    flags = {(family, name): unlearn.knob_flags(unlearn.get_method(name, family))
             for family in ("classification", "reconstruction", "federated") for name in unlearn.available(family)}
    assert flags["classification", "SCRUB"][-4:] == ["--alpha", "--msteps", "--kd_T", "--scrub_variant"]
    assert flags["classification", "EU"] == ["--unlearn_epochs", "--unlearn_lr", "--unlearn_batch_size",
                                             "--unlearn_optimizer", "--k"]
    assert "--retain_ratio" not in flags["reconstruction", "retrain"]  # the Oracle retrains on every retain slice
    assert flags["federated", "federaser"] == ["--unlearn_lr", "--forget_local_epoch_ratio"]
    assert flags["federated", "pga"] == ["--unlearn_epochs", "--unlearn_lr", "--ascent_epochs"]  # batch, optimiser: the federation's


def test_main_forget_refuses_them_too_before_writing(env, cli, tmp_path):
    refused(cli, main_forget.main, ["--model_path", str(env["work"] / "model_weights" / f"{env['model_id']}.pt"),
                                    "--class_to_replace", "3", "--unlearn", "GA", "--k", "2", "--save_dir",
                                    str(tmp_path / "out")], "--k is not a knob of GA")
    assert not (tmp_path / "out").exists()


def test_mask_forget_group_and_deletion_flags_that_do_not_fit(env, cli, tmp_path):
    mask = env["work"] / "SaliencyMaps" / env["model_id"] / "with_0.5.pt"
    refused(cli, main_unlearn.main, forget(env, "--unlearn", "RL", "--mask_path", str(mask)),
            "--mask_path sets a SalUn mask; RL uses none", "RL_with_SalUn")
    refused(cli, main_unlearn.main, forget(env, "--unlearn", "SSD", "--mask_thresh", "0.3"),
            "--mask_thresh sets a SalUn mask; SSD uses none", "no _with_SalUn form")
    refused(cli, main_unlearn.main, forget(env, "--unlearn", "FT", "--forget_group", "knee"),
            "--forget_group names an MRI group", "classification run", "--class_to_forget")
    refused(cli, main_unlearn.main, forget(env, "--unlearn", "FT", "--deletion_size", "5"),
            "--deletion_size applies to a model trained with --dataset_method")


# ---- 2. --unlearn_epochs 0 ----

def test_zero_unlearning_epochs_is_refused(env, cli):
    refused(cli, main_unlearn.main, forget(env, "--unlearn", "FT", "--unlearn_epochs", "0"),
            "--unlearn_epochs", "must be a positive integer")


# ---- 3. --json, --save_fig and --retrain_model_id of main_unlearn.py ----

def test_json_writes_the_runs_record(env, cli, tmp_path):
    out = tmp_path / "record.json"
    code, stdout, err = cli(main_unlearn.main, *own_models(env, tmp_path), "--num_indexes_to_replace", "20",
                            "--unlearn", "FT", "--unlearn_epochs", "1", "--json", str(out))
    assert code in (0, None), err
    record = json.loads(out.read_text())
    assert record["model_id"] == stdout.split()[-1] and record["method"] == "FT"
    assert record["hparams"]["epochs"] == 1 and record["unlearn_time_s"] >= 0
    assert record["forget"]["size"] == 20 and "20 random rows" in record["forget"]["description"]
    assert Path(record["checkpoint"]).is_file() and "indices" not in record["forget"]


def test_json_that_exists_or_cannot_be_written_is_refused_before_work(env, cli, tmp_path):
    (tmp_path / "old.json").write_text("{}")
    refused(cli, main_unlearn.main, forget(env, "--unlearn", "FT", "--json", str(tmp_path / "old.json")),
            "--json", "already exists", "--overwrite")
    (tmp_path / "folder.json").mkdir()
    refused(cli, main_unlearn.main, forget(env, "--unlearn", "FT", "--json", str(tmp_path / "folder.json")),
            "is a folder")


@needs_permissions
def test_json_in_a_read_only_folder_is_refused(env, cli, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        refused(cli, main_unlearn.main, forget(env, "--unlearn", "FT", "--json", str(locked / "r.json")),
                "--json", "not writable")
    finally:
        locked.chmod(0o755)


def test_flags_main_unlearn_does_not_read_name_the_script_that_does(env, cli, tmp_path):
    refused(cli, main_unlearn.main, forget(env, "--unlearn", "FT", "--save_fig", str(tmp_path / "f.png")),
            "--save_fig", "main_test_unlearn.py")
    refused(cli, main_unlearn.main, forget(env, "--unlearn", "FT", "--retrain_model_id", env["retrain_id"]),
            "--retrain_model_id", "main_test_unlearn.py")
    refused(cli, main_unlearn.main, forget(env, "--unlearn", "FT", "--save_dir", str(tmp_path / "out")),
            "--save_dir", "main_forget.py", "--model_dir")


# ---- 4. generate_mask.py --save_dir: SalUn's folder of masks ----

def test_generate_mask_save_dir_writes_the_masks_there(env, cli, tmp_path):
    out = tmp_path / "saliency"
    code, _, err = cli(generate_mask.main, "--model_path", str(env["work"] / "model_weights" / f"{env['model_id']}.pt"),
                       "--class_to_replace", "3", "--save_dir", str(out), "--unlearn_epochs", "1")
    assert code in (0, None), err
    written = sorted(p.name for p in out.iterdir())
    assert written == sorted([f"with_{t / 10:.1f}.pt" for t in range(1, 11)] + ["forget.json"])
    assert not (tmp_path / "SaliencyMaps").exists()
    same = torch.load(env["work"] / "SaliencyMaps" / env["model_id"] / "with_0.5.pt", weights_only=True)
    assert all(torch.equal(m, same[k]) for k, m in torch.load(out / "with_0.5.pt", weights_only=True).items())
    refused(cli, generate_mask.main, forget(env, "--save_dir", str(tmp_path / "other")),  # forget() has --mask_dir
            "--save_dir", "--mask_dir", "pass one")


def test_generate_mask_refuses_a_single_threshold(env, cli):
    refused(cli, generate_mask.main, forget(env, "--mask_thresh", "0.5"), "--mask_thresh", "every threshold")


# ---- 5. corrupt or foreign mask and --pretrained files ----

def broken_masks(folder: Path, env) -> dict[str, Path]:
    good = torch.load(env["work"] / "SaliencyMaps" / env["model_id"] / "with_0.5.pt", weights_only=True)
    first = next(iter(good))
    files = {"truncated": folder / "truncated.pt", "text": folder / "text.pt", "list": folder / "list.pt"}
    files["truncated"].write_bytes((env["work"] / "SaliencyMaps" / env["model_id"] / "with_0.5.pt").read_bytes()[:300])
    files["text"].write_text("not a torch file\n")
    torch.save([1, 2, 3], files["list"])
    for name, value in {"shape": good[first].flatten(), "half": torch.full_like(good[first], 0.5, dtype=torch.float),
                        "nan": torch.full_like(good[first], float("nan"), dtype=torch.float),
                        "two": torch.full_like(good[first], 2)}.items():
        files[name] = folder / f"{name}.pt"
        torch.save({**good, first: value}, files[name])
    return files


@pytest.mark.parametrize("kind, fragments", [
    ("truncated", ["cannot read mask"]), ("text", ["cannot read mask"]), ("list", ["holds a list, not a mask"]),
    ("shape", ["another architecture"]), ("half", ["not a 0/1 mask"]), ("nan", ["not a 0/1 mask"]),
    ("two", ["not a 0/1 mask"]),
])
def test_broken_mask_path_is_one_line(env, cli, tmp_path, kind, fragments):
    path = broken_masks(tmp_path, env)[kind]
    refused(cli, main_unlearn.main, forget(env, "--unlearn", "RL_with_SalUn", "--mask_path", str(path)),
            *fragments, "generate_mask.py")


def test_broken_files_in_the_mask_dir_are_one_line(env, cli, tmp_path):
    source = env["work"] / "SaliencyMaps" / env["model_id"]
    folder = tmp_path / "maps" / env["model_id"]
    shutil.copytree(source, folder)
    argv = ["--model_id", env["model_id"], "--model_dir", str(env["work"] / "model_weights"), "--mask_dir",
            str(tmp_path / "maps"), "--class_to_forget", "3", "--unlearn", "GA_with_SalUn"]
    (folder / "with_0.5.pt").write_bytes((source / "with_0.5.pt").read_bytes()[:200])
    refused(cli, main_unlearn.main, argv, "cannot read mask", "with_0.5.pt")
    (folder / "forget.json").write_text("{not json")
    refused(cli, main_unlearn.main, argv, "cannot read", "forget.json", "rerun generate_mask.py")


@pytest.mark.parametrize("kind", ["truncated", "text", "list", "strings", "nan"])
def test_broken_pretrained_file_is_one_line(env, cli, tmp_path, kind):
    source = env["work"] / "model_weights" / f"{env['model_id']}.pt"
    path = tmp_path / f"{kind}.pt"
    if kind == "truncated":
        path.write_bytes(source.read_bytes()[:500])
    elif kind == "text":
        path.write_text("weights\n")
    elif kind == "list":
        torch.save([torch.zeros(3)], path)
    elif kind == "strings":
        torch.save({"a": "b"}, path)
    else:
        state = torch.load(source, weights_only=True)["state_dict"]
        torch.save({k: v.float() * float("nan") if v.is_floating_point() else v for k, v in state.items()}, path)
    fragments = {"truncated": ["cannot read --pretrained"], "text": ["cannot read --pretrained"],
                 "list": ["holds a list without weights"], "strings": ["holds a dict without weights"],
                 "nan": ["holds NaN or inf"]}[kind]
    refused(cli, main_train.main, ["--save_model_id", "pre", "--arch", "smallcnn", "--epochs", "1", "--pretrained",
                                   str(path), "--model_dir", str(tmp_path / "w"), "--runs_dir", str(tmp_path / "r")],
            *fragments)


# ---- 6. --mask_thresh outside (0, 1] ----

@pytest.mark.parametrize("value", ["nan", "1.5", "-0.1", "0", "abc"])
def test_mask_threshold_outside_zero_to_one_is_refused(env, cli, value):
    refused(cli, main_unlearn.main, forget(env, "--unlearn", "RL_with_SalUn", f"--mask_thresh={value}"),
            "--mask_thresh", "(0, 1]")


# ---- 7. forget-set counts, classes and row files ----

@pytest.mark.parametrize("value", ["nan", "abc", "inf", "-3", "0", "1.5"])
def test_bad_forget_counts_are_refused(env, cli, value):
    refused(cli, main_unlearn.main, ["--model_id", env["model_id"], *env["common"], "--unlearn", "FT",
                                     f"--num_indexes_to_replace={value}"],
            f"--num_indexes_to_replace {value}", "whole count", "fraction")


def test_bad_forget_classes_are_refused(env, cli):
    argv = ["--model_id", env["model_id"], *env["common"], "--unlearn", "FT"]
    refused(cli, main_unlearn.main, [*argv, "--class_to_forget", "abc"], "--class_to_forget 'abc'", "3,5")
    refused(cli, main_unlearn.main, [*argv, "--class_to_forget", "3,3"], "names class 3 twice", "e.g. 3")


@pytest.mark.parametrize("content, fragments", [
    ("1\n2\nthree\n", ["one integer row index per line", "'three'"]),
    ("1\n2.5\n", ["one integer row index per line", "'2.5'"]),
    ("4\n7\n4\n", ["lists row 4 more than once"]),
    ("1\n5000\n", ["lists row 5000", "0..1256"]),
    ("-2\n", ["lists row -2", "0..1256"]),
    (b"\xff\xfe\x00\x01", ["not a text file"]),
])
def test_bad_forget_row_files_are_refused(env, cli, tmp_path, content, fragments):
    rows = tmp_path / "rows.txt"
    rows.write_bytes(content if isinstance(content, bytes) else content.encode())
    refused(cli, main_unlearn.main, ["--model_id", env["model_id"], *env["common"], "--unlearn", "FT",
                                     "--indexes_to_replace", str(rows)], "--indexes_to_replace", *fragments)


# ---- 8. every output is checked before the work starts ----

def test_an_output_path_that_is_a_folder_is_refused(env, cli, tmp_path):
    argv = [*own_models(env, tmp_path), "--class_to_forget", "3", "--unlearn", "FT", "--unlearn_epochs", "1"]
    out_id = f"{env['model_id']}_FORGOTTEN_3_FT_mask5_unlearnEpochs1_unlearnlr01"
    (tmp_path / "models" / f"{out_id}.pt").mkdir()
    refused(cli, main_unlearn.main, argv, f"{out_id}.pt is a folder", "--model_dir")
    maps = tmp_path / "maps" / env["model_id"]
    (maps / "with_0.3.pt").mkdir(parents=True)
    refused(cli, generate_mask.main, ["--model_id", env["model_id"], "--model_dir", str(env["work"] / "model_weights"),
                                      "--mask_dir", str(tmp_path / "maps"), "--class_to_forget", "3"],
            "with_0.3.pt is a folder", "--mask_dir")


def test_existing_masks_need_overwrite(env, cli):
    refused(cli, generate_mask.main, forget(env), "already exist", "--overwrite")


@needs_permissions
def test_read_only_output_folders_are_refused_before_work(env, cli, tmp_path):
    argv = [*own_models(env, tmp_path), "--class_to_forget", "3", "--unlearn", "FT", "--unlearn_epochs", "1"]
    locked = [tmp_path / "models", tmp_path / "maps", tmp_path / "saved"]
    for folder in locked[1:]:
        folder.mkdir()
    for folder in locked:
        folder.chmod(0o555)
    try:
        refused(cli, main_unlearn.main, argv, "--model_dir", "not writable")
        refused(cli, generate_mask.main, ["--model_id", env["model_id"], "--model_dir", str(tmp_path / "models"),
                                          "--mask_dir", str(tmp_path / "maps"), "--class_to_forget", "3"],
                "--mask_dir", "not writable")
        refused(cli, main_forget.main, ["--model_path", str(tmp_path / "models" / f"{env['model_id']}.pt"),
                                        "--class_to_replace", "3", "--unlearn", "FT", "--save_dir",
                                        str(tmp_path / "saved")], "--save_dir", "not writable")
    finally:
        for folder in locked:
            folder.chmod(0o755)
