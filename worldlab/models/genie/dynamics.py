"""Genie's dynamics model: a decoder-only MaskGIT (Chang et al., 2022) over video tokens.

Input at frame ``t``: the embeddings of its tokens (some replaced by a ``[MASK]`` token) plus
the embedding of the latent action that led to it (additive, as in the paper); a causal
ST-transformer lets frame ``t`` see frames ``< t`` completely and frame ``t`` partly, and
predicts frame ``t``'s masked tokens. Training masks a random share of every frame's tokens
(cross-entropy on the masked ones); imagination starts from a fully masked frame and fills
it in over ``maskgit_steps`` parallel steps, keeping the most confident sampled tokens each
step and masking the rest again on a cosine schedule.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from worldlab.errors import WorldlabError
from worldlab.models.genie.config import GenieConfig
from worldlab.models.genie.transformer import (
    FramePositions,
    STTransformer,
    init_weights,
    segment_positions,
)

MASK_SCHEDULES = ("cosine", "uniform")


def sample_tokens(
    logits: torch.Tensor, temperature: float, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample tokens from ``logits [B, N, K]`` at ``temperature`` (0: most likely);
    return them ``[B, N]`` and their (untempered) probabilities as confidences."""
    probs = logits.float().softmax(-1)
    if temperature <= 0:
        tokens = probs.argmax(-1)
    else:
        tempered = (logits.float() / temperature).softmax(-1)
        flat = torch.multinomial(tempered.reshape(-1, tempered.shape[-1]), 1, generator=generator)
        tokens = flat.reshape(tempered.shape[:-1])
    return tokens, probs.gather(-1, tokens[..., None]).squeeze(-1)


def still_masked(tokens: int, step: int, steps: int) -> int:
    """MaskGIT's cosine schedule: tokens left masked after decoding step ``step`` (0-based)."""
    return math.floor(tokens * math.cos(math.pi / 2 * (step + 1) / steps))


class MaskGITDynamics(nn.Module):
    """Token logits of every frame from masked tokens and latent actions."""

    def __init__(self, config: GenieConfig, tokens_per_frame: int):
        super().__init__()
        if config.mask_schedule not in MASK_SCHEDULES:
            raise WorldlabError(
                f"model.mask_schedule must be one of {', '.join(MASK_SCHEDULES)}, "
                f"got '{config.mask_schedule}'"
            )
        self.config = config
        self.tokens = tokens_per_frame
        self.mask_token = config.codebook_size  # one extra embedding row: MaskGIT's [MASK]
        self.start_action = config.num_latent_actions  # one extra row: "no action led here"
        d = config.dynamics_width
        self.token_embed = nn.Embedding(config.codebook_size + 1, d)
        self.action_embed = nn.Embedding(config.num_latent_actions + 1, d)
        self.positions = FramePositions(tokens_per_frame, config.frames, d)
        self.transformer = STTransformer(
            d, config.dynamics_layers, d // config.head_dim, config.mlp_ratio
        )
        self.head = nn.Linear(d, config.codebook_size)
        init_weights(self)

    def embed(
        self, tokens: torch.Tensor, actions: torch.Tensor, positions: torch.Tensor
    ) -> torch.Tensor:
        """``tokens [B, T, N]`` + ``actions [B, T]`` (the one that led to each frame; ignored
        where a segment starts) at frame ``positions [B, T]`` → ``[B, T, N, D]``."""
        actions = torch.where(positions == 0, self.start_action, actions)
        x = self.token_embed(tokens) + self.action_embed(actions)[:, :, None]
        return self.positions(x, positions)

    def forward(
        self, tokens: torch.Tensor, actions: torch.Tensor, segment: torch.Tensor
    ) -> torch.Tensor:
        """Logits ``[B, T, N, codebook_size]`` of every frame's tokens."""
        x = self.embed(tokens, actions, segment_positions(segment))
        return self.head(self.transformer(x, segment))

    # -- training ------------------------------------------------------------------
    def mask(self, segment: torch.Tensor) -> torch.Tensor:
        """Which tokens to mask ``[B, T, N] bool``: a share per frame drawn from the schedule
        (at least one token); the first frame of each segment is the prompt, never masked."""
        batch, frames = segment.shape
        draw = torch.rand(batch, frames, device=segment.device)
        if self.config.mask_schedule == "cosine":
            rate = torch.cos(math.pi / 2 * draw)
        else:
            rate = self.config.min_mask_rate + (1 - self.config.min_mask_rate) * draw
        count = (rate * self.tokens).ceil().clamp(1, self.tokens)
        ranks = (
            torch.rand(batch, frames, self.tokens, device=segment.device).argsort(-1).argsort(-1)
        )
        return (ranks < count[..., None]) & (segment_positions(segment) > 0)[..., None]

    def loss(
        self, tokens: torch.Tensor, actions: torch.Tensor, segment: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, Any]]:
        """Cross-entropy of the masked tokens of ``tokens [B, T, N]``."""
        masked = self.mask(segment)
        logits = self(tokens.masked_fill(masked, self.mask_token), actions, segment)[masked]
        targets = tokens[masked]
        loss = F.cross_entropy(logits.float(), targets)
        metrics = {
            "dynamics/loss": loss.detach(),
            "dynamics/accuracy": (logits.argmax(-1) == targets).float().mean(),
        }
        return loss, metrics

    # -- imagination ---------------------------------------------------------------
    @torch.no_grad()
    def generate(
        self,
        tokens: torch.Tensor,
        actions: torch.Tensor,
        segment: torch.Tensor,
        action: torch.Tensor,
        steps: int,
        temperature: float,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Tokens ``[B, N]`` of the frame that ``action [B]`` leads to after ``tokens [B, T, N]``
        (with their ``actions [B, T]`` and ``segment [B, T]``), by ``steps`` MaskGIT steps.

        The past frames run through the transformer once; each step then runs only the new
        frame against their cached keys and values (temporal attention is causal).
        """
        if steps < 1:
            raise WorldlabError(f"model.maskgit_steps must be ≥ 1, got {steps}")
        batch = tokens.shape[0]
        window = torch.cat([segment, segment[:, -1:]], 1)  # the new frame continues the last
        positions = segment_positions(window)
        _, cache = self.transformer.run(self.embed(tokens, actions, positions[:, :-1]), segment)
        new = torch.full((batch, self.tokens), self.mask_token, device=tokens.device)
        masked = torch.ones(batch, self.tokens, dtype=torch.bool, device=tokens.device)
        for step in range(steps):
            x = self.embed(new[:, None], action[:, None], positions[:, -1:])
            out, _ = self.transformer.run(x, window[:, -1:], cache, segment)
            sampled, confidence = sample_tokens(self.head(out[:, 0]), temperature, generator)
            sampled = torch.where(masked, sampled, new)
            confidence = confidence.masked_fill(~masked, math.inf)  # decided tokens stay
            left = still_masked(self.tokens, step, steps)
            masked = torch.zeros_like(masked)
            masked.scatter_(1, confidence.argsort(1)[:, :left], True)
            new = sampled.masked_fill(masked, self.mask_token)
        return new
