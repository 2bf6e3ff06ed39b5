"""What the denoiser is told besides pixels: flow time, context noise, step size, action,
and optionally a visual style.

Each scalar becomes sinusoidal features (as in DDPM / EDM); the action is a linear
embedding, replaced by a learned "no action" vector where it is dropped (classifier-free
guidance). A style (a skin of a built-in world, for control transfer) is a learned
embedding added to the action's, with its own "no style" vector; so is a hue turn of the
objects' colours (Fourier features of the angle, so 0 and 1 are one hue; below 0 means
"no hue") and a caption's text embedding (a linear map of it; an all-zero embedding means
"no text"). Their sum, through a small MLP, is one vector per sample that every block of
the backbone reads (AdaGN in the U-Net, adaLN in the DiT).
"""

from __future__ import annotations

import math

import torch
from torch import nn

HUE_HARMONICS = 4  # sin and cos of 2πk·hue for k = 1 … 4


def hue_features(hue: torch.Tensor) -> torch.Tensor:
    """``hue [N]`` in turns → ``[N, 2 · HUE_HARMONICS]``, periodic in 1."""
    k = torch.arange(1, HUE_HARMONICS + 1, device=hue.device, dtype=torch.float32)
    angles = 2 * math.pi * hue.float()[:, None] * k[None]
    return torch.cat([angles.sin(), angles.cos()], -1)


def palette_channels(seg_classes: int) -> int:
    """Channels ``palette_map`` appends to a seg control of ``seg_classes`` classes."""
    return seg_classes * 2 * HUE_HARMONICS


def palette_map(seg: torch.Tensor, hue: torch.Tensor | None) -> torch.Tensor:
    """The seg control ``[N, C, H, W]`` (one-hot in [-1, 1]) with a palette map appended:
    each class's indicator times each of the hue's Fourier features, ``[N, C + C·F, H, W]``;
    zero where the hue is unknown (``hue`` < 0 or ``None``: no palette, the unconditional
    half of guidance)."""
    features = torch.zeros(len(seg), 2 * HUE_HARMONICS, device=seg.device)
    if hue is not None:
        hue = hue.to(seg.device)
        features = torch.where(hue[:, None] >= 0, hue_features(hue.clamp(min=0)), features)
    inside = (seg + 1) / 2  # the one-hot as 0 / 1
    palette = inside[:, :, None] * features.to(seg.dtype)[:, None, :, None, None]
    laid = torch.cat([seg, palette.flatten(1, 2)], 1)
    return laid.contiguous(memory_format=torch.channels_last)


def sinusoidal(values: torch.Tensor, dims: int, scale: float = 1000.0) -> torch.Tensor:
    """``values [N]`` (in about [0, 1]) → ``[N, dims]`` sines and cosines of many frequencies."""
    half = dims // 2
    frequencies = torch.exp(
        -math.log(10_000.0) * torch.arange(half, device=values.device, dtype=torch.float32) / half
    )
    angles = values.float()[:, None] * scale * frequencies[None]
    return torch.cat([angles.sin(), angles.cos()], -1)


class Conditioning(nn.Module):
    """``(τ, context noise, step level, action, keep_action) → [N, dims]``."""

    def __init__(
        self,
        dims: int,
        action_dims: int,
        step_levels: int,
        styles: int = 0,
        text_dims: int = 0,
        hue: bool = False,
    ):
        super().__init__()
        self.style = nn.Embedding(styles, dims) if styles else None
        self.no_style = nn.Parameter(torch.zeros(dims)) if styles else None
        self.hue = nn.Linear(2 * HUE_HARMONICS, dims) if hue else None
        self.no_hue = nn.Parameter(torch.zeros(dims)) if hue else None
        # A caption embedding is a unit vector spread over many dimensions; normalising its
        # projection makes it as loud as the other conditions from the first step (without
        # it, a tiny model took hundreds of updates to start reading the text).
        self.text = (
            nn.Sequential(nn.Linear(text_dims, dims), nn.LayerNorm(dims)) if text_dims else None
        )
        self.no_text = nn.Parameter(torch.zeros(dims)) if text_dims else None
        self.dims = dims
        self.step_embedding = nn.Embedding(step_levels + 1, dims)
        self.action = nn.Linear(action_dims, dims) if action_dims else None
        self.no_action = nn.Parameter(torch.zeros(dims))
        self.mlp = nn.Sequential(nn.Linear(3 * dims, dims), nn.SiLU(), nn.Linear(dims, dims))

    def forward(
        self,
        time: torch.Tensor,
        context_noise: torch.Tensor,
        step_level: torch.Tensor,
        action: torch.Tensor,
        keep_action: torch.Tensor,
        style: torch.Tensor | None = None,
        text: torch.Tensor | None = None,
        hue: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``time, context_noise [N]`` floats, ``step_level [N]`` int (k of d = 2^-k),
        ``action [N, A]`` encoded, ``keep_action [N]`` bool, ``style [N]`` int (−1: none),
        ``text [N, D]`` a caption embedding (all zeros: none), ``hue [N]`` turns (< 0: none)."""
        noise = sinusoidal(time, self.dims) + self.step_embedding(step_level)
        if self.action is not None:
            action_vector = self.action(action.to(self.no_action.dtype))
            keep = keep_action[:, None]
            action_vector = torch.where(
                keep, action_vector, self.no_action.expand_as(action_vector)
            )
        else:
            action_vector = self.no_action.expand(len(time), -1)
        if self.style is not None:
            known = style if style is not None else torch.full_like(time, -1, dtype=torch.long)
            vectors = self.style(known.clamp(min=0))
            action_vector = action_vector + torch.where(
                known[:, None] >= 0, vectors, self.no_style.expand_as(vectors)
            )
        if self.hue is not None:
            known = hue if hue is not None else torch.full_like(time, -1.0)
            vectors = self.hue(hue_features(known.clamp(min=0)).to(self.no_hue.dtype))
            action_vector = action_vector + torch.where(
                known[:, None] >= 0, vectors, self.no_hue.expand_as(vectors)
            )
        if self.text is not None:
            given = text if text is not None else self.no_text.new_zeros(len(time), 1)
            vectors = self.text(given.to(self.no_text.dtype)) if text is not None else None
            present = given.abs().sum(-1, keepdim=True) > 0
            fallback = self.no_text.expand(len(time), -1)
            action_vector = action_vector + (
                fallback if vectors is None else torch.where(present, vectors, fallback)
            )
        context = sinusoidal(context_noise, self.dims)
        return self.mlp(torch.cat([noise, context, action_vector], -1))
