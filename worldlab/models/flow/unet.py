"""The CPU-default denoiser: a slim U-Net with adaptive group norm (DIAMOND's design).

The noisy next frame and the context frames enter as channels of one image; every
residual block reads the conditioning vector through AdaGN (a per-channel scale and
shift of its group norm). One down-sampling per level, skip connections across.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def _groups(channels: int) -> int:
    return max(1, min(8, channels // 4))


class AdaGroupNorm(nn.Module):
    def __init__(self, channels: int, cond_dims: int):
        super().__init__()
        self.norm = nn.GroupNorm(_groups(channels), channels, affine=False)
        self.scale_shift = nn.Linear(cond_dims, 2 * channels)
        nn.init.zeros_(self.scale_shift.weight)
        nn.init.zeros_(self.scale_shift.bias)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        scale, shift = self.scale_shift(cond)[:, :, None, None].chunk(2, 1)
        return self.norm(x) * (1 + scale) + shift


class ResBlock(nn.Module):
    def __init__(self, inputs: int, outputs: int, cond_dims: int):
        super().__init__()
        self.norm1 = AdaGroupNorm(inputs, cond_dims)
        self.conv1 = nn.Conv2d(inputs, outputs, 3, padding=1)
        self.norm2 = AdaGroupNorm(outputs, cond_dims)
        self.conv2 = nn.Conv2d(outputs, outputs, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)  # each block starts as the identity
        nn.init.zeros_(self.conv2.bias)
        self.skip = nn.Conv2d(inputs, outputs, 1) if inputs != outputs else nn.Identity()

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x, cond)))
        h = self.conv2(F.silu(self.norm2(h, cond)))
        return self.skip(x) + h


class UNetDenoiser(nn.Module):
    """``(noisy [N, C, H, W], context [N, K, C, H, W], cond [N, D]) → x̂ [N, C, H, W]``."""

    def __init__(
        self,
        image_channels: int,
        context_frames: int,
        channels: list[int],
        blocks: int,
        cond_dims: int,
    ):
        super().__init__()
        self.levels = len(channels)
        self.stem = nn.Conv2d(image_channels * (context_frames + 1), channels[0], 3, padding=1)
        self.down = nn.ModuleList()
        self.downsample = nn.ModuleList()
        skips, width = [], channels[0]
        for level, out in enumerate(channels):
            for _ in range(blocks):
                self.down.append(ResBlock(width, out, cond_dims))
                width = out
                skips.append(width)
            if level < self.levels - 1:
                self.downsample.append(nn.Conv2d(width, width, 3, stride=2, padding=1))
        self.middle = ResBlock(width, width, cond_dims)
        self.up = nn.ModuleList()
        self.upsample = nn.ModuleList()
        for level, out in reversed(list(enumerate(channels))):
            for _ in range(blocks):
                self.up.append(ResBlock(width + skips.pop(), out, cond_dims))
                width = out
            if level > 0:
                self.upsample.append(nn.Conv2d(width, width, 3, padding=1))
        self.out_norm = nn.GroupNorm(_groups(width), width)
        self.out = nn.Conv2d(width, image_channels, 3, padding=1)
        self.blocks = blocks

    @property
    def multiple(self) -> int:
        """Frame sides must be multiples of this (one halving per level)."""
        return 2 ** (self.levels - 1)

    def forward(
        self,
        noisy: torch.Tensor,
        context: torch.Tensor,
        cond: torch.Tensor,
        residuals: list[torch.Tensor | None] | None = None,
        middle_residual: torch.Tensor | None = None,
    ):
        """``residuals`` (one per down block, or None) and ``middle_residual`` are added to
        the skip connections and the middle: what control branches say (control.py)."""
        x = self.stem(torch.cat([noisy, context.flatten(1, 2)], 1))
        skips, blocks = [], iter(self.down)
        extra = iter(residuals or [])
        for level in range(self.levels):
            for _ in range(self.blocks):
                x = next(blocks)(x, cond)
                residual = next(extra, None)
                skips.append(x if residual is None else x + residual)
            if level < self.levels - 1:
                x = self.downsample[level](x)
        x = self.middle(x, cond)
        if middle_residual is not None:
            x = x + middle_residual
        blocks = iter(self.up)
        for level in range(self.levels):
            for _ in range(self.blocks):
                x = next(blocks)(torch.cat([x, skips.pop()], 1), cond)
            if level < self.levels - 1:
                x = self.upsample[level](F.interpolate(x, scale_factor=2.0, mode="nearest"))
        return self.out(F.silu(self.out_norm(x)))
