"""Small pure functions on complex MRI tensors, in the style of fastMRI's fftc.py and data/transforms.py.

Complex data are torch complex tensors (not fastMRI's trailing dimension of 2); images and k-space
share the last two dimensions (H, W); coils, when present, are dimension -3.
"""
import math

import torch
import torch.nn.functional as F


def fft2c(image: torch.Tensor) -> torch.Tensor:
    """Centred orthonormal 2-D FFT over the last two dimensions."""
    shifted = torch.fft.ifftshift(image, dim=(-2, -1))
    return torch.fft.fftshift(torch.fft.fft2(shifted, norm="ortho"), dim=(-2, -1))


def ifft2c(kspace: torch.Tensor) -> torch.Tensor:
    """Centred orthonormal 2-D inverse FFT over the last two dimensions."""
    shifted = torch.fft.ifftshift(kspace, dim=(-2, -1))
    return torch.fft.fftshift(torch.fft.ifft2(shifted, norm="ortho"), dim=(-2, -1))


def rss(data: torch.Tensor, dim: int = -3) -> torch.Tensor:
    """Root sum of squares of magnitudes over the coil dimension."""
    return data.abs().square().sum(dim).sqrt()


def center_crop(data: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """The central `shape` of the last two dimensions (real or complex)."""
    h, w = shape
    if not (0 < h <= data.shape[-2] and 0 < w <= data.shape[-1]):
        raise ValueError(f"cannot crop {tuple(data.shape[-2:])} to {shape}")
    top, left = (data.shape[-2] - h) // 2, (data.shape[-1] - w) // 2
    return data[..., top:top + h, left:left + w]


def crop_size(resolution: int | None, *shapes: tuple[int, ...]) -> tuple[int, int]:
    """The smallest of the shapes, at most resolution × resolution: fastMRI's VarNet training and validation crop
    (center_crop_to_smallest of output and target; 320 × 256 for 256 columns and a 320 × 320 target)."""
    h = min(s[-2] for s in shapes)
    w = min(s[-1] for s in shapes)
    if resolution:
        h, w = min(h, resolution), min(w, resolution)
    return h, w


def recon_crop(resolution: int | None, size: tuple[int, int], height: int, width: int) -> tuple[int, int]:
    """fastMRI's crop of a U-Net image (UnetDataTransform) and of a submitted slice (VarNet test_step): `size` (the
    target's, else the header's recon size), but width × width when the k-space is narrower than that ("FLAIR 203":
    256 columns, 320 × 320 target -> 256 × 256); within the k-space height, at most resolution × resolution."""
    h, w = size
    if width < w:
        h, w = width, width
    h = min(h, height)
    if resolution:
        h, w = min(h, resolution), min(w, resolution)
    return h, w


def normalize_instance(data: torch.Tensor, eps: float = 1e-11) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(data − mean) / (std + eps), with the mean and std it used."""
    mean, std = data.mean(), data.std()
    return (data - mean) / (std + eps), mean, std


def normalize(data: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, eps: float = 1e-11) -> torch.Tensor:
    return (data - mean) / (std + eps)


def flip_transpose(kspace: torch.Tensor, target: torch.Tensor, flips: tuple[bool, bool], transpose: bool
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """A training slice seen in another orientation (as MRAugment's flips and 90° turns): the fully sampled image
    (each coil's) and the target flipped up-down and/or left-right, then transposed, and the k-space measured anew
    from the image, so the under-sampling mask that follows is applied to the new orientation. Transpose only square
    slices."""
    image = ifft2c(kspace)
    dims = [d for d, flip in zip((-2, -1), flips) if flip]
    if dims:
        image, target = image.flip(dims), target.flip(dims)
    if transpose:
        image, target = image.transpose(-2, -1), target.transpose(-2, -1)
    return fft2c(image), target


def affine(kspace: torch.Tensor, target: torch.Tensor, angle: float, scale: float, shift: tuple[float, float]
           ) -> tuple[torch.Tensor, torch.Tensor]:
    """A training slice rotated by `angle` degrees, zoomed by `scale` and moved by `shift` (rows, columns) pixels
    about its centre, as MRAugment's affine augmentation: the fully sampled image (each coil's, real and imaginary
    parts bilinearly, reflected at the edges) takes the transform and its k-space is measured anew; the target,
    a centre crop of that image's magnitude (or root sum of squares), takes it in place inside the magnitude, so
    what turns into the crop is the image's, not a reflection of the crop."""
    image = ifft2c(kspace)
    h, w = image.shape[-2:]
    theta = math.radians(angle)
    cos, sin = math.cos(theta) / scale, math.sin(theta) / scale
    # output pixel p (centred; x = column, y = row) reads input pixel (R(θ)·p − shift)/s, in grid units 2/size
    matrix = torch.tensor([[cos, -sin * h / w, -2 * shift[1] / (w * scale)],
                           [sin * w / h, cos, -2 * shift[0] / (h * scale)]], dtype=torch.float32)

    def warp(data: torch.Tensor) -> torch.Tensor:
        flat = data.reshape(-1, 1, h, w)
        grid = F.affine_grid(matrix.expand(flat.shape[0], 2, 3), list(flat.shape), align_corners=False)
        return F.grid_sample(flat, grid, mode="bilinear", padding_mode="reflection",
                             align_corners=False).reshape(data.shape)

    canvas = rss(image) if image.dim() == 3 else image.abs()
    top, left = (h - target.shape[-2]) // 2, (w - target.shape[-1]) // 2
    canvas[top:top + target.shape[-2], left:left + target.shape[-1]] = target
    warped = torch.complex(warp(image.real.contiguous()), warp(image.imag.contiguous()))
    return fft2c(warped), warp(canvas)[top:top + target.shape[-2], left:left + target.shape[-1]]
