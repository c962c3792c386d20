"""Feature streams: an encoder plus the input it expects, from decoded uint8 RGB frames to one vector per window.

A stream is either a *still* stream (one frame per window: ResNet-152, CLIP) or a *clip* stream (a short
clip per window: SlowFast). Frames arrive already resized (shorter side = ``size``, bicubic) and centre
cropped by :mod:`features.video`; here they are scaled to [0, 1] and normalised with the encoder's
statistics. The streams of a run are concatenated in :data:`STREAM_ORDER` (HERO: resnet ‖ slowfast).
"""
from __future__ import annotations

import torch
from torch import nn

from features.clip import ClipImageEncoder
from features.resnet import ResNet
from features.slowfast import NUM_FAST_FRAMES, SlowFast, slow_frame_index

STREAM_ORDER = ("resnet152", "slowfast_r50", "clip")
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
KINETICS_MEAN, KINETICS_STD = (0.45, 0.45, 0.45), (0.225, 0.225, 0.225)
CLIP_FPS = 30.0  # SlowFast's fast pathway samples the window at 30 frames per second


class _Normalise(nn.Module):
    """uint8 channels-last → float in [0, 1] → (x - mean) / std; statistics are not part of a checkpoint."""

    def __init__(self, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean), persistent=False)
        self.register_buffer("std", torch.tensor(std), persistent=False)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return (frames.float() / 255.0 - self.mean) / self.std


class StillStream(nn.Module):
    """One frame per window: ``forward(frames uint8 (B, S, S, 3))`` → ``(B, dim)``.

    Args:
        name: stream name (``resnet152``, ``clip``).
        encoder: image encoder taking normalised ``(B, 3, S, S)``, with a ``feature_dim`` attribute.
        size: side of the square input.
        mean, std: per-channel normalisation of [0, 1] RGB.
    """

    kind = "still"

    def __init__(self, name: str, encoder: nn.Module, size: int, mean: tuple[float, ...],
                 std: tuple[float, ...]) -> None:
        super().__init__()
        self.name, self.size, self.dim = name, size, int(encoder.feature_dim)
        self.normalise = _Normalise(mean, std)
        self.encoder = encoder

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.encoder(self.normalise(frames).permute(0, 3, 1, 2))


class ClipStream(nn.Module):
    """A clip per window: ``forward(clips uint8 (B, T, S, S, 3))`` → ``(B, dim)`` (SlowFast: T = 32).

    Args:
        name: stream name (``slowfast_r50``).
        encoder: :class:`SlowFast`.
        size: side of the square input.
    """

    kind = "clip"

    def __init__(self, name: str, encoder: SlowFast, size: int = 224) -> None:
        super().__init__()
        self.name, self.size, self.dim = name, size, int(encoder.feature_dim)
        self.num_frames, self.fps = NUM_FAST_FRAMES, CLIP_FPS
        self.normalise = _Normalise(KINETICS_MEAN, KINETICS_STD)
        self.encoder = encoder
        self.register_buffer("slow_index", slow_frame_index(NUM_FAST_FRAMES), persistent=False)

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        fast = self.normalise(clips).permute(0, 4, 1, 2, 3)  # (B, 3, T, S, S)
        return self.encoder(fast.index_select(2, self.slow_index), fast)


def resnet_stream(encoder: ResNet, size: int = 224) -> StillStream:
    """HERO's 2D stream: ImageNet statistics, 224 x 224."""
    return StillStream("resnet152", encoder, size, IMAGENET_MEAN, IMAGENET_STD)


def slowfast_stream(encoder: SlowFast, size: int = 224) -> ClipStream:
    """HERO's 3D stream: Kinetics statistics, 32 frames of 224 x 224 at 30 fps."""
    return ClipStream("slowfast_r50", encoder, size)


def clip_stream(encoder: ClipImageEncoder, mean: tuple[float, ...], std: tuple[float, ...]) -> StillStream:
    """A CLIP vision tower at its own input size and pixel statistics."""
    return StillStream("clip", encoder, encoder.image_size, mean, std)
