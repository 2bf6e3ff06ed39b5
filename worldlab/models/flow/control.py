"""ControlNet-style branches: one per control map (Cosmos Transfer's design).

On the U-Net (``ControlBranch``), a branch is a trainable copy of the encoder (stem, down
blocks, middle) that also reads its control map through a small hint encoder. Its
features leave through 1×1 convolutions initialised at zero and are added to the main
U-Net's skip connections and middle (ControlNet, Zhang et al. 2023).

On the DiT (``DiTControlBranch``), a branch has its own patch embedding of the frames, a
hint encoder whose patches are added to the noisy frame's tokens, and its own copy of
every k-th transformer block; after each copy a zero-initialised linear layer adds the
branch's tokens to those of the matching main block (Cosmos Transfer's control blocks,
inserted every k-th block of the base DiT). Either way a fresh branch changes nothing.

At inference the residuals of several branches are summed, each scaled by its weight: a
number, or a spatial map ``[N, 1, H, W]`` resized to every level or token grid (Cosmos
Transfer's spatiotemporal control weights).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from worldlab.models.flow.dit import DiTBlock, patches, video_tokens
from worldlab.models.flow.unet import ResBlock


def _zero_conv(channels: int) -> nn.Conv2d:
    conv = nn.Conv2d(channels, channels, 1)
    nn.init.zeros_(conv.weight)
    nn.init.zeros_(conv.bias)
    return conv


class ControlBranch(nn.Module):
    """``(noisy, context, control map, cond) → residuals`` for the U-Net's skips and middle.

    ``every`` = k: only every k-th down block (counting from the first) gets a residual.
    """

    def __init__(
        self,
        control_channels: int,
        image_channels: int,
        context_frames: int,
        channels: list[int],
        blocks: int,
        cond_dims: int,
        every: int = 1,
    ):
        super().__init__()
        self.levels, self.blocks = len(channels), blocks
        self.stem = nn.Conv2d(image_channels * (context_frames + 1), channels[0], 3, padding=1)
        self.hint = nn.Sequential(
            nn.Conv2d(control_channels, 16, 3, padding=1),
            nn.SiLU(),
            nn.Conv2d(16, channels[0], 3, padding=1),
        )
        self.down = nn.ModuleList()
        self.downsample = nn.ModuleList()
        self.out = nn.ModuleDict()
        width, index = channels[0], 0
        for level, out in enumerate(channels):
            for _ in range(blocks):
                self.down.append(ResBlock(width, out, cond_dims))
                width = out
                if index % every == 0:
                    self.out[str(index)] = _zero_conv(width)
                index += 1
            if level < self.levels - 1:
                self.downsample.append(nn.Conv2d(width, width, 3, stride=2, padding=1))
        self.middle = ResBlock(width, width, cond_dims)
        self.middle_out = _zero_conv(width)

    def forward(
        self, noisy: torch.Tensor, context: torch.Tensor, control: torch.Tensor, cond: torch.Tensor
    ) -> tuple[list[torch.Tensor | None], torch.Tensor]:
        x = self.stem(torch.cat([noisy, context.flatten(1, 2)], 1)) + self.hint(control)
        residuals: list[torch.Tensor | None] = []
        blocks, index = iter(self.down), 0
        for level in range(self.levels):
            for _ in range(self.blocks):
                x = next(blocks)(x, cond)
                key = str(index)
                residuals.append(self.out[key](x) if key in self.out else None)
                index += 1
            if level < self.levels - 1:
                x = self.downsample[level](x)
        return residuals, self.middle_out(self.middle(x, cond))


class DiTControlBranch(nn.Module):
    """``(noisy, context, control map, cond) → residuals`` for the DiT's blocks, ``None``
    for those it does not feed, and no middle.

    ``every`` = k: a copy of block 0, k, 2k, … of the main DiT; copy j's tokens are added
    after main block j·k.
    """

    def __init__(
        self,
        control_channels: int,
        image_channels: int,
        patch: int,
        width: int,
        depth: int,
        heads: int,
        cond_dims: int,
        every: int = 1,
    ):
        super().__init__()
        self.patch, self.heads, self.depth = patch, heads, depth
        self.fed = list(range(0, depth, every))
        self.embed = nn.Linear(image_channels * patch * patch, width)
        self.is_target = nn.Parameter(torch.zeros(width))
        self.hint = nn.Sequential(
            nn.Conv2d(control_channels, 16, 3, padding=1),
            nn.SiLU(),
            nn.Conv2d(16, 16, 3, padding=1),
            nn.SiLU(),
        )
        self.hint_embed = nn.Linear(16 * patch * patch, width)
        self.blocks = nn.ModuleList(DiTBlock(width, heads, cond_dims) for _ in self.fed)
        self.out = nn.ModuleList(_zero_linear(width) for _ in self.fed)

    def forward(
        self, noisy: torch.Tensor, context: torch.Tensor, control: torch.Tensor, cond: torch.Tensor
    ) -> tuple[list[torch.Tensor | None], None]:
        frames = context.shape[1] + 1
        rows, cols = noisy.shape[-2] // self.patch, noisy.shape[-1] // self.patch
        tokens, angles = video_tokens(
            self.embed, self.is_target, noisy, context, self.patch, self.heads
        )
        hint = self.hint_embed(patches(self.hint(control)[:, None], self.patch))
        tokens = torch.cat([tokens[:, : -rows * cols], tokens[:, -rows * cols :] + hint], 1)
        residuals: list[torch.Tensor | None] = [None] * self.depth
        for index, block, out in zip(self.fed, self.blocks, self.out, strict=True):
            tokens = block(tokens, cond, angles)
            residuals[index] = out(tokens).unflatten(1, (frames, rows, cols))
        return residuals, None


def _zero_linear(width: int) -> nn.Linear:
    layer = nn.Linear(width, width)
    nn.init.zeros_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


def _scaled(residual: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``residual`` (U-Net ``[N, C, h, w]`` or DiT tokens ``[N, F, rows, cols, width]``) times
    ``weight``: ``[N]`` per sample or an ``[N, 1, H, W]`` map (for the DiT, the same map in
    every frame)."""
    tokens = residual.dim() == 5
    if weight.dim() == 1:
        return residual * weight.to(residual.dtype).reshape(-1, *[1] * (residual.dim() - 1))
    grid = residual.shape[2:4] if tokens else residual.shape[-2:]
    resized = F.interpolate(weight.float(), size=grid, mode="area").to(residual.dtype)
    return residual * (resized[..., None] if tokens else resized)  # [N, 1, rows, cols, 1]


def _add(a: torch.Tensor | None, b: torch.Tensor | None) -> torch.Tensor | None:
    return a if b is None else (b if a is None else a + b)


class ControlNet(nn.Module):
    """One branch per control name (a ``ControlBranch`` for the U-Net, a
    ``DiTControlBranch`` for the DiT); ``forward`` sums their weighted residuals."""

    def __init__(
        self,
        control_channels: dict[str, int],
        branch: type[ControlBranch] | type[DiTControlBranch] = ControlBranch,
        **branch_settings,
    ):
        super().__init__()
        self.branches = nn.ModuleDict(
            {name: branch(ch, **branch_settings) for name, ch in control_channels.items()}
        )

    def forward(
        self,
        noisy: torch.Tensor,
        context: torch.Tensor,
        cond: torch.Tensor,
        controls: dict[str, tuple[torch.Tensor, torch.Tensor]],
    ) -> tuple[list[torch.Tensor | None], torch.Tensor | None]:
        """``controls``: name → ``(map [N, ch, H, W], weight [N] or [N, 1, H, W])``; names
        left out contribute nothing."""
        skips: list[torch.Tensor | None] | None = None
        middle: torch.Tensor | None = None
        for name, (control, weight) in controls.items():
            residuals, mid = self.branches[name](noisy, context, control, cond)
            residuals = [None if r is None else _scaled(r, weight) for r in residuals]
            mid = None if mid is None else _scaled(mid, weight)
            if skips is None:
                skips, middle = residuals, mid
            else:
                skips = [_add(a, b) for a, b in zip(skips, residuals, strict=True)]
                middle = _add(middle, mid)
        return skips or [], middle
