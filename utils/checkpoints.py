"""Checkpoint files: {"state_dict", "meta"} (+ optimizer state in *_last.pt), written atomically, read weights-only."""
import difflib
from pathlib import Path

import torch
from torch import nn

from .errors import UserError
from .io import save_torch


def checkpoint_path(model_id: str, model_dir: str = "model_weights") -> Path:
    """`model_weights/{id}.pt` for an id; the path itself for anything that names a file."""
    if model_id.endswith((".pt", ".pth", ".pth.tar")) or Path(model_id).is_file():
        return Path(model_id)
    return Path(model_dir) / f"{model_id}.pt"


def find_checkpoint(model_id: str | None, model_dir: str = "model_weights") -> Path:
    """The file of an existing checkpoint; a missing one is an error that lists near matches."""
    if not model_id:
        raise UserError("--model_id is required (an id in --model_dir such as my_model_best, or a .pt path)")
    path = checkpoint_path(model_id, model_dir)
    if path.is_file():
        return path
    known = sorted(p.stem for p in Path(model_dir).glob("*.pt"))
    near = difflib.get_close_matches(model_id, known, n=5, cutoff=0.5)
    hint = f"; near matches: {', '.join(near)}" if near else (
        f"; {model_dir}/ holds: {', '.join(known[:8])}" if known else f"; {model_dir}/ holds no checkpoints")
    raise UserError(f"no checkpoint {path}{hint}")


def save_checkpoint(path: str | Path, model: nn.Module, meta: dict, **extra) -> Path:
    """Write {"state_dict", "meta", **extra} atomically; `meta` holds plain types only. Weights that are not finite
    (a diverged run) are never saved: that is a UserError, and the file already at `path` stays as it was."""
    model = getattr(model, "module", model)
    state = model.state_dict()
    broken = next((k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()), None)
    if broken is not None:
        raise UserError(f"not saving {path}: the weights hold NaN or inf ({broken}): the run diverged; lower the "
                        f"learning rate, or check the data for NaN or inf")
    return save_torch({"state_dict": state, "meta": meta, **extra}, path)


def load_checkpoint(path: str | Path) -> dict:
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a truncated or foreign file: say which file, not a traceback
        raise UserError(f"cannot read checkpoint {path}: {type(err).__name__}: {str(err).splitlines()[0]}")
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise UserError(f"{path} is not a checkpoint of this project (no state_dict)")
    ckpt.setdefault("meta", {})
    return ckpt


def check_compatible(meta: dict, data_meta: dict, source: str, arch: str | None = None,
                     other_dataset: bool = False) -> None:
    """Refuse a checkpoint whose arch, classes, channels, task or image size do not fit the dataset it is used with,
    or (classification, unless `other_dataset`) that was trained on another dataset."""
    if arch and meta.get("arch", "").lower() != arch.lower():
        raise UserError(f"{source} is a {meta.get('arch')} model but --arch {arch} was given")
    mine, theirs = meta.get("challenge"), data_meta.get("challenge")  # MRI models and data name their challenge
    if meta.get("task") and (mine is None) != (theirs is None):
        kinds = {True: "reconstruction", False: "classification"}
        raise UserError(f"{source} is a {kinds[mine is not None]} model ({meta.get('dataset')}) but "
                        f"{data_meta['dataset']} is {kinds[theirs is not None]} data; give it data of its own kind")
    if mine != theirs:
        raise UserError(f"{source} was trained on {mine} data but {data_meta['dataset']} holds {theirs} files; pass "
                        f"files of the kind it was trained on")
    for key, what in (("num_classes", "classes"), ("in_channels", "input channels"), ("task", "task")):
        if key in meta and key in data_meta and meta[key] != data_meta[key]:
            raise UserError(f"{source} was trained for {meta[key]} {what} ({meta.get('dataset')}) but "
                            f"{data_meta['dataset']} has {data_meta[key]}; pass the dataset it was trained on")
    if meta.get("size") and meta["size"] != data_meta.get("size"):
        raise UserError(f"{source} was trained on {meta['size']}x{meta['size']} images but {data_meta['dataset']} "
                        f"is {data_meta.get('size')}x{data_meta.get('size')}; pass --size {meta['size']}")
    # class labels belong to their dataset (MRI models read any group of their challenge)
    if "num_classes" in data_meta and meta.get("dataset") and meta["dataset"] != data_meta["dataset"] and not other_dataset:
        raise UserError(f"{source} was trained on {meta['dataset']}, not {data_meta['dataset']}; pass --dataset "
                        f"{meta['dataset']}, or --other_dataset to test it on another dataset of the same classes")
