"""Typed MRI samples, as fastMRI's UnetSample / VarNetSample: one slice from the dataset, or a batch of them after
collation (each field then gains a leading batch dimension). A sample knows how its network is called and how the
output is put back in the target's units, so the training, evaluation and unlearning code never asks which kind of
network it drives.

A file without a target (a fastMRI test or challenge file) gives empty `target` tensors."""
from typing import NamedTuple

import torch
from torch import nn

from .transforms import center_crop


class UnetSample(NamedTuple):
    """A slice for an image-domain network (U-Net): its zero-filled magnitude, instance-normalised."""

    image: torch.Tensor  # (1, h, w) zero-filled magnitude, normalised with mean / std and clamped to ±6
    target: torch.Tensor  # (h, w) in image units
    norm_target: torch.Tensor  # (1, h, w) the target normalised as the image, clamped to ±6
    mean: torch.Tensor
    std: torch.Tensor
    max_value: torch.Tensor  # the volume's maximum (the PSNR / SSIM range)
    volume: int | torch.Tensor  # index into the dataset's volumes
    slice: int | torch.Tensor

    def predict(self, model: nn.Module) -> torch.Tensor:
        """The network's output, normalised, (N, 1, h, w)."""
        return model(self.image)

    def to_image(self, output: torch.Tensor) -> torch.Tensor:
        """A normalised output in the target's units, (N, h, w)."""
        return output.squeeze(1) * self.std.view(-1, 1, 1) + self.mean.view(-1, 1, 1)

    def zero_filled(self) -> torch.Tensor:
        """The zero-filled input in the target's units (clamped as the network sees it), (N, h, w)."""
        return self.to_image(self.image)

    def loss_target(self) -> torch.Tensor:
        """What an L1 loss compares the output with: the normalised target, as fastMRI trains its U-Net."""
        return self.norm_target

    def reconstruct(self, model: nn.Module) -> list[torch.Tensor]:
        """Each slice's reconstruction as a submission holds it, in image units: the U-Net's is already in its crop."""
        return list(self.to_image(self.predict(model).float()))

    def add_to_target(self, noise: torch.Tensor) -> "UnetSample":
        """The sample with `noise` (image units, (N, h, w)) added to its target, in both units."""
        return self._replace(target=self.target + noise,
                             norm_target=self.norm_target + (noise / (self.std.view(-1, 1, 1) + 1e-11)).unsqueeze(1))


class VarNetSample(NamedTuple):
    """A slice for a k-space network (VarNet): its masked k-space and mask."""

    kspace: torch.Tensor  # (coils, H, W) masked k-space (one coil for single-coil files), complex
    mask: torch.Tensor  # (1, 1, W) the sampled columns
    num_low: int | torch.Tensor  # centre columns of the mask (0: let the VarNet count them)
    target: torch.Tensor  # (h, w) in image units
    zero_filled_image: torch.Tensor  # (h, w) root-sum-of-squares of the zero-filled coil images
    crop: torch.Tensor  # (2,) the size a submission holds
    max_value: torch.Tensor
    volume: int | torch.Tensor
    slice: int | torch.Tensor

    def predict(self, model: nn.Module) -> torch.Tensor:
        """The network's magnitude image, centre-cropped to the target, (N, h, w)."""
        return center_crop(model(self.kspace, self.mask, self.num_low), tuple(self.target.shape[-2:]))

    def to_image(self, output: torch.Tensor) -> torch.Tensor:
        return output

    def zero_filled(self) -> torch.Tensor:
        return self.zero_filled_image

    def loss_target(self) -> torch.Tensor:
        return self.target

    def reconstruct(self, model: nn.Module) -> list[torch.Tensor]:
        """Each slice's reconstruction as a submission holds it: the output centre-cropped to the sample's `crop`
        (files without a target have no other size to crop to)."""
        output = model(self.kspace, self.mask, self.num_low).float()
        return [center_crop(out, tuple(size.tolist())) for out, size in zip(output, self.crop)]

    def add_to_target(self, noise: torch.Tensor) -> "VarNetSample":
        return self._replace(target=self.target + noise)


MriSample = UnetSample | VarNetSample
