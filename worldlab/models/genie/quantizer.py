"""Vector quantisation (VQ-VAE, van den Oord et al., 2017) for the tokenizer and the LAM.

Codes are compared after l2 normalisation (as in ViT-VQGAN), gradients pass straight through
the lookup, and the encoder is pulled toward its code by a commitment loss. Codes that no
input picked for ``dead_after`` training steps are *restarted*: re-initialised from encoder
outputs of the current batch, so the codebook keeps being used instead of collapsing.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F


@dataclass
class Quantized:
    """What a quantiser returns: ``vectors [..., dim]`` (straight-through), ``indices [...]``,
    the codebook + commitment ``loss`` (per vector) and codebook statistics of this batch."""

    vectors: torch.Tensor
    indices: torch.Tensor
    loss: torch.Tensor
    perplexity: torch.Tensor
    usage: torch.Tensor  # fraction of the codebook used in this batch


class VectorQuantizer(nn.Module):
    """``codes`` codes of ``dim`` dimensions, with straight-through gradients and restarts."""

    def __init__(self, codes: int, dim: int, commitment: float = 0.25, dead_after: int = 100):
        super().__init__()
        self.codebook = nn.Parameter(torch.randn(codes, dim))
        self.commitment = commitment
        self.dead_after = dead_after
        # Training steps since each code was last picked (a buffer: saved and restored).
        self.register_buffer("idle_steps", torch.zeros(codes, dtype=torch.long))

    @property
    def codes(self) -> int:
        return len(self.codebook)

    def lookup(self, indices: torch.Tensor) -> torch.Tensor:
        """Code vectors ``[..., dim]`` (unit length) of ``indices [...]``."""
        return F.normalize(self.codebook, dim=-1)[indices]

    def nearest(self, vectors: torch.Tensor) -> torch.Tensor:
        """Index of the nearest code (cosine similarity) of each ``vectors [..., dim]``."""
        return (F.normalize(vectors, dim=-1) @ F.normalize(self.codebook, dim=-1).T).argmax(-1)

    def forward(self, vectors: torch.Tensor) -> Quantized:
        flat = F.normalize(vectors.reshape(-1, vectors.shape[-1]).float(), dim=-1)
        if self.training and self.dead_after > 0:
            self.restart_dead_codes(flat.detach())
        codebook = F.normalize(self.codebook, dim=-1)
        indices = (flat @ codebook.T).argmax(-1)
        chosen = codebook[indices]
        # Codebook loss moves codes to the encoder outputs; commitment loss the other way.
        # Summed over a vector's dimensions, averaged over vectors.
        codebook_loss = (chosen - flat.detach()).square().sum(-1).mean()
        commitment_loss = (flat - chosen.detach()).square().sum(-1).mean()
        loss = codebook_loss + self.commitment * commitment_loss
        straight_through = flat + (chosen - flat).detach()
        counts = torch.bincount(indices, minlength=self.codes).float()
        if self.training:
            with torch.no_grad():
                self.idle_steps.add_(1).masked_fill_(counts > 0, 0)
        probs = counts / counts.sum().clamp(min=1)
        perplexity = torch.exp(-(probs * probs.clamp(min=1e-10).log()).sum())
        return Quantized(
            vectors=straight_through.reshape(vectors.shape).to(vectors.dtype),
            indices=indices.reshape(vectors.shape[:-1]),
            loss=loss,
            perplexity=perplexity.detach(),
            usage=(counts > 0).float().mean(),
        )

    @torch.no_grad()
    def restart_dead_codes(self, recent: torch.Tensor) -> int:
        """Re-initialise codes idle for ``dead_after`` steps from random rows of ``recent
        [M, dim]`` (encoder outputs); returns how many codes were restarted.

        Runs before the codebook enters this step's graph, so no gradient sees the change.
        """
        dead = (self.idle_steps >= self.dead_after).nonzero().squeeze(1)
        if len(dead) == 0 or len(recent) == 0:
            return 0
        rows = torch.randint(0, len(recent), (len(dead),), device=recent.device)
        self.codebook.data[dead] = recent[rows].to(self.codebook.dtype)
        self.idle_steps[dead] = 0
        return len(dead)
