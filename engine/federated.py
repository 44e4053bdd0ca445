"""Federated MRI reconstruction (seed 004): FL-MR (FedAvg of local training at every site) and FL-MRCM (each site
also aligns its U-Net bottleneck features with the target site's through its own discriminator).

Sites train one after another in one process, or one site per process under torchrun; only model weights
cross process boundaries (an all-reduce of the weighted states). Every random choice of a site's local
training depends on (seed, round, site) alone, so both ways give the same model.
"""
import argparse
import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as torch_dist
import torch.nn.functional as F
from torch import nn

from datasets.mri.data import ReconData, SliceDataset, make_loader
from utils.errors import UserError

from .recon import sample_loss
from .train_loop import Step, optimizer_for, optimizer_step, to_device, train_epoch

State = dict[str, torch.Tensor]


@dataclass
class Federation:
    sites: list[str]  # the training sites, in order
    target: str | None  # --test_dataset: validated every round; FL-MRCM aligns to it
    mode: str  # "fedavg" (FL-MR) or "mrcm" (FL-MRCM)
    weights: list[float]  # FedAvg weight of each site

    def to_meta(self) -> dict:
        return {"mode": self.mode, "sites": self.sites, "target": self.target, "weights": self.weights}


def parse_sites(text: str | None, known: list[str], flag: str = "--train_dataset") -> list[str]:
    """'BFHI' (or 'B,F,H,I') -> ['B', 'F', 'H', 'I'], each a site of --sites."""
    letters = [c for c in (text or "").replace(",", "") if not c.isspace()] or list(known)
    missing = [c for c in letters if c not in known]
    if missing:
        raise UserError(f"{flag} {text}: site {missing[0]} has no folder in --sites (sites: {', '.join(known)})")
    if len(set(letters)) != len(letters):
        raise UserError(f"{flag} {text} names a site twice")
    return letters


def federation_from_args(args: argparse.Namespace, data: ReconData, mode: str | None = None) -> Federation:
    """The training sites, target site and FedAvg weights the flags describe, checked against the data."""
    sites = parse_sites(args.train_dataset, data.groups)
    if args.num_users is not None and args.num_users != len(sites):
        raise UserError(f"--num_users {args.num_users} does not match the {len(sites)} training sites "
                        f"({''.join(sites)}); drop it or pass --num_users {len(sites)}")
    target = args.test_dataset
    if target is not None:
        parse_sites(target, data.groups, "--test_dataset")
        if len(target) != 1:
            raise UserError(f"--test_dataset {target}: name one site")
        if not data.has_split("test", target):
            raise UserError(f"--test_dataset {target}: {data.roots[target]} has no test split with .h5 volumes")
    mode = mode or args.federated or "fedavg"
    if mode == "mrcm" and target is None:
        raise UserError("--federated mrcm aligns every site with a target site: pass --test_dataset LETTER")
    if args.fedavg_weights == "size":
        sizes = [sum(v.num_slices for v in data.volumes("train", [s])) for s in sites]
        weights = [n / sum(sizes) for n in sizes]
    else:
        weights = [1.0 / len(sites)] * len(sites)
    return Federation(sites, target, mode, weights)


def fedavg(states: list[State], weights: list[float] | None = None) -> State:
    """Weighted mean of state dicts, tensor by tensor (unweighted when `weights` is None); integer buffers are
    taken from the first state."""
    weights = weights or [1.0 / len(states)] * len(states)
    out = {}
    for key, first in states[0].items():
        if not first.is_floating_point():
            out[key] = first.clone()
            continue
        total = torch.zeros_like(first)
        for state, w in zip(states, weights):
            total += w * state[key]
        out[key] = total
    return out


def all_reduce_average(state: State, weight: float) -> State:
    """FedAvg across processes: every process holds one site's state; the sum of weight·state everywhere."""
    out = {}
    for key, value in state.items():
        if not value.is_floating_point():
            out[key] = value.clone()
            continue
        total = weight * value
        torch_dist.all_reduce(total)
        out[key] = total
    return out


def clone_state(model: nn.Module) -> State:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


class Discriminator(nn.Module):
    """FL-MRCM's feature discriminator: Linear(d, 256), LeakyReLU, Linear(256, 2), LeakyReLU."""

    def __init__(self, latent_dim: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(latent_dim, 256), nn.LeakyReLU(0.2), nn.Linear(256, 2), nn.LeakyReLU(0.2))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


SOURCE, TARGET = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])


@dataclass
class Client:
    """One site: its train slices and, for FL-MRCM, its discriminator and optimisers, kept across rounds."""

    name: str
    index: int
    slices: SliceDataset
    discriminator: Discriminator | None = None
    d_optimizer: torch.optim.Optimizer | None = None
    g_optimizer: torch.optim.Optimizer | None = None

    def state(self) -> dict:
        """What --continues needs of this client (FL-MRCM only)."""
        if self.discriminator is None:
            return {}
        return {"discriminator": self.discriminator.state_dict(), "d_optimizer": self.d_optimizer.state_dict(),
                "g_optimizer": self.g_optimizer.state_dict()}

    def load(self, state: dict) -> None:
        if state and self.discriminator is not None:
            self.discriminator.load_state_dict(state["discriminator"])
            self.d_optimizer.load_state_dict(state["d_optimizer"])
            self.g_optimizer.load_state_dict(state["g_optimizer"])


@dataclass
class LocalRecipe:
    """How every site trains in a round."""

    kind: str
    loss: str
    optimizer: str
    lr: float
    lr_step: int
    local_ep: int
    batch_size: int
    seed: int
    adv_weight: float = 1.0
    num_workers: int = 0
    epoch_share: float = 1.0  # share of each local epoch's batches a site trains on (FedEraser's calibration)

    @classmethod
    def from_args(cls, args: argparse.Namespace, kind: str, loss: str) -> "LocalRecipe":
        return cls(kind, loss, args.optimizer, args.lr, args.lr_step, args.local_ep, args.local_bs or args.batch_size,
                   args.seed, args.adv_weight, args.num_workers)

    def lr_at(self, round_num: int) -> float:
        """FL-MRCM's StepLR(step_size=lr_step, gamma=0.1) stepped once per round."""
        return self.lr * 0.1 ** (round_num // self.lr_step)


def make_clients(data: ReconData, fed: Federation, model: nn.Module, recipe: LocalRecipe, device: torch.device,
                 sites: list[str] | None = None) -> list[Client]:
    """A client per site (or per name in `sites`), with a discriminator each under FL-MRCM (not for the target)."""
    clients = []
    for name in sites or fed.sites:
        client = Client(name, fed.sites.index(name), data.slices("train", recipe.kind, [name], train=True))
        if fed.mode == "mrcm" and name != fed.target:
            torch.manual_seed(recipe.seed * 1009 + client.index)
            client.discriminator = Discriminator(latent_size(model, client.slices, device)).to(device)
            client.d_optimizer = optimizer_for(client.discriminator.parameters(), recipe.optimizer, 10 * recipe.lr)
            client.g_optimizer = optimizer_for(model.parameters(), recipe.optimizer, recipe.lr)
        clients.append(client)
    return clients


@torch.no_grad()
def latent_size(model: nn.Module, slices: SliceDataset, device: torch.device) -> int:
    sample = slices[0]
    _, z = model(sample.image.unsqueeze(0).to(device), return_latent=True)
    return z.shape[1]


def local_update(model: nn.Module, client: Client, round_num: int, recipe: LocalRecipe, device: torch.device,
                 target: SliceDataset | None = None) -> float:
    """`recipe.local_ep` epochs of this site's training on `model` (in place); returns the mean loss.

    FL-MR: a fresh optimiser every round. FL-MRCM: the site's persistent optimisers; each source batch is paired
    with a target-site batch, the discriminator learns to tell their latents apart and the network is trained
    to make them alike (flipped codes), with weight `recipe.adv_weight`."""
    loss_fn = sample_loss(recipe.loss)
    adversarial = client.discriminator is not None and target is not None
    optimizer = client.g_optimizer if client.g_optimizer is not None else optimizer_for(
        model.parameters(), recipe.optimizer, recipe.lr)
    for group in optimizer.param_groups:
        group["lr"] = recipe.lr_at(round_num)
    if adversarial:
        for group in client.d_optimizer.param_groups:
            group["lr"] = 10 * recipe.lr_at(round_num)
    total, seen = 0.0, 0
    for e in range(recipe.local_ep):
        epoch = round_num * recipe.local_ep + e
        seed = recipe.seed * 1000 + client.index
        loader = make_loader(client.slices, recipe.batch_size, shuffle=True, seed=seed, epoch=epoch,
                             num_workers=recipe.num_workers, device=device)
        if adversarial:
            targets = [iter(make_loader(target, recipe.batch_size, shuffle=True, seed=seed + 500, epoch=epoch,
                                        num_workers=recipe.num_workers, device=device))]

            def batch_loss(net: nn.Module, batch: dict) -> Step:
                target_batch, targets[0] = next_cycled(targets[0], target, recipe, seed + 500, epoch, device)
                return Step(adversarial_loss(net, client, batch, target_batch, loss_fn, recipe), len(batch.target))
        else:
            def batch_loss(net: nn.Module, batch: dict) -> Step:
                return Step(loss_fn(batch.predict(net), batch).mean(), len(batch.target))
        stats = train_epoch(model, loader, optimizer, batch_loss, device=device,
                            max_steps=math.ceil(recipe.epoch_share * len(loader)), show=False)
        total, seen = total + stats["loss"] * stats["samples"], seen + stats["samples"]
    return total / max(seen, 1)


def next_cycled(iterator, dataset: SliceDataset, recipe: LocalRecipe, seed: int, epoch: int, device: torch.device):
    """The next target batch, starting the target loader again when it runs out (FL-MRCM replicates it)."""
    try:
        return to_device(next(iterator), device), iterator
    except StopIteration:
        iterator = iter(make_loader(dataset, recipe.batch_size, shuffle=True, seed=seed, epoch=epoch + 10**6,
                                    num_workers=recipe.num_workers, device=device))
        return to_device(next(iterator), device), iterator


def adversarial_loss(model: nn.Module, client: Client, batch: dict, target_batch: dict, loss_fn,
                     recipe: LocalRecipe) -> torch.Tensor:
    """One FL-MRCM step's discriminator update on detached latents; returns the network's loss, reconstruction +
    alignment (the caller steps the network on it)."""
    disc = client.discriminator
    out, z = model(batch.image, return_latent=True)
    _, z_t = model(target_batch.image, return_latent=True)
    source, target = SOURCE.to(z.device).expand(len(z), 2), TARGET.to(z.device).expand(len(z_t), 2)
    d_loss = 0.5 * (F.binary_cross_entropy_with_logits(disc(z.detach()), 1 - source)
                    + F.binary_cross_entropy_with_logits(disc(z_t.detach()), 1 - target))
    optimizer_step(d_loss, client.d_optimizer)
    adv = 0.5 * (F.binary_cross_entropy_with_logits(disc(z), source)
                 + F.binary_cross_entropy_with_logits(disc(z_t), target))
    return loss_fn(out, batch).mean() + recipe.adv_weight * adv


def run_round(model: nn.Module, global_state: State, clients: list[Client], fed: Federation, round_num: int,
              recipe: LocalRecipe, device: torch.device, target: SliceDataset | None = None,
              distributed: bool = False) -> tuple[State, dict[str, State], dict[str, float]]:
    """Every client trains from the global state; returns the new global state (FedAvg), the clients' states
    and their mean losses. Under torchrun each process holds one client and the average is an all-reduce."""
    states, losses = {}, {}
    for client in clients:
        model.load_state_dict(global_state)
        losses[client.name] = local_update(model, client, round_num, recipe, device, target)
        states[client.name] = clone_state(model)
    if distributed:
        (name, state), = states.items()
        return all_reduce_average(state, fed.weights[fed.sites.index(name)]), states, losses
    weights = [fed.weights[fed.sites.index(c.name)] for c in clients]
    total = sum(weights)
    return fedavg(list(states.values()), [w / total for w in weights]), states, losses


def updates_folder(model_dir: str, model_id: str) -> Path:
    """Where training stores the global model and the site updates every --unlearn_interval rounds."""
    return Path(model_dir) / f"{model_id}_updates"
