import json
import os
import subprocess
import sys
from pathlib import Path

import torch

import examine_dataset
import main_test
import main_train
import models
from utils.results import RECORD_KEYS

ROOT = Path(__file__).resolve().parents[1]


def train_args(work: Path, run_id: str, *extra: str) -> list[str]:
    return ["--save_model_id", run_id, "--arch", "smallcnn", "--lr", "0.05", "--batch_size", "64",
            "--model_dir", str(work / "model_weights"), "--runs_dir", str(work / "runs"), *extra]


def test_digits_smallcnn_reaches_90_percent_test_accuracy(trained_digits):
    work, _, summary = trained_digits
    assert summary["test_acc"] >= 90.0
    assert (work / "model_weights" / "digits_best.pt").is_file() and (work / "model_weights" / "digits_last.pt").is_file()
    log = (work / "runs" / "digits" / "log.csv").read_text().splitlines()
    assert log[0].startswith("epoch,lr,train_loss,train_acc,val_loss,val_acc") and len(log) == 9
    assert (work / "runs" / "digits" / "curves.png").stat().st_size > 1000


def test_checkpoint_round_trips_through_weights_only(trained_digits):
    work, model_id, _ = trained_digits
    raw = torch.load(work / "model_weights" / f"{model_id}.pt", weights_only=True)
    assert set(raw) == {"state_dict", "meta"}
    meta = raw["meta"]
    assert meta["arch"] == "smallcnn" and meta["dataset"] == "Digits" and meta["num_classes"] == 10
    assert json.loads(json.dumps(meta)) == meta  # plain types only
    model, _ = models.load_model(model_id, str(work / "model_weights"), meta, torch.device("cpu"))
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, raw["state_dict"][name])
    last = torch.load(work / "model_weights" / "digits_last.pt", weights_only=True)
    assert last["epoch"] == 8 and "state" in last["optimizer"]


def test_main_test_json_has_the_documented_keys(trained_digits, cli, tmp_path):
    work, model_id, summary = trained_digits
    out = tmp_path / "result.json"
    code, stdout, _ = cli(main_test.main, "--model_id", model_id, "--model_dir", str(work / "model_weights"),
                          "--runs_dir", str(tmp_path / "runs"), "--no_gui", "--json", str(out),
                          "--save_fig", str(tmp_path / "grid.png"))
    assert code == 0
    result = json.loads(out.read_text())
    assert set(result) == {"accuracy", "auc", "per_class", *RECORD_KEYS}            # the metrics in an evaluation record
    assert result["accuracy"] == summary["test_acc"]
    assert 0.9 < result["auc"] <= 1.0 and list(result["per_class"]) == [str(d) for d in range(10)]
    assert "overall accuracy" in stdout and (tmp_path / "grid.png").stat().st_size > 1000
    assert (tmp_path / "runs" / model_id / "confusion_test.png").is_file()


def test_examine_prints_class_counts_per_split(cli, tmp_path):
    code, stdout, _ = cli(examine_dataset.main, "--dataset", "Digits", "--no_gui", "--save_fig", str(tmp_path / "g.png"))
    assert code == 0
    assert "total images   1257  180   360   1797" in stdout
    assert (tmp_path / "g.png").is_file()


def test_same_seed_same_numbers_and_resume_continues_where_it_stopped(tmp_path):
    straight = main_train.main(train_args(tmp_path, "straight", "--epochs", "4", "--scheduler", "none"))
    again = main_train.main(train_args(tmp_path, "again", "--epochs", "4", "--scheduler", "none"))
    assert straight["test_acc"] == again["test_acc"] and straight["best_val_acc"] == again["best_val_acc"]
    main_train.main(train_args(tmp_path, "resumed", "--epochs", "2", "--scheduler", "none"))
    resumed = main_train.main(train_args(tmp_path, "resumed", "--epochs", "4", "--scheduler", "none", "--resume"))
    assert resumed["test_acc"] == straight["test_acc"]
    a = torch.load(tmp_path / "model_weights" / "straight_last.pt", weights_only=True)
    b = torch.load(tmp_path / "model_weights" / "resumed_last.pt", weights_only=True)
    for name in a["state_dict"]:
        assert torch.equal(a["state_dict"][name], b["state_dict"][name]), name
    assert len(b["meta"]["history"]) == 4


def test_torchrun_trains_with_two_cpu_processes(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29517",
           str(ROOT / "main_train.py"), *train_args(tmp_path, "ddp", "--epochs", "2", "--device", "cpu")]
    run = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "x2 processes" in run.stdout and "test accuracy of the best model" in run.stdout
    meta = torch.load(tmp_path / "model_weights" / "ddp_best.pt", weights_only=True)["meta"]
    assert meta["world_size"] == 2 and meta["epoch"] == 2


def test_viewer_number_keys_show_samples_of_that_class():
    from types import SimpleNamespace

    import datasets
    from utils.plots import SampleGrid

    data = datasets.load_dataset("Digits")
    grid = SampleGrid(data.test.images, data.test.labels, data.class_names, predicted=data.test.labels, seed=0)
    grid.on_key(SimpleNamespace(key="3"))
    titles = [ax.get_title() for ax in grid.axes]
    assert len(titles) == 20 and all(t.startswith("true: 3\npred: 3") for t in titles)
    assert "class 3" in grid.fig._suptitle.get_text()
    grid.on_key(SimpleNamespace(key=" "))
    assert len({ax.get_title() for ax in grid.axes}) > 1


def test_channels_last_trains_the_same_model_as_contiguous_order(tmp_path):
    last = main_train.main(train_args(tmp_path, "last", "--epochs", "3"))
    plain = main_train.main(train_args(tmp_path, "plain", "--epochs", "3", "--memory_format", "contiguous"))
    assert abs(last["best_val_acc"] - plain["best_val_acc"]) <= 2.0
    a = torch.load(tmp_path / "model_weights" / "last_last.pt", weights_only=True)["state_dict"]
    b = torch.load(tmp_path / "model_weights" / "plain_last.pt", weights_only=True)["state_dict"]
    assert a["features.0.0.weight"].is_contiguous(memory_format=torch.channels_last)
    assert b["features.0.0.weight"].is_contiguous()
    curves = [torch.load(tmp_path / "model_weights" / f"{run}_last.pt", weights_only=True)["meta"]["history"]
              for run in ("last", "plain")]
    first = [curve[0]["train_loss"] for curve in curves]
    assert abs(first[0] - first[1]) <= 0.01 * first[1]  # the same steps in another float order, not a new rule


def test_accelerated_shares_the_parameters_and_gives_the_same_outputs():
    from engine.train_loop import accelerated
    torch.manual_seed(0)
    model = models.create_model("smallcnn", 10, 1).eval()
    x = torch.randn(4, 1, 28, 28)
    before, params = model(x), list(model.parameters())
    net = accelerated(model, "channels_last")
    assert net is model and all(p is q for p, q in zip(params, model.parameters()))
    assert model.features[0][0].weight.is_contiguous(memory_format=torch.channels_last)
    assert torch.allclose(net(x), before, atol=1e-5)
