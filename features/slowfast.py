"""SlowFast 8x8 R50 (Kinetics-400) as the 3D clip encoder of HERO, with pytorchvideo's parameter names.

Parameter names follow pytorchvideo's ``create_slowfast`` (``blocks.0.multipathway_blocks.1.conv``,
``blocks.2.multipathway_blocks.0.res_blocks.3.branch2.conv_b``, ``blocks.1.multipathway_fusion.conv_fast_to_slow``,
``blocks.6.proj``, ...) so a state dict in that layout (e.g. its ``SLOWFAST_8x8_R50.pyth``) loads with
``strict=True``. The encoder returns the globally average-pooled slow (2048) ‖ fast (256) = 2304-d vector;
the Kinetics classifier ``blocks.6.proj`` is kept only so checkpoints load.

Architecture (Feichtenhofer et al. 2019): the fast pathway sees ``alpha`` = 4 x more frames (32 vs 8) with
1/8 of the channels; after the stem and after each of the first three stages a time-strided (7,1,1)
convolution fuses fast into slow (channel concatenation). Spatial strides sit on the 1x3x3 convolutions.
"""
from __future__ import annotations

import torch
from torch import nn

ALPHA = 4  # fast frames per slow frame
BETA_INV = 8  # slow channels per fast channel
FUSION_RATIO = 2  # fused channels = 2 x fast channels
R50_DEPTHS = (3, 4, 6, 3)
SLOW_CONV_A_TIME = (1, 1, 3, 3)  # temporal kernel of the first 1x1 of each stage: slow keeps res2/res3 2D
FAST_CONV_A_TIME = (3, 3, 3, 3)
NUM_SLOW_FRAMES = 8
NUM_FAST_FRAMES = NUM_SLOW_FRAMES * ALPHA


def slow_frame_index(num_fast: int, alpha: int = ALPHA) -> torch.Tensor:
    """Indices of the fast frames the slow pathway sees: ``num_fast // alpha`` evenly spaced, ends included."""
    return torch.linspace(0, num_fast - 1, num_fast // alpha).long()


class Stem(nn.Module):
    """Conv (kt x 7 x 7, spatial stride 2) → BatchNorm → ReLU → 1x3x3 max-pool (spatial stride 2)."""

    def __init__(self, out_channels: int, time_kernel: int) -> None:
        super().__init__()
        self.conv = nn.Conv3d(3, out_channels, (time_kernel, 7, 7), stride=(1, 2, 2),
                              padding=(time_kernel // 2, 3, 3), bias=False)
        self.norm = nn.BatchNorm3d(out_channels)
        self.activation = nn.ReLU()
        self.pool = nn.MaxPool3d((1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.activation(self.norm(self.conv(x))))


class BottleneckBranch(nn.Module):
    """kt x 1 x 1 reduce → 1x3x3 (carries the spatial stride) → 1x1x1 expand, each followed by BatchNorm."""

    def __init__(self, in_channels: int, inner: int, out_channels: int, time_kernel: int, stride: int) -> None:
        super().__init__()
        self.conv_a = nn.Conv3d(in_channels, inner, (time_kernel, 1, 1), padding=(time_kernel // 2, 0, 0), bias=False)
        self.norm_a = nn.BatchNorm3d(inner)
        self.conv_b = nn.Conv3d(inner, inner, (1, 3, 3), stride=(1, stride, stride), padding=(0, 1, 1), bias=False)
        self.norm_b = nn.BatchNorm3d(inner)
        self.conv_c = nn.Conv3d(inner, out_channels, 1, bias=False)
        self.norm_c = nn.BatchNorm3d(out_channels)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.norm_a(self.conv_a(x)))
        x = self.act(self.norm_b(self.conv_b(x)))
        return self.norm_c(self.conv_c(x))


class ResBlock(nn.Module):
    """Residual bottleneck block; the shortcut is projected (1x1x1 conv + BatchNorm) when shapes change."""

    def __init__(self, in_channels: int, inner: int, out_channels: int, time_kernel: int, stride: int) -> None:
        super().__init__()
        self.branch1_conv: nn.Conv3d | None = None
        self.branch1_norm: nn.BatchNorm3d | None = None
        if in_channels != out_channels or stride != 1:
            self.branch1_conv = nn.Conv3d(in_channels, out_channels, 1, stride=(1, stride, stride), bias=False)
            self.branch1_norm = nn.BatchNorm3d(out_channels)
        self.branch2 = BottleneckBranch(in_channels, inner, out_channels, time_kernel, stride)
        self.activation = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.branch1_conv is None else self.branch1_norm(self.branch1_conv(x))
        return self.activation(shortcut + self.branch2(x))


class Stage(nn.Module):
    """``depth`` residual blocks; the first one changes width and spatial stride."""

    def __init__(self, in_channels: int, inner: int, out_channels: int, depth: int, time_kernel: int,
                 stride: int) -> None:
        super().__init__()
        self.res_blocks = nn.ModuleList(
            ResBlock(in_channels if i == 0 else out_channels, inner, out_channels, time_kernel, stride if i == 0 else 1)
            for i in range(depth)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.res_blocks:
            x = block(x)
        return x


class FastToSlowFusion(nn.Module):
    """Fast features, strided in time by ``alpha`` to the slow frame rate, concatenated onto the slow channels."""

    def __init__(self, fast_channels: int) -> None:
        super().__init__()
        self.conv_fast_to_slow = nn.Conv3d(fast_channels, fast_channels * FUSION_RATIO, (7, 1, 1), stride=(ALPHA, 1, 1),
                                           padding=(3, 0, 0), bias=False)
        self.norm = nn.BatchNorm3d(fast_channels * FUSION_RATIO)
        self.activation = nn.ReLU()

    def forward(self, slow: torch.Tensor, fast: torch.Tensor) -> torch.Tensor:
        return torch.cat([slow, self.activation(self.norm(self.conv_fast_to_slow(fast)))], dim=1)


class TwoPathwayBlock(nn.Module):
    """Apply one module per pathway (``multipathway_blocks`` = [slow, fast]), then fuse fast into slow."""

    def __init__(self, slow: nn.Module, fast: nn.Module, fusion: FastToSlowFusion | None) -> None:
        super().__init__()
        self.multipathway_blocks = nn.ModuleList([slow, fast])
        self.multipathway_fusion = fusion

    def forward(self, slow: torch.Tensor, fast: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        slow, fast = self.multipathway_blocks[0](slow), self.multipathway_blocks[1](fast)
        if self.multipathway_fusion is not None:
            slow = self.multipathway_fusion(slow, fast)
        return slow, fast


class PooledConcat(nn.Module):
    """Global average over (time, height, width) of each pathway, concatenated: slow ‖ fast."""

    def forward(self, slow: torch.Tensor, fast: torch.Tensor) -> torch.Tensor:
        return torch.cat([slow.mean(dim=(2, 3, 4)), fast.mean(dim=(2, 3, 4))], dim=1)


class ClassifierHead(nn.Module):
    """The Kinetics classifier (``proj``); present for strict checkpoint loading, not used for features."""

    def __init__(self, in_features: int, num_classes: int) -> None:
        super().__init__()
        self.proj = nn.Linear(in_features, num_classes)


class SlowFast(nn.Module):
    """SlowFast R50; ``forward(slow (B,3,8,H,W), fast (B,3,32,H,W))`` → ``(B, 2304)``.

    Inputs are Kinetics-normalised RGB (mean 0.45, std 0.225); the slow clip is the fast clip's frames at
    :func:`slow_frame_index`. At 224 x 224 the global average equals pytorchvideo's fixed (8|32, 7, 7) pools.

    Args:
        depths: residual blocks per stage (R50: 3, 4, 6, 3).
        num_classes: size of the (unused) Kinetics classifier.
    """

    def __init__(self, depths: tuple[int, ...] = R50_DEPTHS, num_classes: int = 400) -> None:
        super().__init__()
        slow_width, fast_width = 64, 64 // BETA_INV
        blocks: list[nn.Module] = [
            TwoPathwayBlock(Stem(slow_width, 1), Stem(fast_width, 5), FastToSlowFusion(fast_width))
        ]
        slow_in = slow_width + fast_width * FUSION_RATIO
        fast_in = fast_width
        for s, depth in enumerate(depths):
            slow_inner, fast_inner = slow_width * 2**s, fast_width * 2**s
            slow_out, fast_out = slow_inner * 4, fast_inner * 4
            stride = 1 if s == 0 else 2
            last = s == len(depths) - 1
            blocks.append(TwoPathwayBlock(
                Stage(slow_in, slow_inner, slow_out, depth, SLOW_CONV_A_TIME[s], stride),
                Stage(fast_in, fast_inner, fast_out, depth, FAST_CONV_A_TIME[s], stride),
                None if last else FastToSlowFusion(fast_out),
            ))
            slow_in = slow_out + (0 if last else fast_out * FUSION_RATIO)
            fast_in = fast_out
        self.feature_dim = slow_in + fast_in  # 2048 + 256
        blocks += [PooledConcat(), ClassifierHead(self.feature_dim, num_classes)]
        self.blocks = nn.ModuleList(blocks)
        self.num_pathway_blocks = len(depths) + 1

    def forward(self, slow: torch.Tensor, fast: torch.Tensor) -> torch.Tensor:
        for block in self.blocks[: self.num_pathway_blocks]:
            slow, fast = block(slow, fast)
        return self.blocks[self.num_pathway_blocks](slow, fast)


def slowfast_r50() -> SlowFast:
    """SlowFast 8x8 R50 (2304-d pooled features)."""
    return SlowFast(R50_DEPTHS)
