"""Building blocks shared by families: normalised layers, symlog, two-hot, images ↔ tensors."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def symlog(x: torch.Tensor) -> torch.Tensor:
    return torch.sign(x) * torch.log1p(x.abs())


def symexp(x: torch.Tensor) -> torch.Tensor:
    return torch.sign(x) * torch.expm1(x.abs())


def frames_to_input(obs: torch.Tensor) -> torch.Tensor:
    """``[..., H, W, C] uint8`` → ``[N, C, H, W]`` float in ``[-0.5, 0.5]``, channels-last."""
    height, width, channels = obs.shape[-3:]
    images = obs.reshape(-1, height, width, channels).permute(0, 3, 1, 2)
    return (images.float() / 255.0 - 0.5).contiguous(memory_format=torch.channels_last)


def output_to_frames(images: torch.Tensor) -> torch.Tensor:
    """``[N, C, H, W]`` float in ``[-0.5, 0.5]`` → ``[N, H, W, C] uint8``."""
    return ((images.float() + 0.5).clamp(0, 1) * 255 + 0.5).to(torch.uint8).permute(0, 2, 3, 1)


class ChannelNorm(nn.Module):
    """LayerNorm over the channels of a ``[N, C, H, W]`` map (DreamerV3 normalises this way)."""

    def __init__(self, channels: int, eps: float = 1e-3):
        super().__init__()
        self.norm = nn.LayerNorm(channels, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class DenseBlock(nn.Sequential):
    """Linear (no bias) → LayerNorm → SiLU: DreamerV3's unit of every MLP."""

    def __init__(self, inputs: int, outputs: int):
        super().__init__(
            nn.Linear(inputs, outputs, bias=False), nn.LayerNorm(outputs, eps=1e-3), nn.SiLU()
        )


def mlp(inputs: int, hidden: int, layers: int, outputs: int, zero_last: bool = False) -> nn.Module:
    """``layers`` dense blocks of width ``hidden`` then a linear output layer."""
    blocks: list[nn.Module] = []
    for index in range(layers):
        blocks.append(DenseBlock(inputs if index == 0 else hidden, hidden))
    head = nn.Linear(hidden if layers else inputs, outputs)
    if zero_last:
        # DreamerV3 zero-initialises reward and value outputs so early predictions are 0.
        nn.init.zeros_(head.weight)
        nn.init.zeros_(head.bias)
    return nn.Sequential(*blocks, head)


class TwoHot(nn.Module):
    """Symlog two-hot regression (DreamerV3): a categorical over fixed bins in symlog space.

    ``loss(logits, target)`` is the cross-entropy against the two-hot encoding of
    ``symlog(target)``; ``mean(logits)`` decodes the expected value back with symexp.
    """

    def __init__(self, bins: int = 255, low: float = -20.0, high: float = 20.0):
        super().__init__()
        self.register_buffer("bins", torch.linspace(low, high, bins), persistent=False)

    def mean(self, logits: torch.Tensor) -> torch.Tensor:
        return symexp((logits.softmax(-1) * self.bins).sum(-1))

    def loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Per-element negative log-likelihood, shape of ``target``."""
        x = symlog(target.float()).clamp(self.bins[0], self.bins[-1])
        upper = torch.searchsorted(self.bins, x.contiguous(), right=True).clamp(
            1, len(self.bins) - 1
        )
        lower = upper - 1
        low_value, high_value = self.bins[lower], self.bins[upper]
        weight_high = ((x - low_value) / (high_value - low_value)).clamp(0, 1)
        log_probs = F.log_softmax(logits.float(), -1)
        picked_low = log_probs.gather(-1, lower.unsqueeze(-1)).squeeze(-1)
        picked_high = log_probs.gather(-1, upper.unsqueeze(-1)).squeeze(-1)
        return -((1 - weight_high) * picked_low + weight_high * picked_high)
