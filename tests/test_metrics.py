import math

import pytest
import torch

from utils import metrics
from utils.schedule import lr_factor
from utils.tables import format_table


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
