"""Genie's video tokenizer (ST-ViViT): a VQ-VAE over patches with ST-transformers.

patches → linear embedding → causal ST-transformer encoder → VQ codebook → ST-transformer
decoder → linear unembedding → pixels. The temporal attention is causal, so the tokens of
frame ``t`` carry information from frames ``≤ t`` (paper, Section 2.1, "Video Tokenizer").
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from worldlab.models.genie.config import GenieConfig
from worldlab.models.genie.patches import patchify, psnr, unpatchify
from worldlab.models.genie.quantizer import VectorQuantizer
from worldlab.models.genie.transformer import (
    FramePositions,
    STTransformer,
    init_weights,
    segment_positions,
)


class VideoTokenizer(nn.Module):
    """Frames ``[B, T, H, W, C]`` in ``[0, 1]`` ↔ tokens ``[B, T, N] int64``."""

    def __init__(self, config: GenieConfig, obs_shape: tuple[int, int, int]):
        super().__init__()
        height, width, channels = obs_shape
        self.obs_shape, self.patch = obs_shape, config.patch
        self.grid = (height // config.patch, width // config.patch)
        self.tokens = self.grid[0] * self.grid[1]
        patch_values = config.patch * config.patch * channels
        d, heads = config.tokenizer_width, config.tokenizer_width // config.head_dim
        self.embed = nn.Linear(patch_values, d)
        self.encoder_positions = FramePositions(self.tokens, config.frames, d)
        self.encoder = STTransformer(d, config.tokenizer_encoder_layers, heads, config.mlp_ratio)
        self.to_code = nn.Linear(d, config.code_dim)
        self.quantizer = VectorQuantizer(
            config.codebook_size, config.code_dim, config.commitment, config.dead_code_steps
        )
        self.from_code = nn.Linear(config.code_dim, d)
        self.decoder_positions = FramePositions(self.tokens, config.frames, d)
        self.decoder = STTransformer(d, config.tokenizer_decoder_layers, heads, config.mlp_ratio)
        self.unembed = nn.Linear(d, patch_values)
        init_weights(self)

    def encode(self, pixels: torch.Tensor, segment: torch.Tensor) -> torch.Tensor:
        """Continuous encoder outputs ``[B, T, N, code_dim]`` (before quantisation)."""
        x = self.embed(patchify(pixels, self.patch))
        x = self.encoder(self.encoder_positions(x, segment_positions(segment)), segment)
        return self.to_code(x)

    def tokenize(self, pixels: torch.Tensor, segment: torch.Tensor) -> torch.Tensor:
        """Token indices ``[B, T, N] int64`` of ``pixels [B, T, H, W, C]``."""
        return self.quantizer.nearest(self.encode(pixels, segment))

    def decode(self, tokens: torch.Tensor, segment: torch.Tensor) -> torch.Tensor:
        """Frames ``[B, T, H, W, C]`` (float, about ``[0, 1]``) of ``tokens [B, T, N]``."""
        return self.decode_vectors(self.quantizer.lookup(tokens), segment)

    def decode_vectors(self, codes: torch.Tensor, segment: torch.Tensor) -> torch.Tensor:
        x = self.from_code(codes)
        x = self.decoder(self.decoder_positions(x, segment_positions(segment)), segment)
        return unpatchify(self.unembed(x), self.patch, self.obs_shape)

    def loss(
        self, pixels: torch.Tensor, segment: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, Any], torch.Tensor]:
        """VQ-VAE objective per frame (squared error summed over pixels, codebook and
        commitment losses summed over its tokens), divided by the pixel values of a frame;
        returns the tokens too."""
        quantized = self.quantizer(self.encode(pixels, segment))
        reconstruction = self.decode_vectors(quantized.vectors, segment)
        reconstruction_loss = F.mse_loss(reconstruction.float(), pixels)
        metrics = {
            "tokenizer/reconstruction": reconstruction_loss.detach(),
            "tokenizer/psnr": psnr(reconstruction, pixels),
            "tokenizer/perplexity": quantized.perplexity,
            "tokenizer/usage": quantized.usage,
        }
        vq_weight = self.tokens / pixels[0, 0].numel()
        return reconstruction_loss + vq_weight * quantized.loss, metrics, quantized.indices
