"""Genie's latent action model (LAM): learns a small discrete action space from video alone.

Encoder: each frame's patches, beside their change since the previous frame, through a
causal ST-transformer; the mean output of frame ``t+1`` has seen ``x_1..x_{t+1}`` and is
quantised to one of ``num_latent_actions`` codes: the latent action ``a_t`` that led to
``x_{t+1}``. Decoder: frame ``x_t`` (the paper: ``x_1..x_t``, ``lam_decoder_sees_history``)
with ``a_t`` added to its tokens (an additive embedding, as the paper found best), through
an ST-transformer, predicts ``x_{t+1}`` as ``x_t`` moved by a predicted flow plus a
correction (the paper: its pixels outright, ``lam_decoder_output="frame"``). With only a
few codes, a code must capture what changed that one frame cannot explain: the action
(paper, Section 2.1, "Latent Action Model"). Why we depart from the paper: docs/genie.md.
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


def warp(frames: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """``frames [B, T, H, W, C]`` moved by ``flow [B, T, N, 2]`` (pixels per patch token,
    (x, y); smoothed over the frame): each output pixel reads its frame at ``p - flow(p)``."""
    batch, steps, height, width, channels = frames.shape
    rows = int(round((flow.shape[2] * height / width) ** 0.5))
    flow = flow.reshape(batch * steps, rows, -1, 2).permute(0, 3, 1, 2)
    flow = F.interpolate(flow, size=(height, width), mode="bilinear", align_corners=False)
    ys = torch.linspace(-1 + 1 / height, 1 - 1 / height, height, device=frames.device)
    xs = torch.linspace(-1 + 1 / width, 1 - 1 / width, width, device=frames.device)
    base = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), -1)  # [H, W, 2] as (x, y)
    scale = torch.tensor([2 / width, 2 / height], device=frames.device)
    grid = base - flow.permute(0, 2, 3, 1) * scale
    images = frames.reshape(batch * steps, height, width, channels).permute(0, 3, 1, 2)
    moved = F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return moved.permute(0, 2, 3, 1).reshape(frames.shape)


# Frame differences are a few hundredths of a pixel value: scaled up so that, from the first
# step, the encoder's output varies with what moved rather than with what the frame shows.
CHANGE_GAIN = 10.0


class LatentActionModel(nn.Module):
    """Latent actions ``[B, T] int64`` from frames ``[B, T, H, W, C]`` in ``[0, 1]``."""

    def __init__(self, config: GenieConfig, obs_shape: tuple[int, int, int]):
        super().__init__()
        height, width, channels = obs_shape
        self.obs_shape, self.patch = obs_shape, config.lam_patch
        self.decoder_output = config.lam_decoder_output
        self.decoder_sees_history = config.lam_decoder_sees_history
        self.continuous_share = config.lam_continuous_share
        tokens = (height // config.lam_patch) * (width // config.lam_patch)
        patch_values = config.lam_patch * config.lam_patch * channels
        d, heads = config.lam_width, config.lam_width // config.head_dim
        self.embed = nn.Linear(2 * patch_values, d)  # a frame's patch and its change
        # Positions within a frame only: frame indices would let codes name the position of
        # a transition in its window instead of what happened (they did, on the platformer).
        self.encoder_positions = nn.Parameter(torch.randn(tokens, d) * 0.02)
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
        self.to_flow = nn.Linear(d, 2)
        init_weights(self)
        nn.init.zeros_(self.to_flow.weight)  # no motion at first: the last frame, unchanged

    def encode(self, pixels: torch.Tensor, segment: torch.Tensor) -> torch.Tensor:
        """Continuous latent actions ``[B, T, lam_code_dim]``; index ``t`` is the action that
        led to frame ``t`` (index 0 and segment starts have no transition and mean nothing).

        Each patch of frame ``t`` is read with its change since frame ``t - 1``; the action is
        the mean of frame ``t``'s outputs, so it depends on what changed, not on where the
        transition sits in the window.
        """
        patches = patchify(pixels, self.patch)
        change = torch.zeros_like(patches)
        change[:, 1:] = patches[:, 1:] - patches[:, :-1]
        starts = segment_positions(segment) == 0
        change = change.masked_fill(starts[..., None, None], 0)
        x = self.embed(torch.cat([patches, CHANGE_GAIN * change], -1)) + self.encoder_positions
        return self.to_code(self.encoder(x, segment).mean(2))

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
        if not self.decoder_sees_history:  # each frame its own segment: x_t alone
            history = torch.arange(history.shape[1], device=history.device).expand_as(history)
        x = self.decoder(self.decoder_positions(x, segment_positions(history)), history)
        pixels_out = unpatchify(self.unembed(x), self.patch, self.obs_shape)
        if self.decoder_output == "frame":
            return pixels_out
        last = pixels[:, :-1]
        if self.decoder_output == "warp":
            last = warp(last, self.to_flow(x))
        return last + pixels_out  # a correction of the (moved) last frame

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
        vectors = quantized.vectors
        # Some transitions skip quantisation, so the decoder can learn to read the encoder
        # before the codebook has spread out (no clear effect at 500 steps: docs/genie.md).
        if self.training and self.continuous_share > 0:
            continuous = torch.rand(len(vectors), 1, device=vectors.device) < self.continuous_share
            unit = F.normalize(encoded[within].float(), dim=-1).to(vectors.dtype)
            vectors = torch.where(continuous, unit, vectors)
        transitions = encoded.new_zeros(encoded.shape).masked_scatter(within[..., None], vectors)
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
