"""main_tune.py: Optuna studies of a method's declared knobs, scored on a validation forget set, shared by workers."""
import itertools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import main_tune
import main_unlearn
import unlearn
from tests.conftest import expect_user_error, fingerprint, own_copy
from unlearn.tune import validation_forget_sets

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tune_env(trained_digits, tmp_path_factory):
    """The Digits model in a folder of its own, and the flags every tuning run here shares."""
    work, model_id = own_copy(trained_digits, tmp_path_factory, "tune")
    flags = ["--model_id", model_id, "--class_to_forget", "3", "--model_dir", str(work / "model_weights"),
             "--validation_sets", "1", "--final_seeds", "0"]  # one validation retrain: the suite stays short
    return {"work": work, "flags": flags}


def tune(env, runs: Path, *argv: str) -> dict:
    return main_tune.main([*env["flags"], "--runs_dir", str(runs), "--unlearn", "GA", *argv])


@pytest.mark.parametrize("family", ["classification", "reconstruction", "federated"])
def test_every_tunable_method_declares_ranges_of_knobs_it_takes(family):
    untunable = {"retrain", "fl_retrain", "EU"}  # the retrains have no knobs; EU retrains with the original's recipe
    for name in unlearn.available(family):
        method = unlearn.get_method(name, family)
        assert bool(method.search) == (name not in untunable), name
        for knob, r in method.search.items():
            assert knob in method.defaults and r.low < r.high and (r.low > 0 or not r.log), (name, knob)


def test_a_reconstruction_method_is_tuned_on_the_val_split_and_reported_on_test(tmp_path):
    """Brain and knee phantoms and a small U-Net: trials are scored by the mean |ΔPSNR| to the Oracle over both
    groups on the val split's volumes; the chosen setting runs on the test split's."""
    import main_train
    from datasets.mri.phantoms import generate
    for family, seed in (("brain", 1), ("knee", 2)):
        generate(tmp_path / family, family, volumes=3, slices=4, size=32, seed=seed)
    flags = ["--train_groups", f"brain:{tmp_path / 'brain'},knee:{tmp_path / 'knee'}", "--mask_type", "random",
             "--accelerations", "4", "--center_fractions", "0.08", "--model_dir", str(tmp_path / "mw"),
             "--runs_dir", str(tmp_path / "runs")]
    main_train.main([*flags, "--arch", "unet", "--chans", "4", "--num_pool_layers", "2", "--save_model_id", "r",
                     "--epochs", "1", "--batch_size", "4"])
    summary = main_tune.main([*flags, "--model_id", "r_best", "--forget_group", "knee", "--unlearn", "FT",
                              "--trials", "2", "--final_seeds", "1", "--unlearn_epochs", "1"])
    assert set(summary["hparams"]) == {"lr"} and summary["validation_forget"].startswith("the val split of group knee")
    folder = tmp_path / "runs" / "tune" / summary["study"]
    header = (folder / "trials.csv").read_text().splitlines()[0].split(",")
    assert {"avg_gap", "lr", "psnr_brain", "psnr_knee", "ssim_knee"} <= set(header)
    final = summary["final"][0]
    oracle = summary["retrained"]
    assert final["avg_gap"] == pytest.approx((abs(final["psnr_brain"] - oracle["psnr_brain"])
                                              + abs(final["psnr_knee"] - oracle["psnr_knee"])) / 2)
    assert "| retrained |" in (folder / "final.md").read_text()


def test_the_validation_forget_set_is_another_draw_of_the_same_kind(unlearn_env):
    from arg_parser import build_parser
    from unlearn.workflow import load_setup
    args = build_parser("data", "model", "unlearning", "system", "output").parse_args(
        ["--model_id", unlearn_env["model_id"], "--class_to_forget", "3", *unlearn_env["common"]])
    setup = load_setup(args)
    one, two = validation_forget_sets(setup.data, setup.forget, seed=1, count=2)
    assert one.classwise and len(one.classes) == 1 and 3 not in one.classes + two.classes
    assert one.classes != two.classes
    assert set(one.indices.tolist()).isdisjoint(setup.forget.indices.tolist())
    assert validation_forget_sets(setup.data, setup.forget, seed=1, count=2)[1].classes == two.classes  # seeded
    assert len(validation_forget_sets(setup.data, setup.forget, seed=1, count=20)) == 9  # as many as there are
    more = validation_forget_sets(setup.data, setup.forget, seed=1, count=4)  # tune_digits.py --draws: the next ones
    assert [d.classes for d in more[:2]] == [one.classes, two.classes] and len({c for d in more for c in d.classes}) == 4
    args.class_to_forget, args.num_indexes_to_replace = None, "100"
    random_setup = load_setup(args)
    drawn = validation_forget_sets(random_setup.data, random_setup.forget, seed=1, count=2)
    assert all(not d.classwise and len(d.indices) == 100 for d in drawn)
    more = validation_forget_sets(random_setup.data, random_setup.forget, seed=1, count=4)
    assert all(torch.equal(a.indices, b.indices) for a, b in zip(more, drawn))
    rows = [set(d.indices.tolist()) for d in (random_setup.forget, *more)]
    assert all(a.isdisjoint(b) for a, b in itertools.combinations(rows, 2))


def test_a_study_writes_best_json_that_main_unlearn_reads_and_the_same_seed_finds_the_same_setting(tune_env,
                                                                                                   tmp_path, cli):
    first = tune(tune_env, tmp_path / "a", "--trials", "2", "--tune_seed", "4")  # pruning on: the gap every epoch
    again = tune(tune_env, tmp_path / "b", "--trials", "2", "--tune_seed", "4")
    assert first["hparams"] == again["hparams"] and first["trials"] == 2
    folder = tmp_path / "a" / "tune" / first["study"]
    assert {"best.json", "trials.csv", "history.png", "importances.png"} <= {p.name for p in folder.iterdir()}
    best = json.loads((folder / "best.json").read_text())
    assert best["validation_forget"].startswith("class ") and "class 3 " not in best["validation_forget"]
    out_id = main_unlearn.main([*tune_env["flags"][:-4], "--unlearn", "GA", "--hparams", str(folder / "best.json"),
                                "--unlearn_epochs", "1"])
    assert f"_unlearnEpochs1_unlearnlr{unlearn.lr_digits(best['flags']['unlearn_lr'])}" in out_id  # the flag wins
    expect_user_error(cli(main_unlearn.main, *tune_env["flags"][:-4], "--unlearn", "FT", "--hparams",
                          str(folder / "best.json")), "GA's setting", "--unlearn GA")


@pytest.mark.parametrize("flags, fragment", [({"unlearn_lr": -1}, "must be a finite positive number"),
                                             ({"unlearn_epochs": 2.5}, "must be a positive int"),
                                             ({"nope": 1}, "nope is no method's knob")])
def test_a_best_json_edited_by_hand_is_read_as_the_flags_would_be(tune_env, tmp_path, cli, flags, fragment):
    best = tmp_path / "best.json"  # these were a ValueError, a TypeError traceback, and silently nothing
    best.write_text(json.dumps({"method": "GA", "flags": flags}))
    expect_user_error(cli(main_unlearn.main, *tune_env["flags"][:-4], "--unlearn", "GA", "--hparams", str(best)),
                      f"--hparams {best}", fragment)


def test_a_pareto_study_of_gap_and_time(tune_env, tmp_path):
    summary = tune(tune_env, tmp_path, "--trials", "2", "--objective", "avg_gap,time")
    assert summary["objectives"] == ["avg_gap", "time"] and summary["pareto"]
    assert (tmp_path / "tune" / summary["study"] / "pareto.png").exists()


@pytest.mark.parametrize("storage", ["sqlite", "journal"])
def test_two_workers_on_one_study_complete_the_trials_together_once_each(tune_env, tmp_path, storage):
    tune(tune_env, tmp_path / "warm", "--trials", "1", "--no_prune")  # the validation retrain, before the race
    url = f"sqlite:///{tmp_path / 'shared.db'}" if storage == "sqlite" else f"journal:{tmp_path / 'shared.log'}"
    argv = [sys.executable, str(ROOT / "main_tune.py"), *tune_env["flags"], "--unlearn", "GA", "--trials", "4",
            "--study", "shared", "--storage", url, "--no_prune"]  # no gap after every epoch: the suite stays short
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    workers = [subprocess.Popen([*argv, "--runs_dir", str(tmp_path / f"w{i}")], cwd=ROOT, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
    results = [w.communicate(timeout=300) for w in workers]
    assert all(w.returncode == 0 for w in workers), [err[-2000:] for _, err in results]
    import optuna
    from optuna.trial import TrialState

    from unlearn.tune import make_storage
    study = optuna.load_study(study_name="shared", storage=make_storage(url))
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(complete) == 4 and len({t.number for t in complete}) == 4
    assert all(t.state in (TrialState.COMPLETE, TrialState.FAIL) for t in study.trials)  # none left running
    ran = [int(out.split("this worker ran ")[1].split()[0]) for out, _ in results]
    assert sum(ran) == 4 and all(n >= 1 for n in ran), ran


@pytest.mark.parametrize("argv, fragments", [
    (["--objective", "accuracy"], ["--objective accuracy", "avg_gap"]),
    (["--unlearn", "EU"], ["EU declares no search space"]),
    (["--trials", "0"], ["--trials", "0"]),
    (["--storage", "postgresql://nobody@127.0.0.1:1/none"], ["--storage postgresql://", "cannot be reached"]),
    (["--storage", "sqlite:////no/such/folder/x.db"], ["--storage", "does not exist"]),
    (["--study", "../elsewhere"], ["--study '../elsewhere' must be a plain name"]),  # it names a folder of runs/tune
])
def test_bad_tuning_input_is_one_line_and_leaves_no_study(tune_env, tmp_path, cli, argv, fragments):
    runs = tmp_path / "runs"
    expect_user_error(cli(main_tune.main, *tune_env["flags"], "--runs_dir", str(runs), "--unlearn", "GA", *argv),
                      *fragments)
    assert not (runs / "tune" / "studies.db").exists() and not (tmp_path / "x.db").exists()


def test_a_study_that_exists_for_another_method_is_refused_untouched(tune_env, tmp_path, cli):
    tune(tune_env, tmp_path, "--trials", "1", "--study", "mine", "--no_prune")
    before = fingerprint(tmp_path / "tune")
    expect_user_error(cli(main_tune.main, *tune_env["flags"], "--runs_dir", str(tmp_path), "--unlearn", "FT",
                          "--trials", "1", "--study", "mine"), "study mine exists with method 'GA'")
    assert fingerprint(tmp_path / "tune") == before


def test_trial_seeds_score_each_trial_on_every_seed_and_a_study_keeps_its_count(tune_env, tmp_path, monkeypatch, cli):
    import unlearn.tune as tuning
    calls, real_score = [], tuning.score

    def recording_score(setup, forget, args, hparams, mask, retrained, seed, trial=None, final=False):
        scored = real_score(setup, forget, args, hparams, mask, retrained, seed, trial, final)
        calls.append((seed, scored.metrics["avg_gap"]))
        return scored
    monkeypatch.setattr(tuning, "score", recording_score)
    summary = tune(tune_env, tmp_path, "--trials", "1", "--trial_seeds", "2", "--seed", "5", "--study", "seeds")
    assert [seed for seed, _ in calls] == [5, 6]
    assert summary["values"]["avg_gap"] == pytest.approx((calls[0][1] + calls[1][1]) / 2)
    expect_user_error(cli(main_tune.main, *tune_env["flags"], "--runs_dir", str(tmp_path), "--unlearn", "GA",
                          "--trials", "2", "--study", "seeds"), "trial_seeds 2", "not 1")


def test_tune_digits_refuses_an_untunable_method_and_too_many_draws_before_any_study(tune_env, tmp_path, cli):
    import importlib.util
    spec = importlib.util.spec_from_file_location("tune_digits", Path(__file__).parents[1] / "experiments" /
                                                  "tune_digits.py")
    tune_digits = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tune_digits)
    work = tmp_path / "work"
    expect_user_error(cli(tune_digits.main, "--methods", "GA", "EU", "--work", str(work), "--out", str(tmp_path / "t")),
                      "EU declares no search space")
    assert not work.exists()  # refused before the original was trained
    (work / "model_weights").mkdir(parents=True)  # the original tune_digits.py would train, already there
    model = tune_env["work"] / "model_weights" / f"{tune_env['flags'][1]}.pt"
    shutil.copy(model, work / "model_weights" / "digits_best.pt")
    expect_user_error(cli(tune_digits.main, "--methods", "GA", "--forget_sets", "class-wise", "--validation_sets", "8",
                          "--draws", "2", "--work", str(work), "--out", str(tmp_path / "t")),
                      "--validation_sets 8 --draws 2", "has 9 draws", "≤ 9")
    expect_user_error(cli(tune_digits.main, "--sweep", "--methods", "SSD", "--draws", "10", "--work", str(work),
                          "--out", str(tmp_path / "t")), "--draws 10", "9 classes besides class 3")
    assert not (work / "runs" / "tune").exists() and not list(tmp_path.glob("t.*"))
