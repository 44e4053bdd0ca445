"""The library call behind both front doors (main_unlearn.py, main_forget.py) and the evaluation script."""
import argparse
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

import datasets
import models
from arg_parser import task_of
from datasets import manipulate
from datasets.base import ImageDataset
from utils import checkpoints
from utils.device import resolve_device
from utils.errors import UserError
from utils.paths import check_writable_dir

from . import check_flags, forget_sets, get_method, resolve_hparams, run
from .evaluate import Logits, corrective_metrics, unlearning_metrics
from .forget_sets import ForgetSet


@dataclass
class Setup:
    device: torch.device
    data: ImageDataset
    model: nn.Module
    meta: dict
    forget: ForgetSet
    clean_train_labels: torch.Tensor  # before any manipulation
    manipulation: dict | None


def load_setup(args: argparse.Namespace, forget_from_meta: bool = False) -> Setup:
    """Device, data (placed once), the model and its forget set: from the flags, or stored in the checkpoint.
    With --train_groups: the reconstruction setup (a group to forget)."""
    if task_of(args) == "reconstruction":
        from .recon.workflow import load_recon_setup
        return load_recon_setup(args, forget_from_meta)
    for flag, what in (("forget_group", "an MRI group of --train_groups"), ("forget_site", "a site of --sites")):
        if getattr(args, flag, None):
            raise UserError(f"--{flag} names {what}, but this is a classification run (no --train_groups or --sites): "
                            f"forget with --class_to_forget, --num_indexes_to_replace or --indexes_to_replace")
    spec = forget_sets.spec_from_args(args)  # flag mistakes first, before the data and model are read
    device = resolve_device(args.device)
    clean = datasets.load(args)
    model, meta = models.load_model(args.model_id, args.model_dir, clean.describe(), device, args.arch)
    manipulation = meta.get("manipulation")
    data = manipulate.apply(clean, manipulation).place(device)
    manipulated = manipulation["indices"] if manipulation else None
    if forget_from_meta and "forget" in meta:
        forget = forget_sets.from_meta(meta)
        named = forget_sets.names_rows(spec) or spec["deletion_size"]
        if named and not torch.equal(forget_sets.resolve(data, spec, manipulated).indices, forget.indices):
            raise UserError(f"{args.model_id} forgot {forget_sets.describe(forget)}, not what the forget flags name; "
                            f"drop them or pass the same ones")
    else:
        forget = forget_sets.resolve(data, spec, manipulated)
    return Setup(device, data, model, meta, forget, clean.train.labels, manipulation)


def planned_hparams(args: argparse.Namespace, meta: dict) -> dict:
    """The method's knobs for this run, after refusing every flag given that the method does not take."""
    kind = "federated" if meta.get("federated") else checkpoints.family(meta.get("task"))
    method = get_method(args.unlearn, kind)
    check_flags(method, args)
    return resolve_hparams(method, args, meta)


def unlearn_model(setup: Setup, args: argparse.Namespace, mask: dict | None, model_id: str) -> tuple[nn.Module, dict]:
    """Run the method; return the unlearned model and the meta its checkpoint carries."""
    model, info = run(setup.model, setup.data, setup.forget, setup.meta, args, setup.device, mask)
    flags = {k: v for k, v in vars(args).items() if isinstance(v, (str, int, float, bool, type(None)))}
    meta = {**setup.meta, "model_id": model_id, "parent_id": setup.meta.get("model_id", str(args.model_id)),
            "forget": setup.forget.to_meta(), "unlearn": info, "unlearn_args": flags}
    return model, meta


def refuse_existing(paths: list[Path], overwrite: bool) -> None:
    existing = [p for p in paths if p.exists()]
    if existing and not overwrite:
        if len(existing) == 1:
            raise UserError(f"{existing[0]} already exists; add --overwrite to replace it")
        where = (f"{len(existing)} files in {existing[0].parent}/ ({existing[0].name} ... {existing[-1].name})"
                 if len({p.parent for p in existing}) == 1 else ", ".join(map(str, existing)))
        raise UserError(f"{where} already exist; add --overwrite to replace them")


def check_outputs(paths: list[Path], overwrite: bool, flag: str) -> None:
    """Before any work: every output file can be written where `flag` puts it: no folder in its place, no existing
    file unless --overwrite, and a folder we may write (or create)."""
    for path in paths:
        if path.is_dir():
            raise UserError(f"{path} is a folder where a file would be written; move it away or choose another {flag}")
    refuse_existing(paths, overwrite)
    for folder in dict.fromkeys(p.parent for p in paths):
        check_writable_dir(folder, flag)


def refuse_flags(args: argparse.Namespace, refusals: dict[str, str]) -> None:
    """A flag this script accepts with its group but does not read is an error: `refusals` maps it to the line
    that says where it belongs."""
    for flag, why in refusals.items():
        if getattr(args, flag, None):
            raise UserError(f"--{flag} {why}")


def evaluate(setup: Setup, model: nn.Module, meta: dict, batch_size: int) -> tuple[dict, Logits]:
    """UA, RA, TA, MIA and per-class accuracy, plus seed 003's measures when the model saw a manipulated set."""
    result, logits = unlearning_metrics(model, meta, setup.data, setup.forget, setup.device, batch_size)
    if setup.manipulation:
        result["corrective"] = corrective_metrics(model, meta, setup.data, logits, setup.clean_train_labels,
                                                  setup.forget, setup.manipulation, setup.device, batch_size)
    return result, logits
