import torch
import torch.nn.functional as F
from torch import nn

import models
from datasets.mri.transforms import ifft2c, rss
from models.recon.unet import Unet
from models.recon.varnet import VarNet, num_low_freqs_and_pad


def tiny_varnet() -> VarNet:
    return VarNet(num_cascades=2, sens_chans=4, sens_pools=2, chans=4, pools=2)


def column_mask(width: int = 24) -> torch.Tensor:
    """Every third column and 4 centre columns (10..13 of 24), as (1, 1, 1, W)."""
    mask = torch.zeros(width, dtype=torch.bool)
    mask[1::3] = True
    mask[width // 2 - 2:width // 2 + 2] = True
    return mask.view(1, 1, 1, width)


def test_unet_keeps_odd_input_sizes():
    for pools in (2, 4):
        net = Unet(in_chans=2, out_chans=3, chans=4, num_pool_layers=pools)
        assert net(torch.randn(1, 2, 37, 45)).shape == (1, 3, 37, 45)


def test_unet_latent_is_the_pooled_bottleneck_2048_wide_for_fastmri_defaults():
    net = Unet().eval()
    x = torch.randn(1, 1, 64, 64)
    with torch.no_grad():
        out, z = net(x, return_latent=True)
        assert torch.equal(out, net(x))
    assert out.shape == (1, 1, 64, 64) and z.shape == (1, 2048)


def test_create_model_passes_settings_to_the_unet_factory():
    net = models.create_model("unet", in_channels=1, chans=8, num_pool_layers=2)
    assert isinstance(net, Unet)
    assert len(net.down_sample_layers) == 2 and net.down_sample_layers[0].layers[0].out_channels == 8
    assert net(torch.randn(1, 1, 20, 20)).shape == (1, 1, 20, 20)


def test_centre_width_is_read_from_the_mask_or_taken_as_given():
    num_low, pad = num_low_freqs_and_pad(column_mask(), batch=2)
    assert num_low.tolist() == [4, 4] and pad.tolist() == [10, 10]
    num_low, pad = num_low_freqs_and_pad(column_mask(), batch=2, num_low_frequencies=torch.tensor([2, 6]))
    assert num_low.tolist() == [2, 6] and pad.tolist() == [11, 9]


def test_varnet_gives_a_non_negative_image_and_finite_gradients():
    torch.manual_seed(0)
    net, mask = tiny_varnet(), column_mask()
    kspace = torch.randn(2, 4, 32, 24, dtype=torch.complex64) * mask
    out = net(kspace, mask)
    assert out.shape == (2, 32, 24) and not out.is_complex() and (out >= 0).all()
    out.mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters())


def test_sensitivity_maps_have_unit_rss_over_coils():
    torch.manual_seed(0)
    mask = column_mask()
    sens = tiny_varnet().sens_net(torch.randn(2, 4, 32, 24, dtype=torch.complex64) * mask, mask)
    assert torch.allclose(rss(sens, dim=1), torch.ones(2, 32, 24), atol=1e-5)


class Zero(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(x)


def test_fully_sampled_data_consistency_returns_the_measured_image():
    # zeroing the U-Net's last conv is not enough: NormUnet adds the input's mean back, so swap the regulariser
    torch.manual_seed(0)
    net = tiny_varnet()
    for cascade in net.cascades:
        cascade.model = Zero()
    kspace = torch.randn(2, 4, 32, 24, dtype=torch.complex64)
    with torch.no_grad():
        out = net(kspace, torch.ones(1, 1, 1, 24, dtype=torch.bool))
    assert torch.allclose(out, rss(ifft2c(kspace), dim=1), atol=1e-5)


def test_unet_learns_to_denoise_a_fixed_image():
    torch.manual_seed(0)
    clean = F.avg_pool2d(torch.rand(1, 1, 36, 36), 5, stride=1)  # 32×32, smooth
    noisy = clean + 0.1 * torch.randn_like(clean)
    net = Unet(chans=8, num_pool_layers=2)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    losses = []
    for _ in range(100):
        loss = F.l1_loss(net(noisy), clean)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0] and losses[-1] < F.l1_loss(noisy, clean).item()
