"""BadT (Chundawat et al. 2023): distil from the original model on retain rows and from a random model on forget rows."""
import torch
from torch import nn

from models import create_model

from . import register
from .losses import distillation_kl
from .task import Pass, UnlearnTask, frozen_copy, marked_split, optimise


@register("BadT", epochs=1, lr=0.003, kd_T=1.0)
def bad_teacher(model: nn.Module, task: UnlearnTask) -> nn.Module:
    good = task.frozen_original()
    meta = task.meta
    torch.manual_seed(task.hp["seed"] + 1)
    bad = frozen_copy(create_model(meta["arch"], meta["num_classes"], meta["in_channels"],
                                   imagenet_arch=meta.get("imagenet_arch", False)).to(task.device))
    marked = task.marked_labels()

    def batch_loss(net: nn.Module, x: torch.Tensor, y: torch.Tensor):
        is_forget, target = marked_split(y)
        logits = net(x)
        with torch.no_grad():
            teacher = torch.where(is_forget[:, None], bad(x).float(), good(x).float())
        return distillation_kl(logits, teacher, task.hp["kd_T"]), logits, target

    return optimise(model, task, [Pass("train", batch_loss, labels=lambda epoch: marked, name="distil")], desc="BadT")
