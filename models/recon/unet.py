"""fastMRI's U-Net (fastmri/models/unet.py), with FL-MRCM's pooled bottleneck latent on request."""
import torch
import torch.nn.functional as F
from torch import nn

from .. import declare, register


class ConvBlock(nn.Module):
    """Two 3×3 convolutions, each followed by instance norm, LeakyReLU(0.2) and channel dropout."""

    def __init__(self, cin: int, cout: int, drop_prob: float) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.InstanceNorm2d(cout),
            nn.LeakyReLU(0.2, inplace=True), nn.Dropout2d(drop_prob),
            nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.InstanceNorm2d(cout),
            nn.LeakyReLU(0.2, inplace=True), nn.Dropout2d(drop_prob))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class TransposeConvBlock(nn.Module):
    """A 2×2 stride-2 transposed convolution that doubles H and W, with instance norm and LeakyReLU(0.2)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.layers = nn.Sequential(nn.ConvTranspose2d(cin, cout, 2, stride=2, bias=False),
                                    nn.InstanceNorm2d(cout), nn.LeakyReLU(0.2, inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class Unet(nn.Module):
    """(N, in_chans, H, W) -> (N, out_chans, H, W) for any H and W; parameter names as in fastMRI."""

    def __init__(self, in_chans: int = 1, out_chans: int = 1, chans: int = 32, num_pool_layers: int = 4,
                 drop_prob: float = 0.0) -> None:
        super().__init__()
        self.down_sample_layers = nn.ModuleList([ConvBlock(in_chans, chans, drop_prob)])
        ch = chans
        for _ in range(num_pool_layers - 1):
            self.down_sample_layers.append(ConvBlock(ch, ch * 2, drop_prob))
            ch *= 2
        self.conv = ConvBlock(ch, ch * 2, drop_prob)
        self.up_transpose_conv, self.up_conv = nn.ModuleList(), nn.ModuleList()
        for _ in range(num_pool_layers - 1):
            self.up_transpose_conv.append(TransposeConvBlock(ch * 2, ch))
            self.up_conv.append(ConvBlock(ch * 2, ch, drop_prob))
            ch //= 2
        self.up_transpose_conv.append(TransposeConvBlock(ch * 2, ch))
        self.up_conv.append(nn.Sequential(ConvBlock(ch * 2, ch, drop_prob), nn.Conv2d(ch, out_chans, 1)))
        ups = [f"{part}.{i}" for i in range(num_pool_layers) for part in ("up_transpose_conv", "up_conv")]
        declare(self, None, [*(f"down_sample_layers.{i}" for i in range(num_pool_layers)), "conv", *ups])

    def forward(self, x: torch.Tensor, return_latent: bool = False) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """The output, or (output, bottleneck average-pooled to 2×2 and flattened) with return_latent."""
        skips = []
        for layer in self.down_sample_layers:
            x = layer(x)
            skips.append(x)
            x = F.avg_pool2d(x, 2)
        x = latent = self.conv(x)
        for transpose_conv, conv in zip(self.up_transpose_conv, self.up_conv):
            skip = skips.pop()
            x = transpose_conv(x)
            # odd sizes: the upsampled map is one short on the right / bottom; reflect-pad it as fastMRI does
            pad = [0, int(x.shape[-1] != skip.shape[-1]), 0, int(x.shape[-2] != skip.shape[-2])]
            if any(pad):
                x = F.pad(x, pad, "reflect")
            x = conv(torch.cat([x, skip], dim=1))
        if return_latent:
            return x, F.adaptive_avg_pool2d(latent, 2).flatten(1)
        return x


@register("unet")
def unet(num_classes: int = 0, in_channels: int = 1, imagenet_arch: bool = False, chans: int = 32,
         num_pool_layers: int = 4, drop_prob: float = 0.0) -> Unet:
    """fastMRI's U-Net with in_channels in and out; num_classes and imagenet_arch are ignored."""
    return Unet(in_channels, in_channels, chans, num_pool_layers, drop_prob)
