"""Unlearning-method registry: method id -> function(model, task) -> unlearned model."""
import argparse
import time
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn

from engine.family import CLASSIFICATION, METHOD_TAKES_RECIPE_FLAGS
from utils.device import seed_everything
from utils.errors import UserError

from .families import family_for_checkpoint
from .knobs import KNOBS, Range
from .masks import kept_share


@dataclass
class Method:
    name: str
    fn: Callable
    defaults: dict
    masked: bool = False
    task: str = "classification"  # or "reconstruction": fn(model, ReconTask)
    variants: dict = field(default_factory=dict)  # --scrub_variant name -> the defaults it overrides
    search: dict[str, Range] = field(default_factory=dict)  # knob -> where main_tune.py searches it


_METHODS: dict[tuple[str, str], Method] = {}

DEFAULT_BATCH_SIZE = 100  # seed 001's --unlearn_batch_size
# knob -> the flag that sets it, from the one declaration of every knob (unlearn/knobs.py)
KNOB_FLAGS = {key: knob.flag for key, knob in KNOBS.items()}


def register(name: str, *, salun: bool = True, task: str | tuple[str, ...] = "classification",
             variants: dict | None = None, search: dict[str, Range] | None = None, **defaults):
    """Register a method of `task` (a family, or several: one function whose passes run on each family's task)
    under `name` (case-insensitive) and, for gradient methods, `{name}_with_SalUn`; `search` gives the range
    main_tune.py searches of each tunable knob (knobs the method takes)."""
    unknown = sorted(set(defaults) - set(KNOBS) - {"from_parent"})
    if unknown:
        raise ValueError(f"@register({name!r}) declares {', '.join(unknown)}, not knobs: declare them in unlearn/knobs.py")
    untaken = sorted(set(search or {}) - set(defaults))
    if untaken:
        raise ValueError(f"@register({name!r}) searches {', '.join(untaken)}, which it does not take")

    def add(fn):
        for family in (task,) if isinstance(task, str) else task:
            _METHODS[(family, name.lower())] = Method(name, fn, defaults, task=family, variants=variants or {},
                                                     search=search or {})
            if salun:
                _METHODS[(family, f"{name.lower()}_with_salun")] = Method(
                    f"{name}_with_SalUn", fn, defaults, masked=True, task=family, variants=variants or {},
                    search=search or {})
        return fn
    return add


def available(task: str = "classification") -> list[str]:
    return sorted((m.name for (t, _), m in _METHODS.items() if t == task), key=str.lower)


def get_method(name: str, task: str = "classification") -> Method:
    try:
        return _METHODS[(task, name.lower())]
    except KeyError:
        what = {CLASSIFICATION: "method"}.get(task, f"{task} method")  # classification's are plain "methods"
        raise UserError(f"unknown {what} {name!r}; choose one of: {', '.join(available(task))}")


FLAG_ORDER = ("epochs", "lr", "batch_size", "optimizer")  # how a method's flags are listed: these first, then the rest


def knob_flags(method: Method) -> list[str]:
    """The knob flags `method` takes: the knobs it declares (its defaults, the batch and optimiser every method gets,
    the original's recipe with from_parent, its --scrub_variant variants), less those it does not read: a knob
    registered as 0 (epochs=0, lr=0.0: SSD, wfisher and federaser train no epochs; the id still spells them), the
    optimiser of a method without epochs, and the batch and optimiser of a federated method (the original
    federation's recipe)."""
    declared = {"batch_size", "optimizer", *method.defaults}
    if method.defaults.get("from_parent"):
        declared |= {"epochs", "lr", "optimizer", "batch_size"}
    for overrides in method.variants.values():
        declared |= set(overrides)
    declared -= {key for key in ("epochs", "lr") if method.defaults.get(key) == 0}
    if "epochs" not in declared:
        declared.discard("optimizer")
    if not METHOD_TAKES_RECIPE_FLAGS[method.task]:
        declared -= {"batch_size", "optimizer"}
    if not method.variants:
        declared.discard("variant")
    order = [*FLAG_ORDER, *(key for key in KNOB_FLAGS if key not in FLAG_ORDER)]
    return [f"--{KNOB_FLAGS[key]}" for key in order if key in declared]


def check_flags(method: Method, args: argparse.Namespace) -> None:
    """Refuse a flag the user gave that `method` does not take: a knob it does not read, a SalUn mask for a method
    without one. A mask threshold given to an unmasked method is refused too (it would only rename the output id)."""
    takes = knob_flags(method)
    for flag in KNOB_FLAGS.values():
        if getattr(args, flag, None) is not None and f"--{flag}" not in takes:
            raise UserError(f"--{flag} is not a knob of {method.name}; {method.name} takes "
                            f"{', '.join(takes) if takes else 'no knob flags'}")
    if method.masked:
        return
    given = [f for f in ("mask_path", "mask_thresh") if getattr(args, f, None) is not None
             and (f == "mask_path" or f in getattr(args, "given", ()))]
    if given:
        salun = _METHODS.get((method.task, f"{method.name.lower()}_with_salun"))
        fix = f"drop it, or run {salun.name}" if salun else "drop it (it has no _with_SalUn form)"
        raise UserError(f"--{given[0]} sets a SalUn mask; {method.name} uses none: {fix}")


def resolve_hparams(method: Method, args: argparse.Namespace, parent_meta: dict) -> dict:
    """The method's defaults, overridden by the flags the user gave; retrain defaults to the original recipe, and a
    default of "parent" to the original's flag of that name."""
    variant = getattr(args, "scrub_variant", None)
    if variant and variant not in method.variants:
        raise UserError(f"--scrub_variant is not a knob of {method.name} (it is SCRUB's); {method.name} takes "
                        f"{', '.join(knob_flags(method))}")
    hp = {"batch_size": DEFAULT_BATCH_SIZE, "optimizer": "sgd", **method.defaults, **method.variants.get(variant, {})}
    if hp.pop("from_parent", False):
        parent = parent_meta.get("args", {})
        for key in ("epochs", "lr", "optimizer", "momentum", "weight_decay", "scheduler", "warmup_epochs", "batch_size"):
            if parent.get(key) is not None:
                hp[key] = parent[key]
    for key, value in hp.items():
        if value == "parent":  # this knob defaults to the original's training flag
            hp[key] = parent_meta.get("args", {}).get(key)
    for key, flag in KNOB_FLAGS.items():
        if key != "variant" and key in hp and getattr(args, flag, None) is not None:
            hp[key] = getattr(args, flag)
    hp["seed"] = args.seed
    return hp


def run(model: nn.Module, data, forget, meta: dict, args: argparse.Namespace, device: torch.device,
        mask: dict | None = None, show: bool = True,
        after_epoch: Callable[[int, nn.Module], None] | None = None) -> tuple[nn.Module, dict]:
    """Unlearn `forget` (of `data`) from `model` with the method `args.unlearn` of the family of the model's checkpoint
    `meta`; returns the new model and what was done. `after_epoch(epoch, model)` runs after each epoch of the
    method's passes (main_tune.py prunes with it)."""
    family = family_for_checkpoint(meta)
    method = get_method(args.unlearn, family.name)
    if method.masked and mask is None:
        raise UserError(f"{method.name} needs a saliency mask: run generate_mask.py, then pass --mask_thresh (or --mask_path)")
    hp = resolve_hparams(method, args, meta)
    mask = mask if method.masked else None
    task = family.make_task(model, data, forget, meta, device, hp, mask, show, args)
    task.after_epoch = after_epoch
    seed_everything(args.seed)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    started = time.perf_counter()
    model = method.fn(model, task)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elapsed = time.perf_counter() - started
    info = {"method": method.name, "hparams": hp, "unlearn_time_s": round(elapsed, 4)}
    if task.mask is not None:
        info["mask_share"] = round(kept_share(task.mask), 6)
    return model, {**info, **task.model_info(model)}


def lr_digits(lr: float) -> str:
    """Seed 001's spelling of a learning rate: the digits after the point (0.001 -> 001)."""
    if lr == 0:
        return "0"
    text = f"{lr:.10f}".rstrip("0")
    whole, _, frac = text.partition(".")
    return frac if whole == "0" else text.replace(".", "p").rstrip("p")


def unlearned_id(model_id: str, what: str, method_id: str, mask_thresh: float, epochs: int, lr: float) -> str:
    """model_weights id in seed 001's spelling: {id}_FORGOTTEN_3_RL_WITH_SALUN_mask5_unlearnEpochs5_unlearnlr001
    (`what` is the forget set's label: 3, rand450, del63, knee-retain10)."""
    mask = "10" if mask_thresh >= 1 else f"{mask_thresh:.1f}".split(".")[1]
    return f"{model_id}_FORGOTTEN_{what}_{method_id.upper()}_mask{mask}_unlearnEpochs{epochs}_unlearnlr{lr_digits(lr)}"


from . import (assd, bad_teacher, boundary_expanding, boundary_shrink, cf, eu, federated, ft,  # noqa: E402,F401
               ft_prune, ga, neggrad_plus, recon, retrain, rl, scrub, spkd, ssd, wfisher, workflow)
