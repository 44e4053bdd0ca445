"""main_train.py --federated: rounds of local training at every site and FedAvg, with per-round checkpoints,
validation on the target site, stored client updates for FedEraser, and --continues."""
import argparse
import time

import torch

from datasets.mri.data import ReconData, load_recon
from utils import checkpoints, distributed, plots
from utils.device import seed_everything
from utils.errors import UserError
from utils.io import save_torch

from .defaults import default_arch
from .federated import (Federation, LocalRecipe, clone_state, federation_from_args, make_clients, run_round,
                        updates_folder)
from .recon import check_depth_fits, model_kind, model_kwargs
from .recon_loop import evaluate_recon, mean_psnr
from .recon_training import build_model
from .training import Selection, output_paths, plain_args, read_resume_point, run_training, save_epoch


def validation_sites(data: ReconData, fed: Federation) -> list[str]:
    """The sites whose val split selects the best round: the target's, else every training site's that has one;
    none (the last round is kept) when they have none. Never a test split."""
    if fed.target:
        return [fed.target] if data.has_split("val", fed.target) else []
    return [s for s in fed.sites if data.has_split("val", s)]


def _to_cpu(obj):
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: _to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_cpu(v) for v in obj)
    return obj


def gather_client_states(clients: list, dist: distributed.Dist) -> dict:
    """{site: what --continues needs of it} of every site (FL-MRCM's discriminators and optimisers), on the main
    process; under torchrun each process holds one site and sends it there."""
    mine = {c.name: _to_cpu(c.state()) for c in clients if c.state()}
    if not dist.enabled:
        return mine
    gathered = [None] * dist.world_size if dist.is_main else None
    torch.distributed.gather_object(mine, gathered, dst=0)
    return {name: state for part in gathered or [] for name, state in part.items()}


def train_federated(args: argparse.Namespace) -> dict:
    """Train (or continue) the federation the flags describe; returns a summary of the run."""
    args.resume = args.resume or args.continues
    return run_training(args, _train)


def _train(args: argparse.Namespace, dist: distributed.Dist) -> dict:
    paths = output_paths(args)
    resumed = read_resume_point(args, paths["last"]) if args.resume else None
    data = load_recon(args)
    fed = federation_from_args(args, data)
    if dist.enabled and dist.world_size != len(fed.sites):
        raise UserError(f"torchrun started {dist.world_size} processes for {len(fed.sites)} training sites; "
                        f"pass --nproc_per_node {len(fed.sites)} (one process per site)")
    arch = (args.arch or default_arch("reconstruction")).lower()
    if model_kind(arch) != "image":
        raise UserError("federated training uses the U-Net (--arch unet): FL-MRCM aligns its bottleneck features")
    check_depth_fits(resumed["meta"]["model_kwargs"] if resumed else model_kwargs(arch, args),
                     min(data.slices("train", "image", fed.sites[:1], train=True)[0].target.shape[-2:]))
    if resumed:
        checkpoints.check_compatible(resumed["meta"], data.describe(), str(paths["last"]), arch)
    meta = {**data.describe(), "arch": arch, "kind": "image", "loss": args.loss, "model_id": args.save_model_id,
            "model_kwargs": resumed["meta"]["model_kwargs"] if resumed else model_kwargs(arch, args),
            "args": plain_args(args), "federated": {**fed.to_meta(), "unlearn_interval": args.unlearn_interval}}
    if args.memory_format != "contiguous" or args.compile:
        raise UserError("federated training runs its sites' U-Nets in contiguous memory order, uncompiled: drop "
                        "--memory_format channels_last and --compile")
    seed_everything(args.seed)
    model = build_model(meta).to(dist.device)
    global_state = clone_state(model)
    recipe = LocalRecipe.from_args(args, "image", args.loss)
    clients = make_clients(data, fed, model, recipe, dist.device, [fed.sites[dist.rank]] if dist.enabled else None)
    start = resumed["meta"]["epoch"] if resumed else 0
    if resumed:
        global_state = {k: v.to(dist.device) for k, v in resumed["state_dict"].items()}
        for client in clients:
            if client.name in resumed.get("clients", {}):
                client.load(resumed["clients"][client.name])
    target = data.slices("train", "image", [fed.target], train=True) if fed.mode == "mrcm" else None
    val_sites = validation_sites(data, fed)
    selection = Selection("val_psnr", bool(val_sites), "round", resumed)
    updates = updates_folder(args.model_dir, args.save_model_id)
    if dist.is_main:
        print(f"{'FL-MRCM' if fed.mode == 'mrcm' else 'FL-MR'}: {len(fed.sites)} sites ({''.join(fed.sites)}), "
              f"{args.epochs} rounds × {args.local_ep} local epochs, target {fed.target or '-'}, on {dist.device}"
              + (f" ×{dist.world_size} processes" if dist.enabled else "")
              + (f"; best round by val PSNR of {''.join(val_sites)}" if val_sites else
                 f"; {'target ' + fed.target if fed.target else 'no site'} has no val split: keeping the last round "
                 f"as {args.save_model_id}_best.pt (never selecting on test)"))
    for round_num in range(start, args.epochs):
        started = time.perf_counter()
        before = global_state
        global_state, states, losses = run_round(model, global_state, clients, fed, round_num, recipe, dist.device,
                                                 target, distributed=dist.enabled)
        if args.unlearn_interval and round_num % args.unlearn_interval == 0:
            if dist.is_main:
                save_torch(before, updates / f"round{round_num:03d}_global.pt")
            for name, state in states.items():
                save_torch(state, updates / f"round{round_num:03d}_{name}.pt")
        client_states = gather_client_states(clients, dist)
        model.load_state_dict(global_state)
        row = {"epoch": round_num + 1, "lr": recipe.lr_at(round_num),
               "train_loss": round(sum(losses.values()) / len(losses), 6), "val_psnr": "", "val_ssim": "", "seconds": 0.0}
        if dist.is_main and val_sites:
            report = evaluate_recon(model, data, "val", "image", dist.device, batch_size=args.batch_size,
                                    groups=val_sites, examples_per_group=0)
            row["val_psnr"] = round(mean_psnr(report), 4)
            row["val_ssim"] = round(sum(g["ssim"] for g in report["groups"].values()) / len(val_sites), 5)
        row["seconds"] = round(time.perf_counter() - started, 3)
        if dist.is_main:
            is_best = selection.add(row, validated=True)
            record = selection.record(meta, row)
            save_epoch(paths, model, record, is_best, clients=client_states)  # one atomic file: resumable as a whole
            checkpoints.save_checkpoint(paths["last"].with_name(f"{args.save_model_id}_rounds") /
                                        f"round{round_num + 1:03d}.pt", model, record)
            print(f"round {round_num + 1}/{args.epochs}: loss {row['train_loss']:.4f}"
                  + (f", {fed.target or 'val'} PSNR {row['val_psnr']:.2f} dB" if val_sites else "")
                  + f" ({row['seconds']:.1f} s)", flush=True)
        dist.barrier()
    if not dist.is_main:
        return {}
    plots.training_curves(selection.history, paths["curves"], (("loss", "loss"), ("psnr", "PSNR (dB)"), ("ssim", "SSIM")))
    return {"best_val_psnr": selection.best["val_psnr"], "best_epoch": selection.best["epoch"],
            "best": str(paths["best"]), "last": str(paths["last"]), "run_dir": str(paths["log"].parent),
            "history": selection.history}
