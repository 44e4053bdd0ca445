"""FedEraser (Liu et al. 2021): rebuild the global model from the updates stored during training, without the
leaving site, calibrating every stored round with a short training of the remaining sites.

From the first stored round: new_GM = FedAvg(old client models without the site). At each later stored round t,
the remaining sites train from new_GM for local_ep × --forget_local_epoch_ratio epochs (0.5 of an epoch: half of
its batches), and per
tensor new_GM ← new_GM + ‖mean(old_CM_t) − old_GM_t‖ · (mean(new_CM_t) − new_GM) / ‖mean(new_CM_t) − new_GM‖.
"""
import math
import re

import torch
from torch import nn

from engine.federated import State, fedavg, run_round, updates_folder
from engine.train_loop import to_device
from utils.errors import UserError

from .. import register
from ..knobs import Range
from ..recon.task import ReconTask
from .rounds import remaining

STORED = re.compile(r"round(\d+)_global\.pt")


def stored_rounds(task: ReconTask) -> list[int]:
    """Rounds whose global model and site updates training stored (--unlearn_interval)."""
    folder = updates_folder(task.meta["args"]["model_dir"], task.meta["model_id"])
    rounds = sorted(int(m[1]) for p in folder.glob("round*_global.pt") if (m := STORED.fullmatch(p.name)))
    if not rounds:
        raise UserError(f"{task.meta['model_id']} stored no client updates ({folder} is empty or missing): train it "
                        f"with --unlearn_interval N (e.g. 1) to use federaser")
    return rounds


def calibrated(new_gm: State, new_avg: State, old_gm: State, old_avg: State) -> State:
    """new_GM + ‖old step‖ · direction of the new step, tensor by tensor."""
    out = {}
    for key, value in new_gm.items():
        if not value.is_floating_point():
            out[key] = value
            continue
        new_step, old_step = new_avg[key] - value, old_avg[key] - old_gm[key]
        norm = new_step.norm()
        out[key] = value + old_step.norm() * new_step / norm if norm > 0 else value
    return out


@register("federaser", salun=False, task="federated", epochs=0, lr="parent", forget_local_epoch_ratio=0.5,
          search={"forget_local_epoch_ratio": Range(0.1, 1.0)})
def federaser(model: nn.Module, task: ReconTask) -> nn.Module:
    rounds = stored_rounds(task)
    rest = remaining(model, task)
    folder = updates_folder(task.meta["args"]["model_dir"], task.meta["model_id"])
    weights = [rest.fed.weights[rest.fed.sites.index(s)] for s in rest.sites]
    weights = [w / sum(weights) for w in weights]

    def old(round_num: int) -> tuple[State, State]:
        global_state = torch.load(folder / f"round{round_num:03d}_global.pt", map_location=task.device, weights_only=True)
        clients = [torch.load(folder / f"round{round_num:03d}_{s}.pt", map_location=task.device, weights_only=True)
                   for s in rest.sites]
        return global_state, fedavg(clients, weights)

    new_gm = to_device(old(rounds[0])[1], task.device)
    share = rest.recipe.local_ep * task.hp["forget_local_epoch_ratio"]
    rest.recipe.local_ep = max(1, math.ceil(share))
    rest.recipe.epoch_share = min(1.0, share / rest.recipe.local_ep)
    for round_num in rounds[1:]:
        new_avg, _, _ = run_round(model, new_gm, rest.clients, rest.fed, round_num, rest.recipe, task.device)
        old_gm, old_avg = old(round_num)
        new_gm = calibrated(new_gm, new_avg, old_gm, old_avg)
    model.load_state_dict(new_gm)
    return model
