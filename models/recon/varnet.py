"""fastMRI's end-to-end variational network (fastmri/models/varnet.py) on torch complex tensors.

K-space is complex (B, C, H, W) with coils C; the mask selects columns and broadcasts to (B, 1, 1, W).
"""
import torch
import torch.nn.functional as F
from torch import nn

from datasets.mri.transforms import fft2c, ifft2c, rss

from .. import declare, register
from .unet import Unet


class NormUnet(nn.Module):
    """A U-Net on complex images (B, H, W): real and imaginary parts as 2 channels, each standardised per image."""

    def __init__(self, chans: int, num_pools: int) -> None:
        super().__init__()
        self.unet = Unet(2, 2, chans, num_pools)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = torch.view_as_real(image).permute(0, 3, 1, 2)
        mean = x.mean(dim=(2, 3), keepdim=True)
        std = x.flatten(2).std(dim=2).view_as(mean)
        h, w = x.shape[-2:]
        top, left = (-h % 16) // 2, (-w % 16) // 2
        x = F.pad((x - mean) / std, (left, -w % 16 - left, top, -h % 16 - top))
        x = self.unet(x)[..., top:top + h, left:left + w] * std + mean
        return torch.view_as_complex(x.permute(0, 2, 3, 1).contiguous())


def num_low_freqs_and_pad(mask: torch.Tensor, batch: int,
                          num_low_frequencies: int | torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Per item, the number of centre columns and the first one; counted from the mask when not given or 0 (a
    fastMRI test file's stored mask).

    As fastMRI's get_pad_and_num_low_freqs: twice the shorter run of sampled columns either side of W // 2, at least 1.
    """
    width = mask.shape[-1]
    cols = mask.expand(batch, 1, 1, width).reshape(batch, width).to(torch.int8)
    left = torch.argmin(cols[:, :width // 2].flip(1), dim=1)  # argmin finds the first unsampled column
    right = torch.argmin(cols[:, width // 2:], dim=1)
    num_low = torch.clamp(2 * torch.minimum(left, right), min=1)
    if num_low_frequencies is not None:
        given = torch.as_tensor(num_low_frequencies, device=mask.device).reshape(-1).expand(batch)
        num_low = torch.where(given == 0, num_low, given)
    return num_low, (width - num_low + 1) // 2


class SensitivityModel(nn.Module):
    """Coil sensitivities (B, C, H, W) from the centre of the k-space, normalised to unit RSS over the coils."""

    def __init__(self, chans: int, num_pools: int, mask_center: bool = True) -> None:
        super().__init__()
        self.mask_center = mask_center
        self.norm_unet = NormUnet(chans, num_pools)

    def forward(self, masked_kspace: torch.Tensor, mask: torch.Tensor,
                num_low_frequencies: int | torch.Tensor | None = None) -> torch.Tensor:
        b, c, h, w = masked_kspace.shape
        if self.mask_center:
            num_low, pad = num_low_freqs_and_pad(mask, b, num_low_frequencies)
            cols = torch.arange(w, device=masked_kspace.device)
            centre = (cols >= pad[:, None]) & (cols < (pad + num_low)[:, None])
            masked_kspace = masked_kspace * centre.view(b, 1, 1, w)
        sens = self.norm_unet(ifft2c(masked_kspace).reshape(b * c, h, w)).view(b, c, h, w)
        return sens / rss(sens, dim=1).unsqueeze(1)


class VarNetBlock(nn.Module):
    """One cascade: soft data consistency with the measured k-space, minus the regulariser's k-space update."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.dc_weight = nn.Parameter(torch.ones(1))

    def forward(self, current_kspace: torch.Tensor, ref_kspace: torch.Tensor, mask: torch.Tensor,
                sens_maps: torch.Tensor) -> torch.Tensor:
        combined = (ifft2c(current_kspace) * sens_maps.conj()).sum(dim=1)
        update = fft2c(self.model(combined).unsqueeze(1) * sens_maps)
        soft_dc = torch.where(mask, current_kspace - ref_kspace, 0) * self.dc_weight
        return current_kspace - soft_dc - update


class VarNet(nn.Module):
    """Under-sampled multi-coil k-space (B, C, H, W) and its mask -> RSS image (B, H, W)."""

    def __init__(self, num_cascades: int = 12, sens_chans: int = 8, sens_pools: int = 4, chans: int = 18,
                 pools: int = 4, mask_center: bool = True) -> None:
        super().__init__()
        self.sens_net = SensitivityModel(sens_chans, sens_pools, mask_center)
        self.cascades = nn.ModuleList([VarNetBlock(NormUnet(chans, pools)) for _ in range(num_cascades)])
        declare(self, None, ["sens_net", *(f"cascades.{i}" for i in range(num_cascades))])

    def forward(self, masked_kspace: torch.Tensor, mask: torch.Tensor,
                num_low_frequencies: int | torch.Tensor | None = None) -> torch.Tensor:
        sens_maps = self.sens_net(masked_kspace, mask, num_low_frequencies)
        kspace = masked_kspace
        for cascade in self.cascades:
            kspace = cascade(kspace, masked_kspace, mask, sens_maps)
        return rss(ifft2c(kspace), dim=1)


@register("varnet")
def varnet(num_classes: int = 0, in_channels: int = 1, imagenet_arch: bool = False, num_cascades: int = 12,
           chans: int = 18, pools: int = 4, sens_chans: int = 8, sens_pools: int = 4) -> VarNet:
    """E2E-VarNet; num_classes, in_channels and imagenet_arch are ignored (coils come with the k-space)."""
    return VarNet(num_cascades, sens_chans, sens_pools, chans, pools)
