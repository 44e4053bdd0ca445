"""The reconstruction and federated families (unlearn.families): setup, SalUn saliency, the seed-000 evaluation
table, and what main_train / main_test / examine_dataset do with MRI groups and sites."""
import argparse
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

import models
from datasets.mri.data import ReconData, load_recon, make_loader
from engine.family import FEDERATED, RECONSTRUCTION, family_from_meta
from engine.federated_training import train_federated
from engine.gradients import gradient_statistics
from engine.recon import sample_loss
from engine.recon_loop import METRICS, evaluate_recon
from engine.recon_report import examine_recon, example_figure, test_recon
from engine.recon_submission import write_submission
from engine.recon_training import train_recon
from engine.train_loop import to_device
from utils import checkpoints
from utils.device import resolve_device
from utils.errors import UserError
from utils.eval_cache import EvalCache, cache_key
from utils.tables import format_table

from ..families import Family, register_family
from .task import GroupForget, ReconTask, resolve_group


@dataclass
class ReconSetup:
    device: torch.device
    data: ReconData
    model: nn.Module
    meta: dict
    forget: GroupForget
    family: str = RECONSTRUCTION  # the family of the model's unlearning methods (federated for a federation)


def load_recon_setup(args: argparse.Namespace, forget_from_meta: bool = False) -> ReconSetup:
    """Device, data, model and the group to forget: from --forget_group, or stored in an unlearned checkpoint."""
    device = resolve_device(args.device)
    data = load_recon(args)
    model, meta = models.load_model(args.model_id, args.model_dir, data.describe(), device, args.arch)
    named = args.forget_site or args.forget_group
    flag = "--forget_site" if args.forget_site else "--forget_group"
    stored = meta.get("forget", {}).get("group") if forget_from_meta else None
    if stored and named and named != stored:
        raise UserError(f"{args.model_id} forgot {stored}, not {flag} {named}; drop the flag or pass {flag} {stored}")
    federation = meta.get("federated", {}).get("sites")
    if federation and named and not stored and named not in federation:
        raise UserError(f"--forget_site {named} is not in the federation of {args.model_id} (sites: {''.join(federation)})")
    forget = resolve_group(data, stored or named, flag)
    return ReconSetup(device, data, model, meta, forget, family_from_meta(meta))


def forget_saliency(model: nn.Module, setup: ReconSetup, batch_size: int, num_workers: int = 0) -> dict[str, torch.Tensor]:
    """SalUn's saliency for reconstruction: |Σ over forget slices of ∇θ(−loss)|, per parameter."""
    loss = sample_loss(setup.meta["loss"])
    slices = setup.data.slices("train", setup.meta["kind"], train=True)
    batches = make_loader(slices, batch_size, num_workers=num_workers, device=setup.device, rows=setup.forget.indices)
    return gradient_statistics(model, (to_device(batch, setup.device) for batch in batches),
                               lambda net, batch: -loss(batch.predict(net), batch).sum(), "abs_sum")


def group_metrics(setup: ReconSetup, model: nn.Module, meta: dict, args: argparse.Namespace) -> dict:
    """PSNR / SSIM / NMSE per group on --split (mean and std over volumes, and the zero-filled input's)."""
    report = evaluate_recon(model, setup.data, args.split, meta["kind"], setup.device, batch_size=args.batch_size,
                            num_workers=args.num_workers, examples_per_group=0)
    return report["groups"]


def checkpoint_metrics(setup: ReconSetup, model: nn.Module, meta: dict, model_id: str, args: argparse.Namespace,
                       picture: str | None = None) -> dict:
    """group_metrics of a saved checkpoint, evaluated once: the result, and a picture of one slice per group, are
    cached by checkpoint hash in {runs_dir}/eval_cache/; `picture` gets a copy of that picture."""
    data, split = setup.data, args.split
    files = [v.path for v in data.volumes(split)]
    settings = {**data.describe(), "split": split, "sample_rate": data.sample_rate, "seed": data.seed,
                "kind": meta["kind"], "roots": {g: str(r.resolve()) for g, r in data.roots.items()}}
    cache = EvalCache(Path(args.runs_dir) / "eval_cache")
    key = cache_key(checkpoints.find_checkpoint(model_id, args.model_dir), files, settings)
    groups = cache.get(key)
    if groups is None:
        report = evaluate_recon(model, data, split, meta["kind"], setup.device, batch_size=args.batch_size,
                                num_workers=args.num_workers, examples_per_group=1, show=True)
        example_figure(report["examples"], cache.path(key, ".png"), title=f"{model_id} on {data.name} {split}",
                       per_group=1)
        groups = cache.put(key, report["groups"])
    else:
        print(f"{model_id}: evaluated before (cache {cache.path(key)})")
    if picture:
        print(f"reconstructions: {cache.copy_picture(key, picture)}")
    return groups


def group_columns(setup: ReconSetup) -> list[tuple[str, str]]:
    """(group, metric) columns: the retain groups first, then the forget group."""
    order = [g for g in setup.data.groups if g != setup.forget.group] + [setup.forget.group]
    return [(g, m) for g in order for m in METRICS]


def recon_unlearn_report(setup: ReconSetup, args: argparse.Namespace) -> dict:
    """main_test_unlearn.py for reconstruction: the seed-000 table of the model (and the retrained one, the gap
    between them, run time and time relative to retraining)."""
    groups = checkpoint_metrics(setup, setup.model, setup.meta, args.model_id, args, args.save_fig)
    unlearn_time = setup.meta.get("unlearn", {}).get("unlearn_time_s")
    report = {"forget_group": setup.forget.group, "split": args.split, "groups": groups, "unlearn_time_s": unlearn_time,
              "retrain": None, "gap": None, "retrain_time_s": None, "rte_ratio": None}
    columns = group_columns(setup)
    rows = [[args.model_id, *(groups[g][m] for g, m in columns), unlearn_time if unlearn_time is not None else "", ""]]
    if args.retrain_model_id:
        retrained, r_meta = models.load_model(args.retrain_model_id, args.model_dir, setup.data.describe(), setup.device)
        r_forget = r_meta.get("forget", {})
        if r_forget.get("group") != setup.forget.group or r_forget.get("volumes") != setup.forget.volumes:
            what = f"group {r_forget['group']}" if r_forget.get("group") else "nothing"
            raise UserError(f"{args.retrain_model_id} was retrained without {what}, not group {setup.forget.group} "
                            f"of these --train_groups")
        r_groups = checkpoint_metrics(setup, retrained, r_meta, args.retrain_model_id, args)
        r_time = r_meta.get("unlearn", {}).get("unlearn_time_s")
        report.update(retrain=r_groups, retrain_time_s=r_time,
                      gap={g: {m: abs(groups[g][m] - r_groups[g][m]) for m in METRICS} for g in groups})
        if r_time and unlearn_time is not None:
            report["rte_ratio"] = unlearn_time / r_time
            rows[0][-1] = report["rte_ratio"]
        rows.append([args.retrain_model_id, *(r_groups[g][m] for g, m in columns), r_time or "", 1.0 if r_time else ""])
        rows.append(["gap to retrain", *(report["gap"][g][m] for g, m in columns), "", ""])
    headers = ["model", *(f"{g} {m.upper()}" for g, m in columns), "time s", "time / retrain"]
    print(f"{setup.data.name} {args.split}: forgetting {setup.forget.group}; retaining "
          f"{', '.join(g for g in setup.data.groups if g != setup.forget.group)}")
    print(format_table(headers, rows, floatfmt=".4f"))
    return report


def best_line(summary: dict, metric: str, step: str) -> str:
    """How the _best checkpoint of a reconstruction run was chosen: its val PSNR, or the last step without val."""
    if summary["best_val_psnr"] is None:
        return f"no val split to select on: the best checkpoint is the last {step} ({summary['best_epoch']})"
    return f"best {metric} {summary['best_val_psnr']} dB ({step} {summary['best_epoch']})"


@register_family
class Reconstruction(Family):
    """MRI reconstruction networks (U-Net, VarNet) on groups of volumes: forgetting a group (organ, site)."""

    name = RECONSTRUCTION
    augments_mri = True

    def train(self, args: argparse.Namespace) -> dict:
        return train_recon(args)

    def training_lines(self, summary: dict) -> list[str]:
        return [best_line(summary, "val PSNR", "epoch")]

    def test(self, args: argparse.Namespace) -> dict:
        return write_submission(args) if args.submission_dir else test_recon(args)

    def examine(self, args: argparse.Namespace) -> dict:
        return examine_recon(args)

    def load_setup(self, args: argparse.Namespace, forget_from_meta: bool = False) -> ReconSetup:
        return load_recon_setup(args, forget_from_meta)

    def saliency(self, setup: ReconSetup, args: argparse.Namespace) -> dict[str, torch.Tensor]:
        return forget_saliency(setup.model, setup, args.unlearn_batch_size or args.batch_size, args.num_workers)

    def make_task(self, model, data, forget, meta, device, hp, mask, show, args) -> ReconTask:
        return ReconTask(data, forget, meta, device, hp, mask, show=show, num_workers=args.num_workers)

    def forget_report(self, setup: ReconSetup, model: nn.Module, meta: dict,
                      args: argparse.Namespace) -> tuple[dict, str]:
        report = {"groups": group_metrics(setup, model, meta, args), "forget_group": setup.forget.group,
                  "unlearn_time_s": meta["unlearn"]["unlearn_time_s"], "method": meta["unlearn"]["method"],
                  "hparams": meta["unlearn"]["hparams"]}
        line = ("  ".join(f"{g} PSNR {r['psnr']:.2f} SSIM {r['ssim']:.4f}" for g, r in report["groups"].items())
                + f"  time {report['unlearn_time_s']:.2f} s")
        return report, line

    def unlearn_report(self, setup: ReconSetup, args: argparse.Namespace) -> dict:
        return recon_unlearn_report(setup, args)

    def tune_validation(self, setup: ReconSetup, seed: int, count: int) -> list[GroupForget]:
        """The group (or site) itself, the task: trials are scored on the val split's volumes, the chosen setting on
        test's."""
        return [setup.forget]

    def tune_measures(self, setup: ReconSetup, model: nn.Module, meta: dict, forget: GroupForget,
                      final: bool) -> dict[str, float]:
        """PSNR and SSIM of each group (the forgotten one and the kept ones) on the val split, or test's when
        `final`."""
        groups = evaluate_recon(model, setup.data, "test" if final else "val", meta["kind"], setup.device,
                                batch_size=8, examples_per_group=0)["groups"]
        return {f"{metric}_{group}": groups[group][metric] for group in groups for metric in ("psnr", "ssim")}

    def tune_gap(self, result: dict[str, float], reference: dict[str, float]) -> float:
        """Mean |ΔPSNR| (dB) to the Oracle over the groups, forgotten and kept (SSIM gaps are in the trial rows)."""
        gaps = [abs(result[k] - reference[k]) for k in result if k.startswith("psnr_")]
        return sum(gaps) / len(gaps)

    def describe_forget(self, forget: GroupForget) -> str:
        return f"group {forget.group} ({len(forget.indices)} train slices)"


@register_family
class Federated(Reconstruction):
    """A U-Net trained across sites (FL-MR / FL-MRCM): forgetting a site. Its data, tests and reports are
    reconstruction's; it trains by rounds."""

    name = FEDERATED
    augments_mri = False  # FL-MRCM's sites train on their slices as they are
    retrain_method = "fl_retrain"  # the federation trained again without the site: the Oracle of its tuning

    def describe_forget(self, forget: GroupForget) -> str:
        return f"site {forget.group} ({len(forget.indices)} train slices)"

    def train(self, args: argparse.Namespace) -> dict:
        return train_federated(args)

    def training_lines(self, summary: dict) -> list[str]:
        return [best_line(summary, "target PSNR", "round")]
