"""Federated reconstruction on phantom sites: FedAvg is the weighted mean, torchrun equals one process, FL-MRCM
trains with its target among the sites, --continues equals an uninterrupted run, FedEraser moves the leaving
site toward the retrained model and keeps the others, and every user mistake is one line and exit 2."""
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import main_test_unlearn
import main_train
import main_unlearn
from arg_parser import build_parser
from datasets.mri.data import load_recon
from datasets.mri.phantoms import generate
from engine.federated import fedavg, federation_from_args
from tests.conftest import expect_user_error, fingerprint
from unlearn.federated.federaser import calibrated

ROOT = Path(__file__).resolve().parents[1]
NET = ["--arch", "unet", "--chans", "8", "--num_pool_layers", "2", "--lr", "1e-3", "--local_bs", "2"]
# B, H, C: brains that differ in contrast and noise; K: a knee, the site that leaves the federation
SITES = (("B", "brain", 1, {}), ("H", "brain", 3, {"contrast": 1.6, "noise": 0.03}),
         ("C", "brain", 5, {"contrast": 0.7}), ("K", "knee", 2, {}))


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny U-Nets gain nothing from threads, and on a shared 2-core machine OpenMP threads spin against each
    other (a 0.1 s round takes 10 s); one thread keeps the file fast."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def sites(tmp_path_factory):
    """Four 32-px phantom sites in the FL-MRCM layout (DIR/T1/{train,val,test}) and the flags naming them."""
    work = tmp_path_factory.mktemp("federated")
    for letter, family, seed, look in SITES:
        generate(work / letter, family, volumes=2, slices=4, size=32, seed=seed, sequence="T1", **look)
    flags = ["--sites", ",".join(f"{letter}:{work / letter}" for letter, *_ in SITES), "--sequence", "T1",
             "--model_dir", str(work / "model_weights"), "--runs_dir", str(work / "runs")]
    return {"work": work, "flags": flags}


def train(sites, run_id: str, *extra: str, mode: str = "fedavg") -> dict:
    return main_train.main(["--federated", mode, *sites["flags"], *NET, "--save_model_id", run_id, *extra])


def state_dict(sites, checkpoint: str) -> dict[str, torch.Tensor]:
    return torch.load(sites["work"] / "model_weights" / f"{checkpoint}.pt", weights_only=True)["state_dict"]


def assert_same_weights(a: dict, b: dict, atol: float = 0.0) -> None:
    assert a.keys() == b.keys()
    for name in a:
        if atol:
            assert torch.allclose(a[name], b[name], rtol=0, atol=atol), (name, (a[name] - b[name]).abs().max())
        else:
            assert torch.equal(a[name], b[name]), (name, (a[name] - b[name]).abs().max())


# ---- FedAvg ----

def test_fedavg_is_the_weighted_per_tensor_mean():
    g = torch.Generator().manual_seed(0)
    a = {"w": torch.randn(3, 4, generator=g), "b": torch.randn(4, generator=g), "steps": torch.tensor(7)}
    b = {"w": torch.randn(3, 4, generator=g), "b": torch.randn(4, generator=g), "steps": torch.tensor(9)}
    same = fedavg([a, a, a])
    assert all(torch.allclose(same[k].float(), a[k].float(), rtol=0, atol=1e-6) for k in a)
    mean = fedavg([a, b])
    assert torch.allclose(mean["w"], (a["w"] + b["w"]) / 2) and torch.allclose(mean["b"], (a["b"] + b["b"]) / 2)
    weighted = fedavg([a, b], [0.25, 0.75])
    assert torch.allclose(weighted["w"], 0.25 * a["w"] + 0.75 * b["w"])
    assert torch.allclose(weighted["b"], 0.25 * a["b"] + 0.75 * b["b"])
    assert not torch.allclose(weighted["w"], mean["w"])
    assert mean["steps"].item() == 7 and weighted["steps"].dtype == torch.int64 and weighted["steps"].item() == 7


def test_size_weights_are_proportional_to_train_slices(tmp_path):
    generate(tmp_path / "S", "brain", volumes=1, slices=2, size=16, seed=1, sequence="T1")
    generate(tmp_path / "L", "knee", volumes=3, slices=2, size=16, seed=2, sequence="T1")
    argv = ["--federated", "fedavg", "--sites", f"S:{tmp_path / 'S'},L:{tmp_path / 'L'}", "--sequence", "T1"]
    parser = build_parser("data", "model", "training", "system", "output")
    args = parser.parse_args([*argv, "--fedavg_weights", "size"])
    fed = federation_from_args(args, load_recon(args))
    assert fed.sites == ["S", "L"] and fed.weights == pytest.approx([0.25, 0.75])
    args = parser.parse_args(argv)
    assert federation_from_args(args, load_recon(args)).weights == pytest.approx([0.5, 0.5])


# ---- training ----

def test_torchrun_with_a_process_per_site_gives_the_in_process_weights(sites, tmp_path):
    two = ["--sites", f"B:{sites['work'] / 'B'},K:{sites['work'] / 'K'}", "--sequence", "T1", "--federated", "fedavg",
           *NET, "--epochs", "2", "--device", "cpu", "--model_dir", str(tmp_path / "mw"),
           "--runs_dir", str(tmp_path / "runs")]
    main_train.main([*two, "--save_model_id", "inprocess"])
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29533",
           str(ROOT / "main_train.py"), *two, "--save_model_id", "torchrun"]
    run = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "×2 processes" in run.stdout
    one, many = (torch.load(tmp_path / "mw" / f"{i}_last.pt", weights_only=True) for i in ("inprocess", "torchrun"))
    assert_same_weights(one["state_dict"], many["state_dict"], atol=1e-5)
    assert many["meta"]["epoch"] == 2 and many["meta"]["federated"]["sites"] == ["B", "K"]


def test_fl_mrcm_trains_with_the_target_among_the_sites(sites):
    summary = train(sites, "mrcm", "--train_dataset", "BHK", "--test_dataset", "H", "--epochs", "2", mode="mrcm")
    models = sites["work"] / "model_weights"
    assert (models / "mrcm_best.pt").is_file() and (models / "mrcm_last.pt").is_file()
    history = summary["history"]
    assert [row["epoch"] for row in history] == [1, 2]
    assert all(math.isfinite(row["train_loss"]) and math.isfinite(row["val_psnr"]) for row in history), history
    meta = torch.load(models / "mrcm_last.pt", weights_only=True)["meta"]
    assert meta["federated"]["mode"] == "mrcm" and meta["federated"]["target"] == "H"
    clients = torch.load(models / "mrcm_last.pt", weights_only=True)["clients"]  # inside the one atomic file
    assert sorted(clients) == ["B", "K"] and not (models / "mrcm_last_clients").exists()


@pytest.mark.parametrize("mode", ["fedavg", "mrcm"])
def test_continues_gives_the_weights_of_an_uninterrupted_run(sites, mode):
    common = ["--train_dataset", "BHK", "--test_dataset", "H"]
    train(sites, f"{mode}_whole", *common, "--epochs", "3", mode=mode)
    train(sites, f"{mode}_split", *common, "--epochs", "1", mode=mode)
    summary = train(sites, f"{mode}_split", *common, "--epochs", "3", "--continues", mode=mode)
    assert [row["epoch"] for row in summary["history"]] == [1, 2, 3]
    assert_same_weights(state_dict(sites, f"{mode}_whole_last"), state_dict(sites, f"{mode}_split_last"))


# ---- site unlearning ----

@pytest.fixture(scope="module")
def federation(sites):
    """FL-MR of all four sites with every round's updates stored; the knee site K then leaves it."""
    train(sites, "fl", "--epochs", "24", "--unlearn_interval", "1", "--test_dataset", "H")
    forget = [*sites["flags"], "--model_id", "fl_last", "--forget_site", "K"]
    retrain_id = main_unlearn.main([*forget, "--unlearn", "fl_retrain"])
    return {**sites, "forget": forget, "retrain_id": retrain_id}


def psnr_by_site(federation, model_id: str) -> tuple[dict, dict]:
    """Test PSNR per site of `model_id` and of the fl_retrain model (main_test_unlearn.py's report)."""
    report = main_test_unlearn.main([*federation["flags"], "--model_id", model_id, "--forget_site", "K",
                                     "--retrain_model_id", federation["retrain_id"]])
    return ({s: g["psnr"] for s, g in report["groups"].items()}, {s: g["psnr"] for s, g in report["retrain"].items()})


def test_federaser_moves_the_leaving_site_toward_retraining_and_keeps_the_others(federation):
    original, retrained = psnr_by_site(federation, "fl_last")
    assert original["K"] - retrained["K"] >= 0.5, (original, retrained)  # the knee was learnt from K itself
    # calibrate with a full local epoch: with half of one (the default 0.5 of --local_ep 1) the rebuilt model lags
    # fl_retrain on the staying sites by 1-2.5 dB on these tiny sites after 24 rounds
    erased_id = main_unlearn.main([*federation["forget"], "--unlearn", "federaser", "--forget_local_epoch_ratio", "1"])
    erased, _ = psnr_by_site(federation, erased_id)
    assert abs(erased["K"] - retrained["K"]) < abs(original["K"] - retrained["K"]), (original, erased, retrained)
    for site in "BHC":
        assert abs(erased[site] - retrained[site]) <= 1.0, (site, erased, retrained)


def test_federaser_calibration_keeps_the_old_step_length_in_the_new_direction():
    new_gm = {"w": torch.zeros(2), "n": torch.tensor(5)}
    new_avg = {"w": torch.tensor([3.0, 4.0]), "n": torch.tensor(6)}  # new step: length 5
    old_gm, old_avg = {"w": torch.ones(2), "n": torch.tensor(1)}, {"w": torch.tensor([1.0, 11.0]), "n": torch.tensor(2)}
    out = calibrated(new_gm, new_avg, old_gm, old_avg)  # old step: length 10
    assert torch.allclose(out["w"], torch.tensor([6.0, 8.0])) and out["n"].item() == 5
    assert torch.equal(calibrated(new_gm, new_gm, old_gm, old_avg)["w"], new_gm["w"])  # no new step: no move


def test_federaser_of_one_stored_round_is_the_mean_of_the_remaining_sites(sites):
    train(sites, "one", "--epochs", "1", "--unlearn_interval", "1")
    erased_id = main_unlearn.main([*sites["flags"], "--model_id", "one_last", "--forget_site", "K",
                                   "--unlearn", "federaser"])
    updates = sites["work"] / "model_weights" / "one_updates"
    kept = [torch.load(updates / f"round000_{s}.pt", weights_only=True) for s in "BHC"]
    assert_same_weights(state_dict(sites, erased_id), fedavg(kept), atol=1e-6)
    with_k = fedavg([*kept, torch.load(updates / "round000_K.pt", weights_only=True)])
    assert not all(torch.allclose(with_k[k], v, atol=1e-6) for k, v in state_dict(sites, erased_id).items())


@pytest.mark.parametrize("method", ["fl_ft", "pga", "fl_retrain"])
def test_site_unlearning_methods_write_checkpoints_that_forgot_the_site(federation, method):
    out_id = (federation["retrain_id"] if method == "fl_retrain"
              else main_unlearn.main([*federation["forget"], "--unlearn", method, "--unlearn_epochs", "1"]))
    raw = torch.load(federation["work"] / "model_weights" / f"{out_id}.pt", weights_only=True)
    assert raw["meta"]["forget"]["group"] == "K" and raw["meta"]["unlearn"]["method"] == method
    assert not all(torch.equal(raw["state_dict"][k], v) for k, v in state_dict(federation, "fl_last").items())


# ---- bad input: one line on stderr, exit 2, nothing written or overwritten ----

@pytest.fixture
def guarded(federation):
    """The trained federation, plus 'plain': FL-MR of B, H and K only, trained without --unlearn_interval."""
    models = federation["work"] / "model_weights"
    if not (models / "plain_last.pt").is_file():
        train(federation, "plain", "--train_dataset", "BHK", "--epochs", "1")
    before = fingerprint(models)
    yield federation
    assert fingerprint(models) == before
    assert not (federation["work"] / "runs" / "x").exists()


def train_argv(guarded, *extra: str, sites: list[str] | None = None) -> list[str]:
    return ["--federated", "fedavg", *(sites or guarded["flags"]), *NET, "--epochs", "1", "--save_model_id", "x",
            *extra]


def test_training_site_without_a_folder(guarded, cli):
    expect_user_error(cli(main_train.main, *train_argv(guarded, "--train_dataset", "BHZ")),
                      "site Z has no folder in --sites")


def test_a_site_is_named_by_one_letter(guarded, cli):  # BB trained, but no --train_dataset could name it
    flags = ["--sites", f"BB:{guarded['work'] / 'B'}", "--sequence", "T1"]
    expect_user_error(cli(main_train.main, *train_argv(guarded, sites=flags)), "'BB:", "one letter")


def test_num_users_that_does_not_match_the_sites(guarded, cli):
    expect_user_error(cli(main_train.main, *train_argv(guarded, "--num_users", "3")),
                      "--num_users 3", "4 training sites")


def test_forget_site_not_in_the_federation(guarded, cli):
    expect_user_error(cli(main_unlearn.main, *guarded["flags"], "--model_id", "plain_last", "--forget_site", "C",
                          "--unlearn", "fl_ft"), "--forget_site C", "not in the federation")


def test_federaser_on_a_run_that_stored_no_updates(guarded, cli):
    expect_user_error(cli(main_unlearn.main, *guarded["flags"], "--model_id", "plain_last", "--forget_site", "K",
                          "--unlearn", "federaser"), "--unlearn_interval")


def test_target_site_without_a_test_split(guarded, cli, tmp_path):
    shutil.copytree(guarded["work"] / "H", tmp_path / "H")
    shutil.rmtree(tmp_path / "H" / "T1" / "test")
    flags = ["--sites", f"B:{guarded['work'] / 'B'},N:{tmp_path / 'H'}", "--sequence", "T1",
             "--model_dir", str(guarded["work"] / "model_weights"), "--runs_dir", str(guarded["work"] / "runs")]
    expect_user_error(cli(main_train.main, *train_argv(guarded, "--test_dataset", "N", sites=flags)),
                      "--test_dataset N", "no test split")


def test_sequence_folder_missing_from_a_site(guarded, cli):
    expect_user_error(cli(main_train.main, *train_argv(guarded, "--sequence", "T2")), "no T2/ sub-folder", "T1")


@pytest.mark.parametrize("flags", [["--memory_format", "channels_last"], ["--compile"]])
def test_federated_training_refuses_channels_last_and_compile(guarded, cli, flags):
    expect_user_error(cli(main_train.main, *train_argv(guarded, *flags)), "federated training", flags[0])


def test_a_federated_method_is_tuned_against_the_fl_retrain_oracle_on_the_val_split(federation, tmp_path):
    """main_tune.py reuses the federation's fl_retrain model (main_unlearn.py's id) as the Oracle and scores trials by
    the mean |ΔPSNR| over the sites on the val split."""
    import main_tune
    models = federation["work"] / "model_weights"
    before = {p.name for p in models.glob("*.pt")}
    summary = main_tune.main([*federation["forget"], "--unlearn", "fl_ft", "--trials", "2", "--final_seeds", "0",
                              "--unlearn_epochs", "1", "--runs_dir", str(tmp_path)])
    assert {p.name for p in models.glob("*.pt")} == before  # the Oracle was read, not trained again
    assert summary["validation_forget"].startswith("the val split of site K") and set(summary["hparams"]) == {"lr"}
    header = (tmp_path / "tune" / summary["study"] / "trials.csv").read_text().splitlines()[0].split(",")
    assert {"psnr_B", "psnr_H", "psnr_K", "avg_gap"} <= set(header)
