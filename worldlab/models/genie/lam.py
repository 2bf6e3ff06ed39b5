"""Genie's latent action model (LAM): learns a small discrete action space from video alone.

Encoder: frames ``x_1..x_T`` as patches plus one *action query* token per frame, through a
causal ST-transformer; the query's output at frame ``t+1`` has seen ``x_1..x_{t+1}`` and is
quantised to one of ``num_latent_actions`` codes: the latent action ``a_t`` that led to
``x_{t+1}``. Decoder: frames ``x_1..x_t`` with ``a_t`` added to the tokens of frame ``t``
(an additive embedding, as the paper found best), through a causal ST-transformer, predicts
the pixels of ``x_{t+1}``. With only a few codes, a code must capture what changed that the
past cannot explain: the action (paper, Section 2.1, "Latent Action Model").
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from worldlab.models.genie.config import GenieConfig
from worldlab.models.genie.patches import patchify, psnr, unpatchify
from worldlab.models.genie.quantizer import Quantized, VectorQuantizer
from worldlab.models.genie.transformer import (
    FramePositions,
    STTransformer,
    init_weights,
    segment_positions,
)


class LatentActionModel(nn.Module):
    """Latent actions ``[B, T] int64`` from frames ``[B, T, H, W, C]`` in ``[0, 1]``."""

    def __init__(self, config: GenieConfig, obs_shape: tuple[int, int, int]):
        super().__init__()
        height, width, channels = obs_shape
        self.obs_shape, self.patch = obs_shape, config.lam_patch
        tokens = (height // config.lam_patch) * (width // config.lam_patch)
        patch_values = config.lam_patch * config.lam_patch * channels
        d, heads = config.lam_width, config.lam_width // config.head_dim
        self.embed = nn.Linear(patch_values, d)
        self.action_query = nn.Parameter(torch.randn(d) * 0.02)
        self.encoder_positions = FramePositions(tokens + 1, config.frames, d)
        self.encoder = STTransformer(d, config.lam_layers, heads, config.mlp_ratio)
        self.to_code = nn.Linear(d, config.lam_code_dim)
        self.quantizer = VectorQuantizer(
            config.num_latent_actions,
            config.lam_code_dim,
            config.commitment,
            config.dead_code_steps,
        )
        self.decoder_embed = nn.Linear(patch_values, d)
        self.action_embed = nn.Linear(config.lam_code_dim, d)
        self.decoder_positions = FramePositions(tokens, config.frames, d)
        self.decoder = STTransformer(d, config.lam_layers, heads, config.mlp_ratio)
        self.unembed = nn.Linear(d, patch_values)
        init_weights(self)

    def encode(self, pixels: torch.Tensor, segment: torch.Tensor) -> torch.Tensor:
        """Continuous latent actions ``[B, T, lam_code_dim]``; index ``t`` is the action that
        led to frame ``t`` (index 0 and segment starts have no transition and mean nothing)."""
        patches = self.embed(patchify(pixels, self.patch))
        query = self.action_query.expand(*patches.shape[:2], 1, -1)
        x = torch.cat([query, patches], 2)
        x = self.encoder(self.encoder_positions(x, segment_positions(segment)), segment)
        return self.to_code(x[:, :, 0])

    def infer(self, pixels: torch.Tensor, segment: torch.Tensor) -> torch.Tensor:
        """Latent action codes ``[B, T] int64``; 0 where a frame starts a segment."""
        codes = self.quantizer.nearest(self.encode(pixels, segment))
        return codes.masked_fill(segment_positions(segment) == 0, 0)

    def decode(self, pixels: torch.Tensor, transitions: torch.Tensor, segment: torch.Tensor):
        """Predict frames ``1..T-1`` from ``pixels[:, :-1]`` and ``transitions [B, T-1,
        code_dim]`` (the action from frame ``t`` to ``t+1``) → ``[B, T-1, H, W, C]``."""
        x = self.decoder_embed(patchify(pixels[:, :-1], self.patch))
        x = x + self.action_embed(transitions)[:, :, None]
        history = segment[:, :-1]
        x = self.decoder(self.decoder_positions(x, segment_positions(history)), history)
        return unpatchify(self.unembed(x), self.patch, self.obs_shape)

    def loss(
        self, pixels: torch.Tensor, segment: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, Any], torch.Tensor]:
        """VQ-VAE objective per transition within a segment (next-frame squared error summed
        over pixels + the code's VQ loss), divided by the pixel values of a frame; returns
        the codes ``[B, T]`` (as ``infer``).

        Weighing the one code against a whole frame's pixels, as VQ-VAE's likelihood does,
        matters here: with a per-pixel mean, the commitment loss outweighs the small pixel
        change an action explains and pulls every transition onto a single code.
        """
        within = segment[:, 1:] == segment[:, :-1]  # transitions that do not cross episodes
        encoded = self.encode(pixels, segment)[:, 1:]
        quantized: Quantized = self.quantizer(encoded[within])
        transitions = encoded.new_zeros(encoded.shape).masked_scatter(
            within[..., None], quantized.vectors
        )
        prediction = self.decode(pixels, transitions, segment)[within]
        target = pixels[:, 1:][within]
        prediction_loss = F.mse_loss(prediction.float(), target)
        codes = torch.zeros_like(segment)
        codes[:, 1:] = codes[:, 1:].masked_scatter(within, quantized.indices)
        metrics = {
            "lam/prediction": prediction_loss.detach(),
            "lam/psnr": psnr(prediction, target),
            "lam/perplexity": quantized.perplexity,
            "lam/usage": quantized.usage,
        }
        return prediction_loss + quantized.loss / pixels[0, 0].numel(), metrics, codes
