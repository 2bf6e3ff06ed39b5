"""Genie's ST-transformer: spatial attention within a frame, causal temporal attention across
frames, then a feed-forward layer (Bruce et al., 2024, Figure 4).

Activations are ``[B, T, N, D]``: batch, frames, tokens per frame, width. Spatial attention
mixes the ``N`` tokens of one frame; temporal attention mixes the same token position across
frames ``≤ t``, so memory grows linearly with the number of frames (no full space-time
attention). Queries and keys are RMS-normalised per head (QK-norm).

Frames carry a *segment* id ``[B, T] int64``: a frame attends only to earlier frames of its
own segment, so a window that runs across an episode boundary (``is_first``) never mixes
two episodes, and a state buffer's empty slots (segment ``-1``) stay apart from real frames.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from worldlab.errors import WorldlabError

KeyValue = tuple[torch.Tensor, torch.Tensor]


def segments_from_is_first(is_first: torch.Tensor) -> torch.Tensor:
    """``is_first [B, T] bool`` → segment ids ``[B, T] int64`` (0, 1, ...); frame 0 starts one."""
    starts = is_first.bool().clone()
    starts[:, 0] = True
    return starts.long().cumsum(1) - 1


def segment_positions(segment: torch.Tensor) -> torch.Tensor:
    """Index of each frame within its segment: ``[B, T] int64`` (0 at every segment start)."""
    steps = torch.arange(segment.shape[1], device=segment.device).expand_as(segment)
    starts = torch.ones_like(segment, dtype=torch.bool)
    starts[:, 1:] = segment[:, 1:] != segment[:, :-1]
    return steps - torch.where(starts, steps, 0).cummax(1).values


def temporal_mask(query_segment: torch.Tensor, key_segment: torch.Tensor) -> torch.Tensor:
    """Which key frames each query frame may attend to: ``[B, 1, Tq, Tk] bool``.

    Queries are the last ``Tq`` of the ``Tk`` key frames; a query sees keys at or before its
    own frame that belong to its segment (always including itself).
    """
    queries, keys = query_segment.shape[1], key_segment.shape[1]
    query_index = torch.arange(keys - queries, keys, device=key_segment.device)
    causal = torch.arange(keys, device=key_segment.device)[None, :] <= query_index[:, None]
    same = query_segment[:, :, None] == key_segment[:, None, :]
    return (causal & same)[:, None]


class Attention(nn.Module):
    """Multi-head self-attention with QK-norm (RMSNorm of each head's queries and keys)."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        if width % heads:
            raise WorldlabError(f"transformer width {width} is not divisible by {heads} heads")
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width, bias=False)
        self.query_norm = nn.RMSNorm(width // heads)
        self.key_norm = nn.RMSNorm(width // heads)
        self.out = nn.Linear(width, width)

    def project(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``[S, L, D]`` → queries, keys, values ``[S, heads, L, D / heads]``."""
        batch, length, _ = x.shape
        q, k, v = self.qkv(x).reshape(batch, length, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        return self.query_norm(q), self.key_norm(k), v

    def merge(self, x: torch.Tensor) -> torch.Tensor:
        """``[S, heads, L, d]`` → ``[S, L, D]`` through the output projection."""
        return self.out(x.transpose(1, 2).flatten(2))


class SpatialAttention(Attention):
    """Attention over the ``N`` tokens of each frame (no mask)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, frames, tokens, width = x.shape
        q, k, v = self.project(x.reshape(batch * frames, tokens, width))
        out = F.scaled_dot_product_attention(q, k, v)
        return self.merge(out).reshape(batch, frames, tokens, width)


class TemporalAttention(Attention):
    """Causal attention over frames, per token position; can continue from cached keys/values."""

    def forward(
        self,
        x: torch.Tensor,
        segment: torch.Tensor | None = None,
        past: KeyValue | None = None,
        past_segment: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, KeyValue]:
        """``x [B, T, N, D]`` (the frames after ``past``'s) → output and this layer's keys/values
        ``[B·N, heads, T_past + T, d]`` (for ``past`` of a later call)."""
        batch, frames, tokens, width = x.shape
        rows = x.transpose(1, 2).reshape(batch * tokens, frames, width)
        q, k, v = self.project(rows)
        if past is not None:
            k, v = torch.cat([past[0], k], 2), torch.cat([past[1], v], 2)
        if segment is None and past is None:
            out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            if segment is None:
                raise WorldlabError("temporal attention with a cache needs the frames' segments")
            keys = segment if past_segment is None else torch.cat([past_segment, segment], 1)
            mask = temporal_mask(segment, keys).repeat_interleave(tokens, 0)
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        out = self.merge(out).reshape(batch, tokens, frames, width).transpose(1, 2)
        return out, (k, v)


class STBlock(nn.Module):
    """Spatial attention → temporal attention → feed-forward, each pre-normed and residual."""

    def __init__(self, width: int, heads: int, mlp_ratio: int = 4):
        super().__init__()
        self.spatial_norm = nn.LayerNorm(width)
        self.spatial = SpatialAttention(width, heads)
        self.temporal_norm = nn.LayerNorm(width)
        self.temporal = TemporalAttention(width, heads)
        self.mlp_norm = nn.LayerNorm(width)
        self.mlp = nn.Sequential(
            nn.Linear(width, mlp_ratio * width), nn.GELU(), nn.Linear(mlp_ratio * width, width)
        )

    def forward(
        self,
        x: torch.Tensor,
        segment: torch.Tensor | None = None,
        past: KeyValue | None = None,
        past_segment: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, KeyValue]:
        x = x + self.spatial(self.spatial_norm(x))
        temporal, cache = self.temporal(self.temporal_norm(x), segment, past, past_segment)
        x = x + temporal
        return x + self.mlp(self.mlp_norm(x)), cache


class STTransformer(nn.Module):
    """A stack of ``STBlock``s with a final LayerNorm: ``[B, T, N, D]`` → ``[B, T, N, D]``."""

    def __init__(self, width: int, layers: int, heads: int, mlp_ratio: int = 4):
        super().__init__()
        self.blocks = nn.ModuleList(STBlock(width, heads, mlp_ratio) for _ in range(layers))
        self.norm = nn.LayerNorm(width)

    def forward(self, x: torch.Tensor, segment: torch.Tensor | None = None) -> torch.Tensor:
        """All frames at once; ``segment [B, T]`` (None: one segment, plain causal mask)."""
        return self.run(x, segment)[0]

    def run(
        self,
        x: torch.Tensor,
        segment: torch.Tensor | None = None,
        past: list[KeyValue] | None = None,
        past_segment: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, list[KeyValue]]:
        """Frames ``x`` that follow the frames cached in ``past`` (one key/value pair per
        block, from an earlier ``run``); returns the output and the extended cache.

        Temporal attention is causal, so the cached frames' activations never depend on
        later frames: running frames one call at a time equals running them together.
        """
        caches = []
        for index, block in enumerate(self.blocks):
            x, cache = block(x, segment, None if past is None else past[index], past_segment)
            caches.append(cache)
        return self.norm(x), caches


class FramePositions(nn.Module):
    """Learned positions: one per token of a frame plus one per frame index of a segment."""

    def __init__(self, tokens: int, frames: int, width: int):
        super().__init__()
        self.spatial = nn.Parameter(torch.randn(tokens, width) * 0.02)
        self.temporal = nn.Parameter(torch.randn(frames, width) * 0.02)

    def forward(self, x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """``x [B, T, N, D]`` plus the embeddings of ``positions [B, T]`` (frame indices)."""
        frames = len(self.temporal)
        if positions.numel() and int(positions.max()) >= frames:
            raise WorldlabError(
                f"genie attends over at most {frames} frames (model.frames); got a window "
                f"of {int(positions.max()) + 1}"
            )
        return x + self.spatial + self.temporal[positions][:, :, None]


def init_weights(module: nn.Module) -> None:
    """Transformer initialisation: normal(0, 0.02) weights, zero biases."""
    for layer in module.modules():
        if isinstance(layer, (nn.Linear, nn.Embedding)):
            nn.init.normal_(layer.weight, std=0.02)
            if getattr(layer, "bias", None) is not None:
                nn.init.zeros_(layer.bias)
