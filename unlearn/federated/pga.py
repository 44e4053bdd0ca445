"""PGA (Halimi et al. 2022): the leaving site ascends its own loss from the mean of the other sites' models,
projected onto an L2 ball around that mean, then the remaining sites run a few FedAvg rounds (--unlearn_epochs).

The reference point w_ref = (w_global − p_k·w_k) / (1 − p_k), with w_k the leaving site's local model from the
global one; the ball's radius is a third of the distance from w_ref to a freshly initialised model.
"""
import torch
from torch import nn

from datasets.mri.data import make_loader
from engine.federated import local_update, make_clients
from engine.recon_training import build_model, plain_loss
from engine.train_loop import ascent, train_epoch
from utils.device import seed_everything

from .. import register
from ..knobs import EPOCHS, LR_ADAM, Range
from ..recon.task import ReconTask
from .rounds import clone_state, remaining


def flat(state: dict[str, torch.Tensor]) -> torch.Tensor:
    return torch.cat([v.flatten() for v in state.values() if v.is_floating_point()])


@register("pga", salun=False, task="federated", epochs=2, lr=1e-3, ascent_epochs=1,
          search={"epochs": EPOCHS, "lr": LR_ADAM, "ascent_epochs": Range(1, 5, integer=True)})
def projected_gradient_ascent(model: nn.Module, task: ReconTask) -> nn.Module:
    rest = remaining(model, task)
    site = task.forget.group
    share = rest.fed.weights[rest.fed.sites.index(site)]
    global_state = clone_state(model)
    leaving = make_clients(task.data, rest.fed, model, rest.recipe, task.device, [site])[0]
    local_update(model, leaving, rest.rounds, rest.recipe, task.device)
    local = clone_state(model)
    reference = {k: (v - share * local[k]) / (1 - share) if v.is_floating_point() else v for k, v in global_state.items()}
    seed_everything(task.hp["seed"])
    radius = float((flat(reference) - flat(build_model(task.meta).to(task.device).state_dict())).norm() / 3)
    model.load_state_dict(reference)
    centre = [reference[name] for name, _ in model.named_parameters()]
    optimizer = torch.optim.SGD(model.parameters(), lr=task.hp["lr"])
    for epoch in range(task.hp["ascent_epochs"]):
        batches = make_loader(leaving.slices, rest.recipe.batch_size, shuffle=True, seed=task.hp["seed"], epoch=epoch,
                              num_workers=task.num_workers, device=task.device)
        train_epoch(model, batches, optimizer, ascent(plain_loss(task.meta["loss"])), device=task.device,
                    after_step=lambda net: project(net, centre, radius), show=False)
    rest.run(model, clone_state(model), range(rest.rounds, rest.rounds + task.hp["epochs"]), task, "pga rounds")
    return model


@torch.no_grad()
def project(model: nn.Module, centre: list[torch.Tensor], radius: float) -> None:
    """Pull the parameters back onto the L2 ball of `radius` around `centre` when they leave it."""
    params = list(model.parameters())
    distance = torch.cat([(p - c).flatten() for p, c in zip(params, centre)]).norm()
    if distance > radius:
        for p, c in zip(params, centre):
            p.copy_(c + (p - c) * (radius / distance))
