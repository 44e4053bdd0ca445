import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from utils import metrics
from utils.schedule import lr_factor
from utils.tables import format_table

ROOT = Path(__file__).resolve().parents[1]


def test_accuracy_per_class_and_confusion_from_logits():
    labels = torch.tensor([0, 0, 1, 1, 2])
    logits = torch.eye(3)[torch.tensor([0, 1, 1, 1, 0])]
    assert metrics.accuracy(logits, labels) == pytest.approx(60.0)
    per_class = metrics.per_class_accuracy(logits, labels, 4)
    assert per_class[:3] == [50.0, 100.0, 0.0] and math.isnan(per_class[3])
    assert metrics.confusion_matrix(logits, labels, 3).tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]


def test_auc_is_one_for_perfect_scores_and_half_for_constant_ones():
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    assert metrics.auc(torch.eye(3)[labels] * 5, labels) == pytest.approx(1.0)
    assert metrics.auc(torch.zeros(6, 3), labels) == pytest.approx(0.5)
    binary = torch.tensor([0, 1, 1, 0])
    assert metrics.auc(torch.tensor([[0.0, -1], [0, 2], [0, 1], [0, -2]]), binary) == pytest.approx(1.0)


def test_multilabel_accuracy_is_mean_per_label_accuracy():
    labels = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    logits = torch.tensor([[3.0, -1.0], [2.0, -4.0]])
    assert metrics.accuracy(logits, labels, multilabel=True) == pytest.approx(75.0)
    assert metrics.per_class_accuracy(logits, labels, 2, multilabel=True) == [100.0, 50.0]


def test_lr_schedules():
    assert [lr_factor(s, 10, 2, "none") for s in (0, 1, 5)] == [0.5, 1.0, 1.0]
    assert lr_factor(2, 10, 2, "cosine") == pytest.approx(1.0)
    assert lr_factor(10, 10, 2, "cosine") == pytest.approx(0.0)
    assert [lr_factor(s, 100, 0, "step") for s in (49, 50, 75)] == pytest.approx([1.0, 0.1, 0.01])


def test_table_pads_columns_and_shows_nan_as_dash():
    text = format_table(["class", "acc"], [["a", 1.234], ["bbb", float("nan")]])
    assert text.splitlines()[2] == "a      1.23" and text.splitlines()[3].endswith("-")


def mia_shadow_sets(seed: int) -> tuple:
    """Members' and non-members' confidences as a model gives them (many near 1, some rounded into ties), and
    targets spread over [0, 1]."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(20, 1200))
    members = rng.beta(8, 1, n)
    non_members = np.round(rng.beta(4, 1, n), int(rng.integers(2, 6)))
    features = np.concatenate([members, non_members])[:, None]
    truth = np.concatenate([np.ones(n), np.zeros(n)])
    return features, truth, rng.uniform(0, 1, (500, 1))


@pytest.mark.parametrize("seed", range(6))
def test_the_mia_svc_predicts_exactly_what_scikit_learns_svc_does(seed):
    from sklearn.svm import SVC
    features, truth, targets = mia_shadow_sets(seed)
    ours = metrics.rbf_svc_predict(features, truth, targets, C=3)
    theirs = SVC(C=3, gamma="auto", kernel="rbf").fit(features, truth).predict(targets)
    assert 0 < ours.mean() < 1 and (ours == theirs).all()


def test_the_mia_svc_needs_both_classes():
    with pytest.raises(ValueError, match="both classes"):
        metrics.rbf_svc_predict(np.zeros((4, 1)), np.ones(4), np.zeros((2, 1)), C=3)


def test_the_mia_svc_loads_libsvm_without_importing_scikit_learn_or_leaving_modules_behind():
    script = """
import sys, torch
from utils import metrics
efficacy = metrics.svc_mia_efficacy(torch.rand(300), torch.rand(200) * 0.9, torch.rand(100))
left = [name for name in sys.modules if name.split(".")[0] in ("sklearn", "scipy")]
assert not left, left
from sklearn.svm import SVC, _libsvm
assert _libsvm is metrics.compiled_libsvm()
print(efficacy)
"""
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert 0 <= float(done.stdout) <= 100
