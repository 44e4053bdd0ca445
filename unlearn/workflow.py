"""The library call behind both front doors (main_unlearn.py, main_forget.py) and the evaluation script, and the
classification family (unlearn.families)."""
import argparse
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

import datasets
import models
from datasets import manipulate
from datasets.base import ImageDataset
from datasets.batching import BatchLoader
from engine import classification_report, training
from engine.evaluation import LogitCache
from engine.family import CLASSIFICATION, family_from_meta
from engine.train_loop import task_loss
from utils import checkpoints
from utils.device import resolve_device
from utils.errors import UserError
from utils.metrics import js_divergence
from utils.paths import check_writable_dir
from utils.tables import format_table

from . import DEFAULT_BATCH_SIZE, check_flags, forget_sets, get_method, masks, resolve_hparams, run, transfer
from .evaluate import GAP_KEYS, Logits, corrective_metrics, gap_to_retrain, unlearning_metrics
from .families import Family, family_for_flags, register_family
from .forget_sets import ForgetSet
from .task import UnlearnTask, frozen_copy


@dataclass
class Setup:
    device: torch.device
    data: ImageDataset
    model: nn.Module
    meta: dict
    forget: ForgetSet
    clean_train_labels: torch.Tensor  # before any manipulation
    manipulation: dict | None
    family: str = CLASSIFICATION  # the family of the model's unlearning methods


def load_setup(args: argparse.Namespace, forget_from_meta: bool = False):
    """Device, data, the model and its forget set, for the family the flags name (unlearn.families)."""
    return family_for_flags(args).load_setup(args, forget_from_meta)


def load_image_setup(args: argparse.Namespace, forget_from_meta: bool = False) -> Setup:
    """Device, data (placed once), the model and its forget set: from the flags, or stored in the checkpoint."""
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
    method = get_method(args.unlearn, family_from_meta(meta))
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


def evaluate(setup: Setup, model: nn.Module, meta: dict, batch_size: int,
             cache: LogitCache | None = None) -> tuple[dict, Logits]:
    """UA, RA, TA, MIA and per-class accuracy, plus seed 003's measures when the model saw a manipulated set."""
    result, logits = unlearning_metrics(model, meta, setup.data, setup.forget, setup.device, batch_size, cache=cache)
    if setup.manipulation:
        result["corrective"] = corrective_metrics(model, meta, setup.data, logits, setup.clean_train_labels,
                                                  setup.forget, setup.manipulation, setup.device, batch_size, cache)
    return result, logits


def logit_cache(args: argparse.Namespace, model_id: str) -> LogitCache:
    """The logits of checkpoint `model_id` are kept in {runs_dir}/eval_cache/."""
    return LogitCache(Path(args.runs_dir) / "eval_cache", checkpoints.find_checkpoint(model_id, args.model_dir))


def load_retrained(setup: Setup, args: argparse.Namespace) -> tuple[nn.Module, dict]:
    """The model of --retrain_model_id and its meta, refused unless it was retrained without this forget set."""
    retrained, r_meta = models.load_model(args.retrain_model_id, args.model_dir, setup.data.describe(), setup.device)
    if "forget" not in r_meta or not torch.equal(forget_sets.from_meta(r_meta).indices, setup.forget.indices):
        stored = forget_sets.describe(forget_sets.from_meta(r_meta)) if "forget" in r_meta else "nothing"
        raise UserError(f"{args.retrain_model_id} was retrained without {stored}, not the forget set of "
                        f"{args.model_id} ({forget_sets.describe(setup.forget)})")
    return retrained, r_meta


def image_unlearn_report(setup: Setup, args: argparse.Namespace) -> dict:
    """main_test_unlearn.py for classification: UA, RA, TA, MIA of the model (and the retrained one, the gap between
    them, the JS divergence on the forget set), seed 003's corrective measures and the transfer measures."""
    if "split" in getattr(args, "given", ()):
        raise UserError("--split: main_test_unlearn.py measures UA and RA on the train split and TA on test, always; "
                        "drop it (main_test.py --split evaluates one split)")
    batch = max(args.batch_size, 256)
    retrained = load_retrained(setup, args) if args.retrain_model_id else None  # checked before any work
    result, logits = evaluate(setup, setup.model, setup.meta, batch, logit_cache(args, args.model_id))
    unlearn_time = setup.meta.get("unlearn", {}).get("unlearn_time_s")
    report = {**{k: result[k] for k in GAP_KEYS}, "avg_gap": None, "gap": None, "js_to_retrain": None,
              "unlearn_time_s": unlearn_time, "per_class": result["per_class"], **result.get("corrective", {})}
    corrective_rows = [[args.model_id, *result["corrective"].values()]] if "corrective" in result else []
    rows = [[args.model_id, *(result[k] for k in GAP_KEYS), "", unlearn_time if unlearn_time is not None else ""]]
    if retrained:
        retrained, r_meta = retrained
        r_result, r_logits = evaluate(setup, retrained, r_meta, batch, logit_cache(args, args.retrain_model_id))
        report.update(gap_to_retrain(result, r_result))
        report["js_to_retrain"] = js_divergence(logits.train[setup.forget.indices], r_logits.train[setup.forget.indices])
        report["retrain"] = {k: r_result[k] for k in GAP_KEYS}
        r_time = r_meta.get("unlearn", {}).get("unlearn_time_s")
        report["retrain_time_s"] = r_time
        if r_time and unlearn_time is not None:
            report["rte_ratio"] = unlearn_time / r_time
        rows[0][5] = report["avg_gap"]
        rows.append([args.retrain_model_id, *(r_result[k] for k in GAP_KEYS), 0.0, r_time or ""])
        rows.append(["gap to retrain", *(report["gap"][k] for k in GAP_KEYS), report["avg_gap"], ""])
        if corrective_rows:
            report["retrain"]["corrective"] = r_result["corrective"]
            corrective_rows.append([args.retrain_model_id, *r_result["corrective"].values()])
    report.update(transfer.transfer_metrics(setup, args, batch))
    print(f"{setup.data.name}: forgetting {forget_sets.describe(setup.forget)}")
    print(format_table(["model", "UA", "RA", "TA", "MIA", "Avg.Gap", "time s"], rows))
    if corrective_rows:
        print(f"corrective ({setup.manipulation['method']}, {len(setup.manipulation['indices'])} manipulated samples):")
        print(format_table(["model", *result["corrective"]], corrective_rows))
    if report["js_to_retrain"] is not None:
        print(f"JS divergence to the retrained model on the forget set: {report['js_to_retrain']:.4f}")
    for line in transfer.transfer_lines(report):
        print(line)
    return report


@register_family
class Classification(Family):
    """Images with class labels (MedMNIST, Digits, image folders): forgetting classes, subsets, manipulated samples."""

    name = CLASSIFICATION
    audited = True

    def train(self, args: argparse.Namespace) -> dict:
        return training.train_model(args)

    def training_lines(self, summary: dict) -> list[str]:
        if summary["best_val_acc"] is None:
            return [f"no val split to select on: the best checkpoint is the last epoch ({summary['best_epoch']}); "
                    f"its test accuracy {summary['test_acc']:.2f}%"]
        return [f"best val accuracy {summary['best_val_acc']:.2f}% (epoch {summary['best_epoch']}); "
                f"test accuracy of the best model {summary['test_acc']:.2f}%"]

    def test(self, args: argparse.Namespace) -> dict:
        return classification_report.test_classifier(args)

    def examine(self, args: argparse.Namespace) -> dict:
        return classification_report.examine_images(args)

    def load_setup(self, args: argparse.Namespace, forget_from_meta: bool = False) -> Setup:
        return load_image_setup(args, forget_from_meta)

    def saliency(self, setup: Setup, args: argparse.Namespace) -> dict[str, torch.Tensor]:
        forget_batches = BatchLoader(setup.data.train, args.unlearn_batch_size or DEFAULT_BATCH_SIZE,
                                     tuple(setup.meta["mean"]), tuple(setup.meta["std"]), setup.device,
                                     indices=setup.forget.indices)
        return masks.forget_gradient_magnitude(setup.model, forget_batches, task_loss(False))

    def make_task(self, model, data, forget, meta, device, hp, mask, show, args) -> UnlearnTask:
        return UnlearnTask(data, forget, meta, device, hp, mask, original=frozen_copy(model), show=show)

    def forget_report(self, setup: Setup, model: nn.Module, meta: dict, args: argparse.Namespace) -> tuple[dict, str]:
        result, _ = evaluate(setup, model, meta, max(args.batch_size, 256))
        report = {**{k: result[k] for k in GAP_KEYS}, "unlearn_time_s": meta["unlearn"]["unlearn_time_s"],
                  "accuracy": {"forget": 100.0 - result["UA"], "retain": result["RA"], "test": result["TA"]},
                  "per_class": result["per_class"], "method": meta["unlearn"]["method"],
                  "hparams": meta["unlearn"]["hparams"]}
        line = "  ".join(f"{k} {result[k]:.2f}" for k in GAP_KEYS) + f"  time {report['unlearn_time_s']:.2f} s"
        return report, line

    def unlearn_report(self, setup: Setup, args: argparse.Namespace) -> dict:
        return image_unlearn_report(setup, args)

    def tune_validation(self, setup: Setup, seed: int, count: int) -> list[ForgetSet]:
        """Other draws of the same kind as the user's forget set (unlearn.tune.validation_forget_sets)."""
        from .tune import validation_forget_sets
        return validation_forget_sets(setup.data, setup.forget, seed, count)

    def tune_measures(self, setup: Setup, model: nn.Module, meta: dict, forget: ForgetSet,
                      final: bool) -> dict[str, float]:
        result, _ = unlearning_metrics(model, meta, setup.data, forget, setup.device, 256)
        return {k: result[k] for k in GAP_KEYS}

    def tune_gap(self, result: dict[str, float], reference: dict[str, float]) -> float:
        return gap_to_retrain(result, reference)["avg_gap"]

    def describe_forget(self, forget: ForgetSet) -> str:
        return forget_sets.describe(forget)
