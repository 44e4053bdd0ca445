"""main_audit.py: shadow models trained on random halves (torchrun spreads them), cached by recipe, and the sanity
ladder of the per-example attack: the original detected, retraining at chance, a weak method in between."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import main_audit
from tests.conftest import expect_user_error, fingerprint
from unlearn.audit import shadow_halves
from utils import report

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def audit_env(tmp_path_factory):
    """Real handwritten digits at their native 8×8, in MedMNIST's npz layout, 200 training rows (so that each of a
    shadow's 100 rows leaves a mark on it), and a small CNN trained on them for 30 epochs without augmentation."""
    from sklearn.datasets import load_digits

    import main_train
    work = tmp_path_factory.mktemp("audit")
    x, y = load_digits(return_X_y=True)
    images = (x.reshape(-1, 8, 8) * (255 / 16)).round().astype(np.uint8)
    order = np.random.default_rng(0).permutation(len(y))
    parts = {"train": order[:200], "val": order[200:300], "test": order[300:500]}
    npz = work / "digits8.npz"
    np.savez(npz, **{f"{k}_images": images[v] for k, v in parts.items()},
             **{f"{k}_labels": y[v][:, None] for k, v in parts.items()})
    dirs = ["--model_dir", str(work / "model_weights"), "--runs_dir", str(work / "runs")]
    main_train.main(["--dataset", str(npz), "--save_model_id", "d8", "--arch", "smallcnn", "--epochs", "30", "--lr",
                     "0.05", "--batch_size", "32", "--no_aug", *dirs])
    common = ["--dataset", str(npz), "--model_id", "d8_best", *dirs, "--num_indexes_to_replace", "40"]
    return {"work": work, "common": common, "runs": work / "runs"}


def auc(runs: Path, name: str) -> float:
    return json.loads((runs / "audit" / name / "audit.json").read_text())["ulira"]["auc"]


def test_each_row_is_in_exactly_half_of_the_shadows_and_the_draw_is_seeded():
    halves = shadow_halves(50, 16, seed=3)
    assert halves.shape == (16, 50) and (halves.sum(0) == 8).all()
    assert (shadow_halves(50, 16, seed=3) == halves).all() and not (shadow_halves(50, 16, seed=4) == halves).all()


def test_the_ladder_original_detected_retrain_at_chance_a_weak_method_between(audit_env):
    """16 shadows, 40 targets: each target is held by 8 shadows, so U-LiRA scores 320 unlearned and 320 retrained
    observations. Were they independent, the AUC's standard error at chance would be sqrt((2n+1)/(12n²)) ≈ 0.023 for
    n = 320; the 8 scores of one target share its Gaussians, so it is larger (about 0.03): 0.5 ± 0.07 is over two of
    them, and the gaps asked of the weak method are wider than one."""
    common, runs = [*audit_env["common"], "--shadows", "16"], audit_env["runs"]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29519",
           str(ROOT / "main_audit.py"), *common, "--unlearn", "original", "--device", "cpu", "--json",
           str(runs / "records" / "original.json")]
    run = subprocess.run(cmd, cwd=audit_env["work"], env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True,
                         text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "process 2 of 2" in run.stderr  # the shadows were spread over both processes
    shadows = next((runs / "audit" / "shadows").iterdir())
    cached = {p.name: p.stat().st_mtime_ns for p in shadows.glob("*.pt")}
    assert len(cached) == 32  # an original and a retrained model per shadow
    main_audit.main([*common, "--unlearn", "retrain", "--json", str(runs / "records" / "retrain.json")])
    # FT on an original that fits its training rows exactly hardly moves it (the retain loss is ~0); one epoch of RL
    # (random labels on the forget rows) is the weak method
    main_audit.main([*common, "--unlearn", "RL", "--unlearn_epochs", "1", "--label", "RL, 1 epoch", "--json",
                     str(runs / "records" / "rl.json")])
    main_audit.main([*common, "--unlearn", "RL_with_SalUn", "--unlearn_epochs", "1"])  # a SalUn mask per shadow
    assert {p.name: p.stat().st_mtime_ns for p in shadows.glob("*.pt")} == cached  # every audit reused the shadows
    original = auc(runs, "d8_best_original_rand40_S16")
    retrain = auc(runs, "d8_best_retrain_rand40_S16")
    weak = auc(runs, "d8_best_RL_rand40_S16")
    report.main(["--results", str(runs / "records"), "--out", str(runs / "ladder")])  # the audit view, from records
    table = (runs / "ladder.md").read_text()
    assert "| original | " in table and "| RL, 1 epoch | " in table and "U-LiRA AUC" in table
    assert (runs / "ladder_roc.png").exists() and (runs / "ladder_epsilon.png").exists()
    report.main(["--view", "compare", "--results", str(runs / "records"), "--out", str(runs / "compare")])
    assert "U-LiRA AUC" in (runs / "compare.md").read_text()  # the comparison table takes the audit's column
    assert original >= 0.75, original
    assert abs(retrain - 0.5) <= 0.07, retrain
    assert retrain + 0.05 < weak < original - 0.03, (retrain, weak, original)
    record = json.loads((runs / "audit" / "d8_best_retrain_rand40_S16" / "audit.json").read_text())
    assert record["schema"] == 1 and record["label"] == "retrain" and record["forget"]["size"] == 40
    assert 0 <= record["challenge"]["forget_score"] <= 1 and len(record["challenge"]["epsilons"]) == 40
    assert record["population"]["MIA"] >= 0 and record["avg_gap"] >= 0
    folder = runs / "audit" / "d8_best_RL_rand40_S16"
    assert {"roc.png", "epsilon.png", "examples.csv", "audit.md"} <= {p.name for p in folder.iterdir()}


@pytest.mark.parametrize("argv, fragments", [
    (["--shadows", "3"], ["--shadows 3", "at least 4"]),
    (["--unlearn", "NoSuchMethod"], ["unknown method", "original"]),
    (["--num_indexes_to_replace", "150"], ["150 of 200", "more than half"]),
    (["--attack", "lira"], ["--attack lira", "ulira, challenge, population"]),
    (["--unlearn", "original", "--unlearn_epochs", "2"], ["--unlearn_epochs", "runs none"]),
    (["--unlearn", "FT", "--alpha", "0.5"], ["--alpha is not a knob of FT"]),
])
def test_bad_audit_input_is_one_line_and_writes_nothing(audit_env, tmp_path, cli, argv, fragments):
    before = fingerprint(audit_env["work"])
    common = [*audit_env["common"], "--runs_dir", str(tmp_path / "runs")]
    expect_user_error(cli(main_audit.main, *common, "--unlearn", "GA", *argv), *fragments)
    assert not (tmp_path / "runs").exists() and fingerprint(audit_env["work"]) == before


def test_a_shadow_cache_of_another_recipe_is_refused_untouched(audit_env, tmp_path, cli):
    cache = tmp_path / "shadows"
    cache.mkdir()
    (cache / "recipe.json").write_text(json.dumps({"version": 1, "arch": "resnet18"}))
    (cache / "original_000.pt").write_bytes(b"not to be touched")
    before = fingerprint(cache)
    expect_user_error(cli(main_audit.main, *audit_env["common"], "--runs_dir", str(tmp_path / "runs"), "--unlearn",
                          "GA", "--shadow_dir", str(cache), "--shadows", "4"), "built with another recipe", "arch")
    assert fingerprint(cache) == before and not (tmp_path / "runs").exists()
