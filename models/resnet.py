"""ResNets with a small-image stem (3×3 conv, stride 1, no max-pool) by default, torchvision's stem on request."""
from torch import nn

from . import declare, register


def build_resnet(depth: int, num_classes: int, in_channels: int = 3, imagenet_arch: bool = False) -> nn.Module:
    """torchvision's ResNet of `depth` (imported here: reconstruction runs never load torchvision)."""
    import torchvision
    net = getattr(torchvision.models, f"resnet{depth}")(weights=None, num_classes=num_classes)
    if imagenet_arch:
        if in_channels != 3:
            net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
    else:
        net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
        net.maxpool = nn.Identity()
    nn.init.kaiming_normal_(net.conv1.weight, mode="fan_out", nonlinearity="relu")
    stages = [f"layer{i}.{j}" for i in range(1, 5) for j in range(len(getattr(net, f"layer{i}")))]
    return declare(net, "fc", ["conv1", "bn1", *stages, "fc"])


@register("resnet18")
def resnet18(num_classes: int, in_channels: int = 3, imagenet_arch: bool = False) -> nn.Module:
    return build_resnet(18, num_classes, in_channels, imagenet_arch)


@register("resnet34")
def resnet34(num_classes: int, in_channels: int = 3, imagenet_arch: bool = False) -> nn.Module:
    return build_resnet(34, num_classes, in_channels, imagenet_arch)


@register("resnet50")
def resnet50(num_classes: int, in_channels: int = 3, imagenet_arch: bool = False) -> nn.Module:
    return build_resnet(50, num_classes, in_channels, imagenet_arch)
