"""Privacy audit of an unlearning method (main_audit.py), after Hayes et al. (U-LiRA) and the NeurIPS 2023 unlearning
challenge: S shadow models, each trained with the original's recipe on a seeded random half of the train split (each
row in exactly S/2 of them), are unlearned with the method on the forget rows they hold and retrained without them;
per-example attacks then compare the unlearned models' confidences with the retrained ones'.

Shadows are cached by recipe (the original's arch and training flags, the data, S and the split seed) in a folder of
their own and reused by every method and audit; under torchrun each process runs every WORLD_SIZE-th shadow."""
import argparse
import contextlib
import copy
import hashlib
import json
import math
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

import models
import unlearn
from datasets.base import ImageDataset
from engine.evaluation import LogitCache, split_digest, split_logits
from utils import checkpoints, privacy
from utils.audit_report import epsilon_figure, roc_figure, summary_row, table
from utils.distributed import Dist
from utils.errors import UserError
from utils.io import save_csv, save_json, save_text
from utils.paths import run_lock

from . import forget_sets
from .evaluate import GAP_KEYS, gap_to_retrain, unlearning_metrics
from .forget_sets import ForgetSet
from .knobs import KNOBS
from .tune import saliency_mask
from .workflow import Setup

AUDIT_VERSION = 1
ATTACKS = ("ulira", "challenge", "population")
ORIGINAL = "original"  # not a method: the shadow originals themselves, which forgot nothing (the ladder's top rung)
MIN_SHADOWS = 4
RETRAIN_SEED = 100_000  # a retrained shadow's seed is this plus its number (the original's is its number)
RECIPE_KEYS = ("epochs", "lr", "optimizer", "momentum", "weight_decay", "scheduler", "warmup_epochs", "batch_size",
               "no_aug")
EVAL_BATCH = 512
WAIT_S = 2.0  # how often an audit looks again for a shadow another audit is training


def parse_attacks(text: str) -> list[str]:
    """'ulira,challenge' -> the attack names; 'all' for every one."""
    names = list(ATTACKS) if text == "all" else [part.strip() for part in text.split(",") if part.strip()]
    unknown = [n for n in names if n not in ATTACKS]
    if unknown or not names:
        raise UserError(f"--attack {text}: give one or more of {', '.join(ATTACKS)} (comma-separated), or all")
    return names


def shadow_halves(n_rows: int, shadows: int, seed: int) -> torch.Tensor:
    """[shadows, n_rows] bool: the rows each shadow trains on, each row in exactly shadows // 2 of them (LiRA's
    design, so every target has as many unlearned as held-out shadows)."""
    rng = np.random.default_rng(seed)
    rank = rng.uniform(size=(shadows, n_rows)).argsort(0).argsort(0)
    return torch.from_numpy(rank < shadows // 2)


def digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


def shadow_recipe(meta: dict, data: ImageDataset, shadows: int, split_seed: int) -> dict:
    """What a shadow is, beyond its number: the original's arch and training flags, the train split's bytes, S and
    the split seed. A cache folder holds the shadows of one recipe."""
    args = meta.get("args", {})
    return {"version": AUDIT_VERSION, "dataset": meta.get("dataset"), "train_split": split_digest(data.train)[:16],
            "arch": meta["arch"], "imagenet_arch": bool(meta.get("imagenet_arch", False)),
            "training": {k: args.get(k) for k in RECIPE_KEYS}, "shadows": shadows, "split_seed": split_seed}


class ShadowStore:
    """The cached shadow models of one recipe: original_NNN.pt (trained on half NNN) and retrained_NNN_FORGET.pt
    (the same half less the forget rows), written whole or not at all, and recipe.json."""

    def __init__(self, folder: Path, recipe: dict) -> None:
        self.folder, self.recipe = Path(folder), recipe
        stored = self.folder / "recipe.json"
        if stored.exists():
            theirs = json.loads(stored.read_text())
            if theirs != recipe:
                differ = [k for k in recipe if theirs.get(k) != recipe[k]]
                if "training" in differ:
                    differ = [f"training {k}" for k in RECIPE_KEYS
                              if theirs.get("training", {}).get(k) != recipe["training"][k]] + differ[1:]
                raise UserError(f"{self.folder} holds shadows built with another recipe ({', '.join(differ)} differ); "
                                f"pass another --shadow_dir, or delete that folder to build them again")
        elif self.folder.exists() and any(not p.name.startswith(".") for p in self.folder.iterdir()):  # .tmp, .lock
            raise UserError(f"--shadow_dir {self.folder} holds files but no recipe.json: it is not a shadow cache; "
                            f"pass an empty or new folder")

    def create(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        if not (self.folder / "recipe.json").exists():
            save_json(self.recipe, self.folder / "recipe.json")

    def model(self, name: str, train, meta: dict, data: ImageDataset, device: torch.device) -> nn.Module:
        """Shadow `name`: read from the cache, or trained by `train()` and cached (one process trains it)."""
        path = self.folder / f"{name}.pt"
        while not path.exists():
            try:
                with run_lock(self.folder, name):
                    if path.exists():  # another audit trained it while this one waited
                        break
                    model = train()
                    checkpoints.save_checkpoint(path, model, {**meta, "model_id": name, "shadow_recipe": self.recipe})
                    return model
            except UserError as err:
                if "being written by another run" not in str(err):
                    raise
                time.sleep(WAIT_S)  # another audit is training it
        model, _ = models.load_model(str(path), str(self.folder), data.describe(), device)
        return model

    def logits(self, name: str) -> LogitCache:
        """Where shadow `name`'s logits are kept: every audit evaluates a cached shadow once."""
        return LogitCache(self.folder / "eval_cache", self.folder / f"{name}.pt")


def half_view(data: ImageDataset, rows: torch.Tensor) -> ImageDataset:
    """The dataset with its train split cut to `rows` (val and test as they are; normalisation is the original's)."""
    view = copy.copy(data)
    view.train = data.train.subset(rows)
    return view


def local_forget(rows: torch.Tensor, targets: torch.Tensor, forget: ForgetSet) -> ForgetSet:
    """The forget rows a shadow holds, as positions in its half."""
    position = torch.isin(rows, targets).nonzero().flatten()
    return ForgetSet(position, list(forget.classes), forget.classwise, {**forget.spec, "shadow": True})


def complement(n_rows: int, keep: torch.Tensor) -> ForgetSet:
    """A 'forget set' of every row but `keep`: retraining without it trains on `keep` alone."""
    mask = torch.ones(n_rows, dtype=torch.bool)
    mask[keep] = False
    return ForgetSet(mask.nonzero().flatten(), [], False, {"shadow_half": True})


@dataclass
class Request:
    """What one audit runs: the method (or ORIGINAL) with its knobs, on which forget rows, with which shadows."""

    method: str
    masked: bool
    hparams: dict
    forget: ForgetSet
    shadows: int
    split_seed: int
    attacks: list[str]
    seed: int  # shadow N is unlearned with seed + N
    mask_thresh: float | None  # the SalUn mask's share, for a masked method


def check_request(setup: Setup, args: argparse.Namespace) -> Request:
    """Every flag checked before any shadow is trained: the attacks, S, the method (a classification method of this
    project, or 'original'), the data (single-label classes), the forget set (at most half the train split)."""
    attacks = parse_attacks(args.attack)
    if args.shadows < MIN_SHADOWS:
        raise UserError(f"--shadows {args.shadows}: the attacks fit each target's confidence over the shadows that "
                        f"held it and those that did not; give at least {MIN_SHADOWS} (16 or more for steady figures)")
    if setup.data.multilabel:
        raise UserError(f"{setup.data.name} is multi-label; the audit's confidence is that of the one true class: "
                        f"audit a single-label dataset")
    n_train = len(setup.data.train)
    if len(setup.forget.indices) > n_train // 2:
        raise UserError(f"the forget set holds {len(setup.forget.indices)} of {n_train} train rows, more than half: "
                        f"each shadow trains on a random half, so it would hold almost nothing else; forget at most "
                        f"{n_train // 2} rows")
    if setup.manipulation:
        raise UserError(f"{args.model_id} was trained on a manipulated set ({setup.manipulation['method']}); the audit "
                        f"trains shadows on clean halves: audit a model trained on clean data")
    if args.unlearn.lower() == ORIGINAL:
        given = [f"--{k.flag}" for k in KNOBS.values() if getattr(args, k.flag, None) is not None]
        if given:
            raise UserError(f"{given[0]} is a knob of an unlearning method; --unlearn original runs none: drop it")
        return Request(ORIGINAL, False, {}, setup.forget, args.shadows, args.shadow_seed, attacks, args.seed, None)
    try:
        method = unlearn.get_method(args.unlearn)
    except UserError as err:
        raise UserError(f"{err} (or original: the shadows as trained, nothing forgotten)") from None
    unlearn.check_flags(method, args)
    if getattr(args, "mask_path", None):
        raise UserError("--mask_path is main_unlearn.py's; the audit computes each shadow's SalUn mask at --mask_thresh: "
                        "drop it")
    hparams = unlearn.resolve_hparams(method, args, setup.meta)
    hparams.pop("seed")
    return Request(method.name, method.masked, hparams, setup.forget, args.shadows, args.shadow_seed, attacks,
                   args.seed, args.mask_thresh if method.masked else None)


def plain_args(args: argparse.Namespace, **changes) -> argparse.Namespace:
    """The flags with every knob flag cleared, then `changes`."""
    return argparse.Namespace(**{**vars(args), **{k.flag: None for k in KNOBS.values()}, **changes})


def audit_shadow(number: int, half: torch.Tensor, setup: Setup, store: ShadowStore, request: Request,
                 args: argparse.Namespace) -> dict:
    """Train (or read) shadow `number`'s original and retrained models, unlearn the forget rows it holds from the
    original, and return what the attacks need: the confidences of both models on every target, and their
    UA/RA/TA/MIA on the half."""
    data, device, meta = setup.data, setup.device, setup.meta
    n_train, targets = len(data.train), request.forget.indices
    rows = half.nonzero().flatten()
    held_rows = rows[torch.isin(rows, targets)]

    def retrain(keep: torch.Tensor, seed: int):
        """A fresh model trained on `keep` alone with the original's recipe (the retrain method)."""
        retrain_args = plain_args(args, unlearn="retrain", seed=seed)
        return lambda: unlearn.run(copy.deepcopy(setup.model), data, complement(n_train, keep), meta, retrain_args,
                                   device, show=False)[0]

    original_name = f"original_{number:03d}"
    original = store.model(original_name, retrain(rows, number), meta, data, device)
    kept = rows[~torch.isin(rows, targets)]
    retrained_name = f"retrained_{number:03d}_{digest(targets.tolist())[:12]}"
    retrained = store.model(retrained_name, retrain(kept, RETRAIN_SEED + number), meta, data, device)

    view = half_view(data, rows)
    forget = local_forget(rows, targets, request.forget)
    seconds, unlearned_logits = 0.0, None
    if request.method == ORIGINAL:
        unlearned, unlearned_logits = original, store.logits(original_name)
    else:
        mask = saliency_mask(Setup(device, view, original, meta, forget, view.train.labels, None), forget,
                             request.mask_thresh, args) if request.masked else None
        run_args = argparse.Namespace(**{**vars(args), "seed": request.seed + number})  # the user's knob flags
        unlearned, info = unlearn.run(copy.deepcopy(original), view, forget, meta, run_args, device, mask, show=False)
        seconds = info["unlearn_time_s"]

    target_split = data.train.subset(targets)
    labels = target_split.labels.cpu().numpy()

    def confidences(model: nn.Module, cache: LogitCache | None) -> list[float]:
        logits, _ = split_logits(model, target_split, meta, device, EVAL_BATCH, show=False, cache=cache)
        return privacy.logit_scaled_confidence(logits.numpy(), labels).round(5).tolist()

    retrained_logits = store.logits(retrained_name)
    u_metrics, _ = unlearning_metrics(unlearned, meta, view, forget, device, EVAL_BATCH, cache=unlearned_logits)
    r_metrics, _ = unlearning_metrics(retrained, meta, view, forget, device, EVAL_BATCH, cache=retrained_logits)
    held = torch.isin(targets, held_rows)
    return {"shadow": number, "held": held.tolist(), "unlearn_time_s": seconds,
            "unlearned_conf": confidences(unlearned, unlearned_logits),
            "retrained_conf": confidences(retrained, retrained_logits),
            "unlearned": {k: u_metrics[k] for k in GAP_KEYS}, "retrained": {k: r_metrics[k] for k in GAP_KEYS}}


def request_key(request: Request, recipe: dict) -> str:
    """What a shadow's audit record depends on beyond its number."""
    return digest({"method": request.method, "hparams": request.hparams, "forget": request.forget.indices.tolist(),
                   "recipe": recipe, "seed": request.seed, "mask_thresh": request.mask_thresh})


def run_shadows(setup: Setup, request: Request, store: ShadowStore, folder: Path, args: argparse.Namespace,
                dist: Dist) -> None:
    """This process's share of the shadows (every world_size-th one), each record kept in `folder` so that an
    interrupted audit goes on where it stopped."""
    key = request_key(request, store.recipe)
    halves = shadow_halves(len(setup.data.train), request.shadows, request.split_seed)
    mine = list(range(dist.rank, request.shadows, dist.world_size))
    desc = "shadows" + (f" (process {dist.rank + 1} of {dist.world_size})" if dist.enabled else "")
    for number in tqdm(mine, desc=desc, dynamic_ncols=True, position=dist.rank):
        path = folder / f"shadow_{number:03d}.json"
        if path.exists() and json.loads(path.read_text()).get("key") == key:
            continue
        save_json({"key": key, **audit_shadow(number, halves[number], setup, store, request, args)}, path)


@dataclass
class Outcome:
    """The attacks' figures (the record's metrics) and what the figures and per-example table are drawn from."""

    metrics: dict
    ulira: privacy.Ulira | None
    epsilons: np.ndarray | None


def analyse(records: list[dict], request: Request) -> Outcome:
    """The attacks on the shadows' records."""
    unlearned = np.array([r["unlearned_conf"] for r in records])
    retrained = np.array([r["retrained_conf"] for r in records])
    held = np.array([r["held"] for r in records], dtype=bool)
    mean = lambda key, kind: statistics.fmean(r[kind][key] for r in records)  # noqa: E731
    gaps = [gap_to_retrain(r["unlearned"], r["retrained"])["avg_gap"] for r in records]
    metrics = {**{k: mean(k, "unlearned") for k in GAP_KEYS}, "retrain": {k: mean(k, "retrained") for k in GAP_KEYS},
               "avg_gap": statistics.fmean(gaps), "avg_gap_std": statistics.stdev(gaps) if len(gaps) > 1 else 0.0,
               "unlearn_time_s": statistics.fmean(r["unlearn_time_s"] for r in records),
               "audit": {"shadows": len(records), "targets": held.shape[1], "attacks": request.attacks,
                         "held_per_target": int(held.sum(0).min())}}
    result, epsilons = None, None
    if "ulira" in request.attacks:
        result = privacy.ulira(unlearned, retrained, held)
        metrics["ulira"] = {**result.roc.summary(), "positives": result.positives, "negatives": result.negatives,
                            "roc": result.roc.points()}
    if "challenge" in request.attacks:
        epsilons = privacy.challenge_epsilons(unlearned, retrained, held)
        models_per_target = int(held.sum(0).min())
        score = privacy.forget_score(epsilons, models_per_target)
        ratio = lambda key: metrics[key] / metrics["retrain"][key] if metrics["retrain"][key] else math.nan  # noqa
        metrics["challenge"] = {"forget_score": score, "final": score * ratio("RA") * ratio("TA"),
                                "epsilon_median": float(np.nanmedian(epsilons)),
                                "epsilon_mean": float(np.nanmean(epsilons)), "models_per_target": models_per_target,
                                "epsilons": [round(float(e), 4) for e in epsilons]}
    if "population" in request.attacks:
        mia = [r["unlearned"]["MIA"] for r in records]
        metrics["population"] = {"MIA": statistics.fmean(mia), "MIA_std": statistics.stdev(mia) if len(mia) > 1 else 0.0,
                                 "MIA_retrain": metrics["retrain"]["MIA"]}
    return Outcome(metrics, result, epsilons)


def output_paths(folder: Path) -> dict[str, Path]:
    return {"record": folder / "audit.json", "table": folder / "audit.md", "examples": folder / "examples.csv",
            "roc": folder / "roc.png", "epsilon": folder / "epsilon.png"}


def audit_name(args: argparse.Namespace, request: Request) -> str:
    stem = checkpoints.find_checkpoint(args.model_id, args.model_dir).stem
    return f"{stem}_{request.method}_{request.forget.label()}_S{request.shadows}"


def store_for(setup: Setup, request: Request, args: argparse.Namespace) -> ShadowStore:
    recipe = shadow_recipe(setup.meta, setup.data, request.shadows, request.split_seed)
    folder = (Path(args.shadow_dir) if args.shadow_dir else Path(args.runs_dir) / "audit" / "shadows" /
              f"{setup.meta.get('dataset')}_{setup.meta['arch']}_{digest(recipe)[:12]}")
    return ShadowStore(folder, recipe)


def write_outputs(outcome: Outcome, records: list[dict], request: Request, setup: Setup, label: str,
                  paths: dict[str, Path]) -> None:
    """The table, the per-example CSV and the figures of one audit."""
    save_text(f"{label} on {forget_sets.describe(request.forget)}, {request.shadows} shadows.\n\n"
              f"{table([summary_row(label, outcome.metrics)])}\n", paths["table"])
    rows = []
    targets = request.forget.indices.tolist()
    held = np.array([r["held"] for r in records], dtype=bool).sum(0)
    for i, row in enumerate(targets):
        rows.append({"row": row, "label": int(setup.data.train.labels[row]), "held_by": int(held[i]),
                     "ulira_llr": None if outcome.ulira is None else round(float(outcome.ulira.example_llr[i]), 5),
                     "epsilon": None if outcome.epsilons is None else round(float(outcome.epsilons[i]), 5)})
    save_csv(rows, paths["examples"])
    if "ulira" in outcome.metrics:
        roc_figure({label: outcome.metrics["ulira"]["roc"]}, paths["roc"])
    if "challenge" in outcome.metrics:
        epsilon_figure({label: outcome.metrics["challenge"]["epsilons"]}, paths["epsilon"])


def record_meta(setup: Setup, request: Request, name: str) -> dict:
    """The checkpoint-like identity of an audit's record: the original, the method and its knobs, the forget set."""
    return {**setup.meta, "model_id": f"audit/{name}", "parent_id": setup.meta.get("model_id"),
            "forget": request.forget.to_meta(),
            "unlearn": {"method": request.method, "hparams": request.hparams} if request.method != ORIGINAL else {},
            "unlearn_args": {"seed": request.seed}}


def audit(setup: Setup, args: argparse.Namespace, dist: Dist) -> dict:
    """main_audit.py: check everything, run this process's shadows, then (main process) the attacks and outputs:
    {runs_dir}/audit/{name}/audit.json (an evaluation record, as main_test_unlearn.py --json writes), audit.md,
    examples.csv (each target's held-by count, mean log likelihood ratio and ε), roc.png and epsilon.png."""
    from utils.results import save_record

    from .workflow import check_outputs
    request = check_request(setup, args)
    store = store_for(setup, request, args)
    name = audit_name(args, request)
    folder = Path(args.runs_dir) / "audit" / name
    paths = output_paths(folder)
    label = args.label or request.method
    with contextlib.ExitStack() as stack:
        if dist.is_main:
            outputs = list(paths.values()) + ([Path(args.json)] if args.json else [])
            check_outputs(outputs, args.overwrite, "--runs_dir (or --json)")
            stack.enter_context(run_lock(folder.parent, name))  # one audit of this name at a time
            store.create()
            folder.mkdir(parents=True, exist_ok=True)
            print(f"auditing {label} on {forget_sets.describe(request.forget)} of {setup.data.name} with "
                  f"{request.shadows} shadows (cached in {store.folder})")
        dist.barrier()
        run_shadows(setup, request, store, folder, args, dist)
        dist.barrier()
        if not dist.is_main:
            return {}
        records = [json.loads((folder / f"shadow_{n:03d}.json").read_text()) for n in range(request.shadows)]
        outcome = analyse(records, request)
        write_outputs(outcome, records, request, setup, label, paths)
        metrics = {**outcome.metrics, "js_to_retrain": None, "rte_ratio": None}
        meta = record_meta(setup, request, name)
        save_record(paths["record"], metrics, meta, "classification", label, dict(args.tag))
        if args.json:
            save_record(args.json, metrics, meta, "classification", label, dict(args.tag))
    row = summary_row(label, outcome.metrics)
    print(table([row]))
    print(f"wrote {', '.join(str(p) for p in paths.values() if p.exists())}")
    return {**outcome.metrics, "summary": row, "folder": str(folder)}
