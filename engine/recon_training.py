"""Training a reconstruction network (U-Net, VarNet) on groups of MRI volumes: checkpoints as for classification."""
import argparse

import torch
from torch import nn
from torch.utils.data import DataLoader

import models
from datasets.mri.data import ReconData, load_recon, make_loader
from utils import checkpoints, plots
from utils.device import amp_dtype, seed_everything
from utils.distributed import Dist
from utils.errors import UserError
from utils.schedule import lr_factor

from .defaults import default_arch
from .recon import check_arch_fits, check_depth_fits, model_kind, model_kwargs, sample_loss
from .recon_loop import evaluate_recon, mean_psnr
from .train_loop import BatchLoss, Step, accelerated, optimizer_for
from .training import Selection, fit, output_paths, plain_args, read_resume_point, run_training


def build_model(meta: dict) -> nn.Module:
    """An untrained network of the arch and settings a checkpoint meta records."""
    return models.create_model(meta["arch"], **meta["model_kwargs"])


def plain_loss(name: str) -> BatchLoss:
    """The training loss `name` of a slice batch, averaged over its slices."""
    loss = sample_loss(name)
    return lambda model, batch: Step(loss(batch.predict(model), batch).mean(), len(batch.target))


def train_recon(args: argparse.Namespace) -> dict:
    """Train (or resume) the reconstruction model the flags describe; returns a summary of the run."""
    return run_training(args, _train, processes=False)


def _train(args: argparse.Namespace, dist: Dist) -> dict:
    paths = output_paths(args)
    resumed = read_resume_point(args, paths["last"]) if args.resume else None
    data = load_recon(args)
    data_meta = data.describe()
    if resumed:
        checkpoints.check_compatible(resumed["meta"], data_meta, str(paths["last"]), args.arch)
    arch = resumed["meta"]["arch"] if resumed else (args.arch or default_arch("reconstruction")).lower()
    kind = model_kind(arch)
    check_arch_fits(arch, data.challenge)
    if (args.mri_aug or args.mri_aug_affine) and kind != "image":
        raise UserError(f"--mri_aug and --mri_aug_affine turn single-coil U-Net slices; {arch} reads multi-coil "
                        f"k-space with its padding: drop them, or train --arch unet")
    meta = {**data_meta, "arch": arch, "kind": kind, "loss": args.loss, "model_id": args.save_model_id,
            "model_kwargs": resumed["meta"]["model_kwargs"] if resumed else model_kwargs(arch, args),
            "args": plain_args(args)}
    return fit_recon(meta, data, args, dist.device, paths, resumed)


def fit_recon(meta: dict, data: ReconData, args: argparse.Namespace, device: torch.device, paths: dict | None,
        resumed: dict | None = None, groups: list[str] | None = None, show: bool = True) -> dict:
    """Epochs over the train slices of `groups` (default all), validating on val; with `paths`, the best and last
    checkpoints, the log and the curves are written after every epoch. Without a val split the best checkpoint is the
    last epoch (best val_psnr None)."""
    seed_everything(args.seed)
    model = build_model(meta)
    start_epoch = resumed["epoch"] if resumed else 0
    if resumed:
        model.load_state_dict(resumed["state_dict"])
    model.to(device)
    optimizer = optimizer_for(model.parameters(), args.optimizer, args.lr, args.momentum, args.weight_decay)
    if resumed:
        optimizer.load_state_dict(resumed["optimizer"])
    kind, amp = meta["kind"], amp_dtype(device, args.amp)
    scaler = torch.amp.GradScaler("cuda", enabled=amp == torch.float16)
    train_set = data.slices("train", kind, groups, train=True, augment=args.mri_aug,
                            affine_p=args.mri_aug_affine)
    check_depth_fits(meta["model_kwargs"], min(train_set[0].target.shape[-2:]))
    steps = -(-len(train_set) // args.batch_size)
    total_steps, warmup = args.epochs * steps, args.warmup_epochs * steps
    val_groups = [g for g in (groups or data.groups) if data.has_split("val", g)]
    selection = Selection("val_psnr", bool(val_groups), resumed=resumed)
    batch_loss = plain_loss(meta["loss"])
    if show:
        print(f"training {meta['arch']} on {'+'.join(groups or data.groups)} ({len(train_set)} train slices from "
              f"{len(train_set.volumes)} volumes, {data.challenge}, {data.mask_func.kind} mask "
              f"{'/'.join(f'{a:g}x' for a in data.mask_func.accelerations)}) on {device}"
              + ("" if val_groups else "; no val split: keeping the last epoch as the best checkpoint"))
    def validate() -> dict:
        report = evaluate_recon(model, data, "val", kind, device, batch_size=args.batch_size,
                                num_workers=args.num_workers, groups=val_groups, amp=amp, examples_per_group=0)
        return {"val_psnr": round(mean_psnr(report), 4),
                "val_ssim": round(sum(g["ssim"] for g in report["groups"].values()) / len(val_groups), 5)}

    def batches(epoch: int) -> DataLoader:
        return make_loader(train_set, args.batch_size, shuffle=True, seed=args.seed, epoch=epoch,
                           num_workers=args.num_workers, device=device)

    net = accelerated(model, args.memory_format, args.compile)
    fit(model, optimizer, batches, batch_loss, selection, epochs=args.epochs, start_epoch=start_epoch, steps=steps,
        lr_at=lambda step: args.lr * lr_factor(step, total_steps, warmup, args.scheduler),
        validate=validate if val_groups else None, val_every=args.val_every,
        train_row=lambda stats: {"train_loss": round(stats["loss"], 6)}, val_blank={"val_psnr": "", "val_ssim": ""},
        postfix=lambda stats, row, validated: {"loss": f"{stats['loss']:.4f}",
                                               "val_psnr": f"{row['val_psnr']:.2f}" if validated else "-"},
        meta=meta, paths=paths, device=device, amp=amp, scaler=scaler, show=show, net=net)
    summary = {"best_val_psnr": selection.best["val_psnr"], "best_epoch": selection.best["epoch"], "model": model,
               "history": selection.history}
    if paths:
        plots.training_curves(selection.history, paths["curves"], (("loss", "loss"), ("psnr", "PSNR (dB)"), ("ssim", "SSIM")))
        summary.update(best=str(paths["best"]), last=str(paths["last"]), run_dir=str(paths["log"].parent))
    return summary
