"""BadT (Chundawat et al. 2023, vikram2000/bad-teaching-unlearning): distil from the original model on retain rows
and from a randomly initialised model on forget rows, over the forget set and a random 30 % of the retain set."""
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from engine.train_loop import Step, labelled
from models import create_model

from . import register
from .knobs import EPOCHS, LR_ADAM, Range
from .task import Pass, UnlearnTask, frozen_copy, marked_split, optimise


def teacher_mixture(good: torch.Tensor, bad: torch.Tensor, is_forget: torch.Tensor, temperature: float) -> torch.Tensor:
    """Per row: softmax(bad/T) on forget rows, softmax(good/T) on retain rows (the reference's UnlearnerLoss target)."""
    u, f = F.softmax(bad.float() / temperature, 1), F.softmax(good.float() / temperature, 1)
    flag = is_forget.float()[:, None]
    return flag * u + (1 - flag) * f


def retain_share(task: UnlearnTask, share: float) -> torch.Tensor:
    """A seeded random `share` of the retain rows (the reference samples 30 % of them)."""
    retain = task.retain_indices
    rng = np.random.default_rng([task.hp["seed"], 11])
    pick = rng.choice(len(retain), size=max(1, int(share * len(retain))), replace=False)
    return retain[torch.from_numpy(np.sort(pick))]


# the reference: Adam lr 1e-4, batch 256, KL temperature 1, 1 epoch on CIFAR (~70 steps); Digits' forget ∪ 30 %
# retain fills 2 batches, so 10 epochs give a comparable number of steps
@register("BadT", epochs=10, lr=1e-4, optimizer="adam", batch_size=256, kd_T=1.0, retain_share=0.3,
          search={"epochs": EPOCHS, "lr": LR_ADAM, "kd_T": Range(1.0, 4.0)})
def bad_teacher(model: nn.Module, task: UnlearnTask) -> nn.Module:
    good = task.frozen_original()
    meta = task.meta
    torch.manual_seed(task.hp["seed"] + 1)
    bad = frozen_copy(create_model(meta["arch"], meta["num_classes"], meta["in_channels"],
                                   imagenet_arch=meta.get("imagenet_arch", False)).to(task.device))
    marked, t = task.marked_labels(), task.hp["kd_T"]
    rows = torch.cat([task.forget.indices, retain_share(task, task.hp["retain_share"])])

    def batch_loss(net: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> Step:
        x, y = batch
        is_forget, target = marked_split(y)
        logits = net(x)
        with torch.no_grad():
            teacher = teacher_mixture(good(x), bad(x), is_forget, t)
        # the reference's F.kl_div default "mean" reduction: averaged over rows and classes
        loss = F.kl_div(F.log_softmax(logits.float() / t, 1), teacher, reduction="sum") / teacher.numel()
        return labelled(loss, logits, target)

    return optimise(model, task, [Pass(rows, batch_loss, labels=lambda epoch: marked, name="distil")], desc="BadT")
