"""The library call behind both front doors (main_unlearn.py, main_forget.py) and the evaluation script."""
import argparse
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

import datasets
from datasets.base import ImageDataset
from utils import checkpoints
from utils.device import resolve_device
from utils.errors import UserError

from . import forget_sets, get_method, resolve_hparams, run
from .evaluate import unlearning_metrics
from .forget_sets import ForgetSet


@dataclass
class Setup:
    device: torch.device
    data: ImageDataset
    model: nn.Module
    meta: dict
    forget: ForgetSet


def load_setup(args: argparse.Namespace, forget_from_meta: bool = False) -> Setup:
    """Device, data (placed once), the model and its forget set: from the flags, or stored in the checkpoint."""
    device = resolve_device(args.device)
    data = datasets.load(args).place(device)
    model, meta = checkpoints.load_model(args.model_id, args.model_dir, data.describe(), device, args.arch)
    spec = forget_sets.spec_from_args(args)
    named = bool(spec["class_to_forget"] or spec["num_indexes_to_replace"] or spec["indexes_to_replace"])
    if forget_from_meta and "forget" in meta:
        forget = forget_sets.from_meta(meta)
        if named and not torch.equal(forget_sets.resolve(data, spec).indices, forget.indices):
            raise UserError(f"{args.model_id} forgot {forget_sets.describe(forget)}, not what the forget flags name; "
                            f"drop them or pass the same ones")
    else:
        forget = forget_sets.resolve(data, spec)
    return Setup(device, data, model, meta, forget)


def planned_hparams(args: argparse.Namespace, meta: dict) -> dict:
    return resolve_hparams(get_method(args.unlearn), args, meta)


def unlearn_model(setup: Setup, args: argparse.Namespace, mask: dict | None, model_id: str) -> tuple[nn.Module, dict]:
    """Run the method; return the unlearned model and the meta its checkpoint carries."""
    model, info = run(setup.model, setup.data, setup.forget, setup.meta, args, setup.device, mask)
    flags = {k: v for k, v in vars(args).items() if isinstance(v, (str, int, float, bool, type(None)))}
    meta = {**setup.meta, "model_id": model_id, "parent_id": setup.meta.get("model_id", str(args.model_id)),
            "forget": setup.forget.to_meta(), "unlearn": info, "unlearn_args": flags}
    return model, meta


def refuse_existing(paths: list[Path], overwrite: bool) -> None:
    existing = [str(p) for p in paths if p.exists()]
    if existing and not overwrite:
        raise UserError(f"{', '.join(existing)} already exist(s); add --overwrite to replace")


def evaluate(setup: Setup, model: nn.Module, meta: dict, batch_size: int) -> tuple[dict, torch.Tensor]:
    return unlearning_metrics(model, meta, setup.data, setup.forget, setup.device, batch_size)
