"""Reward, continuation and agent features of the ``flow`` family, read from frames.

A small CNN reads the last two frames (motion is visible in a pair); its output is what
agents read (``features``), and with the action it predicts the reward (symlog two-hot, as
DreamerV3) and whether the episode goes on.
"""

from __future__ import annotations

import torch
from torch import nn

from worldlab.models.blocks import TwoHot, mlp


class FramePairHeads(nn.Module):
    def __init__(
        self, channels: int, size: tuple[int, int], action_dims: int, dims: int, bins: int
    ):
        super().__init__()
        layers, width, side = [], 2 * channels, min(size)
        depth = 16
        while side > 4:
            layers += [nn.Conv2d(width, depth, 4, stride=2, padding=1), nn.SiLU()]
            width, depth, side = depth, depth * 2, side // 2
        self.encoder = nn.Sequential(
            *layers,
            nn.AdaptiveAvgPool2d(4),
            nn.Flatten(),
            nn.Linear(width * 16, dims),
            nn.LayerNorm(dims),
            nn.SiLU(),
        )
        self.dims = dims
        self.reward = mlp(dims + action_dims, dims, 1, bins, zero_last=True)
        self.continues = mlp(dims + action_dims, dims, 1, 1)
        self.two_hot = TwoHot(bins)

    def features(self, previous: torch.Tensor, current: torch.Tensor) -> torch.Tensor:
        """``previous, current [N, C, H, W]`` in [-1, 1] → ``[N, dims]``."""
        return self.encoder(torch.cat([previous, current], 1))

    def predict(self, features: torch.Tensor, action: torch.Tensor):
        """``(reward logits [N, bins], continue logit [N])``."""
        inputs = torch.cat([features, action.to(features.dtype)], -1)
        return self.reward(inputs), self.continues(inputs).squeeze(-1)
