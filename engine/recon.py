"""Reconstruction models on typed slice batches (datasets.mri.samples): which sample a network reads, the losses."""
import argparse
from typing import Callable

import torch
from torch import nn

from datasets.mri.samples import MriSample
from utils.errors import UserError
from utils.recon_metrics import ssim

RECON_ARCHS = {"unet": "image", "varnet": "kspace"}  # arch -> the sample it reads
DEFAULT_CHANS = {"unet": 32, "varnet": 18}
SampleLoss = Callable[[torch.Tensor, MriSample], torch.Tensor]  # (model output, batch) -> loss per slice


def model_kind(arch: str) -> str:
    try:
        return RECON_ARCHS[arch.lower()]
    except KeyError:
        raise UserError(f"--arch {arch!r} is not a reconstruction model; choose one of: {', '.join(RECON_ARCHS)}")


def model_kwargs(arch: str, args: argparse.Namespace) -> dict:
    """The network settings the flags give: U-Net chans / pools; VarNet cascades, chans, pools, sensitivity net."""
    chans = args.chans or DEFAULT_CHANS[arch]
    if arch == "unet":
        return {"in_channels": 1, "chans": chans, "num_pool_layers": args.num_pool_layers}
    return {"in_channels": 1, "num_cascades": args.num_cascades, "chans": chans, "pools": args.num_pool_layers,
            "sens_chans": args.sens_chans, "sens_pools": args.sens_pools}


def check_arch_fits(arch: str, challenge: str) -> None:
    if arch == "varnet" and challenge != "multicoil":
        raise UserError("varnet needs multi-coil k-space (reconstruction_rss files); use --arch unet for single-coil data")


def check_depth_fits(kwargs: dict, side: int) -> None:
    """Each pooling layer halves the image: the deepest level of a U-Net (or a VarNet's U-Nets) needs 2×2 pixels."""
    for key, flag in (("num_pool_layers", "--num_pool_layers"), ("pools", "--num_pool_layers"),
                      ("sens_pools", "--sens_pools")):
        pools = kwargs.get(key)
        if pools is not None and side < 2 ** (pools + 1):
            deepest = max(1, side.bit_length() - 2)
            raise UserError(f"{flag} {pools} is too deep for {side}-pixel images (each pooling halves them, and the "
                            f"deepest level needs 2x2 pixels); pass {flag} {deepest} or less")


def sample_loss(name: str) -> SampleLoss:
    """Per-slice loss: l1 (on the normalised image for a U-Net, as fastMRI), l2 (mean squared error there, which
    PSNR measures), ssim (1 − SSIM with the volume max), or ssim_l1 = SSIM + 1e-5·L1 in image units (seed 000)."""
    def l1(output: torch.Tensor, batch: MriSample) -> torch.Tensor:
        return (output.float() - batch.loss_target()).abs().flatten(1).mean(1)

    def l2(output: torch.Tensor, batch: MriSample) -> torch.Tensor:
        return (output.float() - batch.loss_target()).square().flatten(1).mean(1)

    def ssim_part(output: torch.Tensor, batch: MriSample) -> torch.Tensor:
        return 1 - ssim(batch.target, batch.to_image(output.float()), batch.max_value)

    def ssim_l1(output: torch.Tensor, batch: MriSample) -> torch.Tensor:
        image = batch.to_image(output.float())
        return ssim_part(output, batch) + 1e-5 * (image - batch.target).abs().flatten(1).mean(1)

    return {"l1": l1, "l2": l2, "ssim": ssim_part, "ssim_l1": ssim_l1}[name]


def with_noisy_targets(batch: MriSample, rows: torch.Tensor, lam: float, generator: torch.Generator | None = None,
                       relative: bool = True) -> MriSample:
    """NL: the targets of `rows` (bool per slice) plus |N(0,1)|·λ·(volume max), or |N(0,1)|·λ as seed 000's code
    adds it when not `relative`, in image and normalised units."""
    noise = torch.randn(batch.target.shape, generator=generator, device="cpu").abs().to(batch.target.device)
    scale = batch.max_value.view(-1, 1, 1) if relative else 1.0
    return batch.add_to_target(noise * lam * scale * rows.view(-1, 1, 1))


def l1_norm(model: nn.Module) -> torch.Tensor:
    """‖θ‖₁ over every trainable weight."""
    return sum(p.abs().sum() for p in model.parameters() if p.requires_grad)
