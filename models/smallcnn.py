"""A small CNN: three conv blocks and a linear head; trains Digits past 90 % in seconds on a CPU."""
import torch
from torch import nn

from . import declare, register


class SmallCNN(nn.Module):
    def __init__(self, num_classes: int, in_channels: int = 1, width: int = 32) -> None:
        super().__init__()

        def block(cin: int, cout: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
                                 nn.ReLU(inplace=True), nn.MaxPool2d(2))

        self.features = nn.Sequential(block(in_channels, width), block(width, 2 * width), block(2 * width, 4 * width),
                                      nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = nn.Linear(4 * width, num_classes)
        declare(self, "fc", ["features.0", "features.1", "features.2", "fc"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))


@register("smallcnn")
def smallcnn(num_classes: int, in_channels: int = 3, imagenet_arch: bool = False) -> nn.Module:
    return SmallCNN(num_classes, in_channels)
