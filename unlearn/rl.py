"""RL: random labels (SalUn = RL + mask). `RL` is SalUn's CIFAR-10 branch; `RL_other` is this project's earlier variant."""
import numpy as np
import torch
from torch import nn

from . import register
from .knobs import EPOCHS, LR_SGD
from .losses import cross_entropy
from .task import Pass, UnlearnTask, optimise


def random_labels_any(task: UnlearnTask, epoch: int) -> torch.Tensor:
    """Train labels with each forget row relabelled uniformly among all K classes, its true class included (seeded per epoch)."""
    labels = task.data.train.labels.cpu().clone()
    rows = task.forget.indices
    rng = np.random.default_rng([task.hp["seed"], epoch, 7])
    labels[rows] = torch.from_numpy(rng.integers(0, task.num_classes, size=len(rows)))
    return labels


def random_other_labels(task: UnlearnTask, epoch: int) -> torch.Tensor:
    """Train labels with each forget row relabelled uniformly among the dataset's other classes (seeded per epoch)."""
    labels = task.data.train.labels.cpu().clone()
    rows = task.forget.indices
    rng = np.random.default_rng([task.hp["seed"], epoch, 7])
    shift = torch.from_numpy(rng.integers(1, task.num_classes, size=len(rows)))
    labels[rows] = (labels[rows] + shift) % task.num_classes
    return labels


@register("RL", epochs=5, lr=0.01, search={"epochs": EPOCHS, "lr": LR_SGD})
def random_labels(model: nn.Module, task: UnlearnTask) -> nn.Module:
    """SalUn's RL (RL.py, CIFAR-10 branch): per epoch a pass over forget with labels drawn from all K classes, then a
    pass over retain with true labels."""
    forget = Pass("forget", cross_entropy(), labels=lambda epoch: random_labels_any(task, epoch), name="forget")
    return optimise(model, task, [forget, Pass("retain", cross_entropy())], desc="RL")


@register("RL_other", epochs=5, lr=0.01, search={"epochs": EPOCHS, "lr": LR_SGD})
def random_other_labels_mixed(model: nn.Module, task: UnlearnTask) -> nn.Module:
    """RL variant: forget rows get a random *other* class (never the true one), and one shuffled pass per epoch runs
    over forget ∪ retain (like SalUn's CIFAR-100 branch, but never drawing the true class)."""
    relabelled = Pass("train", cross_entropy(), labels=lambda epoch: random_other_labels(task, epoch), name="forget+retain")
    return optimise(model, task, [relabelled], desc="RL_other")
