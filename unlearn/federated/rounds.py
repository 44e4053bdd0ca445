"""What the site-unlearning methods share: the federation without the leaving site, and rounds of FedAvg."""
import argparse
from dataclasses import dataclass

from torch import nn
from tqdm import tqdm

from engine.federated import Client, Federation, LocalRecipe, State, clone_state, make_clients, run_round

from ..recon.task import ReconTask


@dataclass
class Remaining:
    """The original federation, the sites that stay, their clients and the original local-training recipe."""

    fed: Federation
    sites: list[str]
    clients: list[Client]
    recipe: LocalRecipe
    rounds: int  # communication rounds the original model was trained for

    def run(self, model: nn.Module, state: State, rounds: range, task: ReconTask, desc: str) -> State:
        """FedAvg rounds among the remaining sites, starting from `state`."""
        target = (task.data.slices("train", "image", [self.fed.target], train=True)
                  if self.fed.mode == "mrcm" and self.fed.target in self.sites else None)
        for round_num in tqdm(rounds, desc=desc, disable=not task.show, dynamic_ncols=True):
            state, _, _ = run_round(model, state, self.clients, self.fed, round_num, self.recipe, task.device, target)
        model.load_state_dict(state)
        return state


def remaining(model: nn.Module, task: ReconTask) -> Remaining:
    """The federation of the task's original model without the forgotten site."""
    stored = task.meta["federated"]
    fed = Federation(stored["sites"], stored["target"], stored["mode"], stored["weights"])
    args = argparse.Namespace(**task.meta["args"])
    recipe = LocalRecipe.from_args(args, "image", task.meta["loss"])
    recipe.lr = task.hp.get("lr") or recipe.lr
    sites = [s for s in fed.sites if s != task.forget.group]
    clients = make_clients(task.data, fed, model, recipe, task.device, sites)
    return Remaining(fed, sites, clients, recipe, args.epochs)


__all__ = ["Remaining", "remaining", "clone_state"]
