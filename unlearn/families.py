"""The family registry. Each family of runs (classification, reconstruction, federated) is one class that does, for
every script, what that family needs: train, test, examine, set up an unlearning run, its SalUn saliency, the task its
methods work on, and its reports. Families register themselves as timm's models do (`register_family` /
`family_entrypoint`); a script looks its family up once (`family_for_flags`) and calls it. Which family a run is in
is answered only by engine/family.py."""
import argparse
from typing import Any

import torch
from torch import nn

from engine.family import FAMILIES, family_from_flags, family_from_meta
from utils.errors import UserError

_FAMILIES: dict[str, "Family"] = {}


class Family:
    """What each script asks of a family; every family implements all of it."""

    name: str
    augments_mri: bool = False  # takes main_train.py's --mri_aug
    audited: bool = False  # main_audit.py has a shadow-model audit of its models

    def check_training_flags(self, args: argparse.Namespace) -> None:
        """Refuse a training flag this family does not take, before any work."""
        if (args.mri_aug or args.mri_aug_affine) and not self.augments_mri:
            raise UserError("--mri_aug and --mri_aug_affine augment reconstruction training of one model "
                            f"(--train_groups); drop them for {self.name} training")

    def train(self, args: argparse.Namespace) -> dict:
        """main_train.py: train (or resume) the model the flags describe; a summary of the run."""
        raise NotImplementedError

    def training_lines(self, summary: dict) -> list[str]:
        """What main_train.py prints about the best checkpoint of a finished run."""
        raise NotImplementedError

    def test(self, args: argparse.Namespace) -> dict:
        """main_test.py: the model's metrics on --split, with figures."""
        raise NotImplementedError

    def examine(self, args: argparse.Namespace) -> dict:
        """examine_dataset.py: what the data hold, with a figure."""
        raise NotImplementedError

    def load_setup(self, args: argparse.Namespace, forget_from_meta: bool = False) -> Any:
        """Device, data, the model to unlearn from and its forget set (`.family` names its methods' family)."""
        raise NotImplementedError

    def saliency(self, setup: Any, args: argparse.Namespace) -> dict[str, torch.Tensor]:
        """SalUn's weight saliency on the forget set: per parameter, |gradient of the forget loss|."""
        raise NotImplementedError

    def make_task(self, model: nn.Module, data: Any, forget: Any, meta: dict, device: torch.device, hp: dict,
                  mask: dict | None, show: bool, args: argparse.Namespace) -> Any:
        """What the family's unlearning methods work on."""
        raise NotImplementedError

    def forget_report(self, setup: Any, model: nn.Module, meta: dict, args: argparse.Namespace) -> tuple[dict, str]:
        """main_forget.py: the unlearned model's evaluation (SalUn's eval_result.json) and its one-line summary."""
        raise NotImplementedError

    def unlearn_report(self, setup: Any, args: argparse.Namespace) -> dict:
        """main_test_unlearn.py: the evaluation table of an unlearned model, and its gap to the retrained one."""
        raise NotImplementedError

    # main_tune.py: how a trial of the family's methods is scored, and against which retrained model
    retrain_method: str = "retrain"  # the gold standard's method id in this family

    def tune_validation(self, setup: Any, seed: int, count: int) -> list[Any]:
        """Forget sets to score trials on, never the user's evaluation: up to `count` of them."""
        raise NotImplementedError

    def tune_measures(self, setup: Any, model: nn.Module, meta: dict, forget: Any, final: bool) -> dict[str, float]:
        """The measures of `model` on `forget` that a trial (or, `final`, the chosen setting's run) reports."""
        raise NotImplementedError

    def tune_gap(self, result: dict[str, float], reference: dict[str, float]) -> float:
        """The objective avg_gap: how far measures are from the retrained model's."""
        raise NotImplementedError

    def describe_forget(self, forget: Any) -> str:
        """A forget set in words, for tables and study attributes."""
        raise NotImplementedError


def register_family(cls: type[Family]) -> type[Family]:
    """Class decorator: register one instance of a Family under its `name`."""
    _FAMILIES[cls.name] = cls()
    return cls


def family_entrypoint(name: str) -> Family:
    return _FAMILIES[name]


def available_families() -> list[str]:
    return [name for name in FAMILIES if name in _FAMILIES]


def family_for_flags(args: argparse.Namespace) -> Family:
    """The family the script's flags start."""
    return family_entrypoint(family_from_flags(args))


def family_for_checkpoint(meta: dict) -> Family:
    """The family of a checkpoint (its methods, its task)."""
    return family_entrypoint(family_from_meta(meta))
