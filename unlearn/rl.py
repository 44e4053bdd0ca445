"""RL: random labels. Forget samples get a random *other* class, then train on forget ∪ retain (SalUn = RL + mask)."""
import numpy as np
import torch
from torch import nn

from . import register
from .losses import cross_entropy
from .task import Pass, UnlearnTask, optimise


def random_other_labels(task: UnlearnTask, epoch: int) -> torch.Tensor:
    """Train labels with each forget row relabelled uniformly among the dataset's other classes (seeded per epoch)."""
    labels = task.data.train.labels.cpu().clone()
    rows = task.forget.indices
    rng = np.random.default_rng([task.hp["seed"], epoch, 7])
    shift = torch.from_numpy(rng.integers(1, task.num_classes, size=len(rows)))
    labels[rows] = (labels[rows] + shift) % task.num_classes
    return labels


@register("RL", epochs=5, lr=0.01)
def random_labels(model: nn.Module, task: UnlearnTask) -> nn.Module:
    relabelled = Pass("train", cross_entropy(), labels=lambda epoch: random_other_labels(task, epoch), name="forget+retain")
    return optimise(model, task, [relabelled], desc="RL")
