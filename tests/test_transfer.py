import copy
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import datasets
import main_test_unlearn
import unlearn
from arg_parser import build_parser
from models import create_model
from models.features import forward_with_features
from unlearn.spkd import similarity_preserving_loss
from unlearn.transfer import fit_images
from unlearn.workflow import load_setup
from utils.errors import UserError
from utils.transfer import knn_accuracy, linear_cka

ROOT = Path(__file__).resolve().parents[1]


def write_tree(root: Path, classes: dict[str, int], mode: str = "RGB", size: tuple[int, int] = (40, 30)) -> Path:
    """root/{class}/{i}.png with `count` small PIL images per class."""
    rng = np.random.default_rng(0)
    for name, count in classes.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            shape = (size[1], size[0], 3) if mode == "RGB" else (size[1], size[0])
            Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode=mode).save(root / name / f"{i}.png")
    return root


def digits_tree(root: Path) -> Path:
    """The experiment's downstream folder (Digits 0-4 against 5-9), written by experiments/digits_downstream.py."""
    spec = importlib.util.spec_from_file_location("digits_downstream", ROOT / "experiments" / "digits_downstream.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.write_tree(root)
    return root


def test_sp_loss_is_zero_between_a_model_and_itself_and_positive_for_another():
    torch.manual_seed(0)
    one, two = create_model("smallcnn", 10, 1).eval(), create_model("smallcnn", 10, 1).eval()
    x = torch.randn(8, 1, 28, 28)
    with torch.no_grad():
        _, f_one = forward_with_features(one, x)
        _, f_two = forward_with_features(two, x)
    assert similarity_preserving_loss(f_one, f_one.clone()).item() == 0
    assert similarity_preserving_loss(f_one, 3.0 * f_one).item() == pytest.approx(0, abs=1e-6)  # not squared: float noise ~1e-8
    assert similarity_preserving_loss(f_one, f_two).item() > 1e-5


@pytest.mark.parametrize("arch, channels, imagenet_arch, width", [("resnet50", 3, True, 2048), ("smallcnn", 1, False, 128),
                                                                  ("mobilenet_v3_small", 1, False, 1024)])
def test_features_are_what_the_last_linear_layer_receives(arch, channels, imagenet_arch, width):
    torch.manual_seed(0)
    model = create_model(arch, 4, channels, imagenet_arch=imagenet_arch).eval()
    x = torch.randn(2, channels, 32, 32)
    with torch.no_grad():
        logits, features = forward_with_features(model, x)
        assert features.shape == (2, width)
        assert torch.allclose(logits, model(x))
        head = [m for m in model.modules() if isinstance(m, torch.nn.Linear)][-1]
        assert torch.allclose(head(features), logits, atol=1e-5)


def test_cka_is_one_for_the_same_features_up_to_scale_rotation_and_shift_and_low_for_unrelated():
    torch.manual_seed(0)
    x = torch.randn(600, 32) @ torch.randn(32, 32)
    rotation, _ = torch.linalg.qr(torch.randn(32, 32))
    assert linear_cka(x, x) == pytest.approx(1.0, abs=1e-9)
    assert linear_cka(x, 3.7 * x @ rotation + 5.0) == pytest.approx(1.0, abs=1e-6)
    assert linear_cka(x, x, batch_size=64) == pytest.approx(1.0, abs=1e-9)
    assert abs(linear_cka(x, torch.randn(600, 32))) < 0.1
    related = x + 2.0 * torch.randn(600, 32) * x.std()
    assert 0.1 < linear_cka(x, related) < 0.9
    assert linear_cka(x, related, batch_size=100) == pytest.approx(linear_cka(x, related, batch_size=600), abs=0.05)


def test_knn_accuracy_on_a_separable_toy_set_is_100():
    torch.manual_seed(0)
    labels = torch.arange(200) % 2
    directions = torch.tensor([[10.0, 0.0, 0.0], [0.0, 10.0, 0.0]])
    features = directions[labels] + torch.randn(200, 3)
    assert knn_accuracy(features[:160], labels[:160], features[160:], labels[160:]) == 100.0


def test_fit_images_converts_channels_and_size():
    grey = torch.randint(0, 256, (2, 1, 32, 32), dtype=torch.uint8)
    rgb = fit_images(grey, 3, 28)
    assert rgb.shape == (2, 3, 28, 28) and rgb.dtype == torch.uint8 and torch.equal(rgb[:, 0], rgb[:, 2])
    colour = torch.tensor([[[[30]], [[60]], [[90]]]], dtype=torch.uint8)
    assert fit_images(colour, 1, 1).flatten().tolist() == [60]


def test_imagefolder_tree_loads_with_sorted_class_names_and_a_70_10_20_split(tmp_path):
    root = write_tree(tmp_path / "Art", {"mug": 10, "bike": 10, "pen": 20})
    data = datasets.load_dataset(f"imagefolder:{root}", size=28)
    assert data.name == "Art" and data.class_names == ["bike", "mug", "pen"] and data.task == "multi-class"
    assert data.train.images.shape == (28, 3, 28, 28) and data.train.images.dtype == torch.uint8
    assert len(data.val) == 4 and len(data.test) == 8
    assert torch.bincount(data.train.labels).tolist() == [7, 7, 14]
    again = datasets.load_dataset(f"imagefolder:{root}", size=28)
    assert torch.equal(again.test.images, data.test.images)
    grey = datasets.load_dataset(f"imagefolder:{write_tree(tmp_path / 'scans', {'a': 5, 'b': 5}, mode='L')}", size=64)
    assert grey.train.images.shape[1:] == (1, 64, 64) and grey.task == "binary-class"


def test_imagefolder_uses_train_val_test_subfolders_when_present(tmp_path):
    for split, count in (("train", 6), ("val", 2), ("test", 3)):
        write_tree(tmp_path / "tree" / split, {"x": count, "y": count})
    data = datasets.load_dataset(f"imagefolder:{tmp_path / 'tree'}", size=28)
    assert data.class_names == ["x", "y"] and (len(data.train), len(data.val), len(data.test)) == (12, 4, 6)


def test_imagefolder_mistakes_are_user_errors_naming_the_problem(tmp_path):
    root = write_tree(tmp_path / "tree", {"a": 3, "b": 3})
    (root / "b" / "broken.png").write_bytes(b"not a png at all")
    with pytest.raises(UserError, match=r"cannot read image .*broken\.png"):
        datasets.load_dataset(f"imagefolder:{root}")
    (tmp_path / "flat").mkdir()
    Image.new("L", (8, 8)).save(tmp_path / "flat" / "0.png")
    with pytest.raises(UserError, match="holds no class folders"):
        datasets.load_dataset(f"imagefolder:{tmp_path / 'flat'}")
    with pytest.raises(UserError, match="no such folder"):
        datasets.load_dataset(f"imagefolder:{tmp_path / 'missing'}")


def test_spkd_runs_through_the_registry_and_changes_the_model(unlearn_env):
    args = build_parser("data", "model", "unlearning", "system", "output").parse_args(
        ["--model_id", unlearn_env["model_id"], "--class_to_forget", "3", *unlearn_env["common"], "--unlearn", "SPKD",
         "--unlearn_epochs", "1", "--spkd_sp_weight", "5"])
    setup = load_setup(args)
    before = copy.deepcopy(setup.model.state_dict())
    model, info = unlearn.run(setup.model, setup.data, setup.forget, setup.meta, args, setup.device, show=False)
    assert info["method"] == "SPKD" and info["hparams"]["sp_weight"] == 5 and info["hparams"]["ce_weight"] == 10
    assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert unlearn.get_method("spkd_with_salun").masked


def test_main_test_unlearn_reports_knn_accuracy_and_cka(unlearn_env, tmp_path, cli):
    tree = digits_tree(tmp_path / "low_high")
    out = tmp_path / "report.json"
    code, stdout, err = cli(main_test_unlearn.main, "--model_id", unlearn_env["model_id"], "--class_to_forget", "3",
                            "--knn_dataset", f"imagefolder:{tree}", "--cka_with", unlearn_env["model_id"],
                            "--json", str(out), *unlearn_env["common"])
    assert code == 0, err
    report = json.loads(out.read_text())
    assert report["cka"] == pytest.approx(1.0, abs=1e-6)
    assert report["knn_accuracy"] > 85 and report["knn_dataset"] == f"imagefolder:{tree}"
    assert "kNN transfer accuracy" in stdout and "linear CKA" in stdout
    write_tree(tmp_path / "one_class", {"only": 10})
    code, _, err = cli(main_test_unlearn.main, "--model_id", unlearn_env["model_id"], "--class_to_forget", "3",
                       "--knn_dataset", f"imagefolder:{tmp_path / 'one_class'}", *unlearn_env["common"])
    assert code == 2 and "at least 2" in err


def test_transfer_report_writes_table_csv_and_figure_original_and_retrain_first(tmp_path, cli):
    from utils import transfer_report
    from utils.results import evaluation_record

    def record(row: dict, label: str) -> str:
        return json.dumps(evaluation_record(row, {"model_id": label, "args": {"seed": 1}}, "classification", label))

    results = tmp_path / "results"
    results.mkdir()
    for i, method in enumerate(["SPKD", "retrain", "original", "FT"]):
        row = {"UA": 100.0 - i, "RA": 99.0, "TA": 98.0, "MIA": 97.0, "avg_gap": 0.5 * i, "knn_accuracy": 90.0 + i,
               "cka": 0.9 + 0.01 * i, "unlearn_time_s": None if method == "original" else 1.5,
               "knn_dataset": "imagefolder:x", "cka_with": "r"}
        (results / f"{method}.json").write_text(record(row, method))
    code, stdout, err = cli(transfer_report.main, "--results", str(results), "--out", str(tmp_path / "table"))
    assert code == 0, err
    table = (tmp_path / "table.md").read_text().splitlines()
    assert [line.split("|")[1].strip() for line in table[2:]] == ["original", "retrain", "FT", "SPKD"]
    assert "| original | 98.00 |" in table[2] and table[2].rstrip().endswith("| - |")
    assert (tmp_path / "table.csv").read_text().startswith("method,UA,RA,TA,MIA,avg_gap,knn_accuracy,cka,unlearn_time_s")
    assert (tmp_path / "table.png").stat().st_size > 0
    (results / "GA.json").write_text(record({**row, "cka": None}, "GA"))
    code, _, err = cli(transfer_report.main, "--results", str(results), "--out", str(tmp_path / "table"))
    assert code == 2 and "evaluate with --cka_with" in err
