"""Reconstruction metrics per volume (fastMRI's evaluate.py) and the SSIM loss, in torch.

SSIM is scikit-image's `structural_similarity` with fastMRI's settings: a 7×7 uniform window,
K1 = 0.01, K2 = 0.03, sample covariances (N / (N − 1)), averaged over the window positions that
lie wholly inside the image, with the data range given (the volume's max).
"""
import math

import torch
import torch.nn.functional as F

WIN_SIZE, K1, K2 = 7, 0.01, 0.03


def ssim_map(x: torch.Tensor, y: torch.Tensor, data_range: torch.Tensor | float) -> torch.Tensor:
    """SSIM at every full window position of images shaped (N, 1, H, W); data_range per image or scalar."""
    dtype = torch.float64 if torch.float64 in (x.dtype, y.dtype) else torch.float32
    x, y = x.to(dtype), y.to(dtype)
    window = torch.full((1, 1, WIN_SIZE, WIN_SIZE), 1.0 / WIN_SIZE**2, dtype=x.dtype, device=x.device)
    n = WIN_SIZE**2
    cov_norm = n / (n - 1)
    ux, uy = F.conv2d(x, window), F.conv2d(y, window)
    uxx, uyy, uxy = F.conv2d(x * x, window), F.conv2d(y * y, window), F.conv2d(x * y, window)
    vx, vy, vxy = cov_norm * (uxx - ux * ux), cov_norm * (uyy - uy * uy), cov_norm * (uxy - ux * uy)
    data_range = torch.as_tensor(data_range, dtype=x.dtype, device=x.device).reshape(-1, 1, 1, 1)
    c1, c2 = (K1 * data_range) ** 2, (K2 * data_range) ** 2
    return ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))


def ssim(target: torch.Tensor, output: torch.Tensor, data_range: torch.Tensor | float) -> torch.Tensor:
    """Mean SSIM per image for (N, H, W) or (N, 1, H, W) stacks: shape (N,)."""
    if target.dim() == 3:
        target, output = target.unsqueeze(1), output.unsqueeze(1)
    return ssim_map(target, output, data_range).mean(dim=(1, 2, 3))


def ssim_loss(output: torch.Tensor, target: torch.Tensor, data_range: torch.Tensor) -> torch.Tensor:
    """1 − mean SSIM over the batch (fastMRI's SSIMLoss)."""
    return 1 - ssim(target, output, data_range).mean()


def nmse(target: torch.Tensor, output: torch.Tensor) -> float:
    """‖target − output‖² / ‖target‖² over a whole volume."""
    target, output = target.double(), output.double()
    return float((target - output).square().sum() / target.square().sum())


def psnr(target: torch.Tensor, output: torch.Tensor, max_value: float) -> float:
    """20·log10(max) − 10·log10(MSE) over a whole volume, with the volume's max as the data range."""
    mse = float((target.double() - output.double()).square().mean())
    return math.inf if mse == 0 else 20 * math.log10(max_value) - 10 * math.log10(mse)


def volume_metrics(target: torch.Tensor, output: torch.Tensor, max_value: float) -> dict[str, float]:
    """NMSE, PSNR and SSIM (mean over slices) of one volume shaped (slices, H, W)."""
    return {"nmse": nmse(target, output), "psnr": psnr(target, output, max_value),
            "ssim": float(ssim(target.double(), output.double(), max_value).mean())}
