"""ResNet-152 (ImageNet) as the 2D frame encoder of HERO, with torchvision's parameter names.

Parameter names follow torchvision's ``resnet152`` (``conv1``, ``bn1``, ``layer1.0.conv2``,
``layer2.0.downsample.0``, ``fc``, ...) so its public ImageNet state dict loads with ``strict=True``; ``fc``
is kept for that reason but the encoder returns the globally average-pooled 2048-d vector before it.
The stride of a down-sampling block sits on its 3x3 convolution (the "v1.5" variant torchvision ships).
"""
from __future__ import annotations

import torch
from torch import nn

RESNET152_DEPTHS = (3, 8, 36, 3)
EXPANSION = 4  # bottleneck output channels = 4 x its inner width


class Bottleneck(nn.Module):
    """1x1 reduce → 3x3 (carries the stride) → 1x1 expand, each with BatchNorm; ReLU after the residual sum."""

    def __init__(self, in_channels: int, width: int, stride: int = 1) -> None:
        super().__init__()
        out_channels = width * EXPANSION
        self.conv1 = nn.Conv2d(in_channels, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_channels != out_channels:  # the shortcut must match the branch's shape
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False), nn.BatchNorm2d(out_channels)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return self.relu(y + shortcut)


class ResNet(nn.Module):
    """Bottleneck ResNet; ``forward`` maps ImageNet-normalised images ``(B, 3, H, W)`` to ``(B, 2048)``.

    Args:
        depths: bottleneck blocks per stage (ResNet-152: 3, 8, 36, 3).
        num_classes: size of the (unused) ImageNet classifier ``fc``, kept so checkpoints load strictly.
    """

    def __init__(self, depths: tuple[int, ...] = RESNET152_DEPTHS, num_classes: int = 1000) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        in_channels = 64
        for stage, depth in enumerate(depths):
            width = 64 * 2**stage
            blocks = []
            for i in range(depth):
                stride = 2 if i == 0 and stage > 0 else 1
                blocks.append(Bottleneck(in_channels, width, stride))
                in_channels = width * EXPANSION
            self.add_module(f"layer{stage + 1}", nn.Sequential(*blocks))
        self.num_stages = len(depths)
        self.feature_dim = in_channels
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(in_channels, num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(images))))
        for stage in range(self.num_stages):
            x = getattr(self, f"layer{stage + 1}")(x)
        return self.avgpool(x).flatten(1)


def resnet152() -> ResNet:
    """ImageNet ResNet-152 (2048-d pooled features)."""
    return ResNet(RESNET152_DEPTHS)
