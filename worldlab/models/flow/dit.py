"""A diffusion transformer (DiT) denoiser with 3-D rotary positions (Cosmos Predict's design).

Each of the K context frames and the noisy next frame is cut into ``patch × patch`` patches;
all their tokens attend to each other. Positions enter only as rotations of queries and
keys along (time, row, column), so the same weights run on other frame sizes and context
lengths. Blocks read the conditioning vector through adaLN-zero (DiT): a shift, scale and
gate per block, the gates initialised to zero so every block starts as the identity.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def rope_angles(times: int, rows: int, cols: int, head_dims: int, device) -> torch.Tensor:
    """Rotation angles ``[times·rows·cols, head_dims / 2]`` for tokens in (t, row, col) order."""
    pairs = head_dims // 2
    split = [pairs - 2 * (pairs // 3), pairs // 3, pairs // 3]  # time, row, column
    grid = (
        torch.stack(
            torch.meshgrid(
                torch.arange(times, device=device),
                torch.arange(rows, device=device),
                torch.arange(cols, device=device),
                indexing="ij",
            ),
            -1,
        )
        .reshape(-1, 3)
        .float()
    )
    angles = []
    for axis, size in enumerate(split):
        frequencies = 10_000.0 ** (-torch.arange(size, device=device).float() / max(size, 1))
        angles.append(grid[:, axis : axis + 1] * frequencies[None])
    return torch.cat(angles, -1)


def rotate(x: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
    """Rotate pairs of ``x [N, heads, L, head_dims]`` by ``angles [L, head_dims / 2]``."""
    pairs = x.float().unflatten(-1, (-1, 2))
    cos, sin = angles.cos(), angles.sin()
    first, second = pairs[..., 0], pairs[..., 1]
    rotated = torch.stack([first * cos - second * sin, first * sin + second * cos], -1)
    return rotated.flatten(-2).to(x.dtype)


class DiTBlock(nn.Module):
    def __init__(self, width: int, heads: int, cond_dims: int):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.norm2 = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.mlp = nn.Sequential(
            nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width)
        )
        self.modulation = nn.Linear(cond_dims, 6 * width)
        nn.init.zeros_(self.modulation.weight)
        nn.init.zeros_(self.modulation.bias)

    def forward(self, x: torch.Tensor, cond: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
        shift1, scale1, gate1, shift2, scale2, gate2 = self.modulation(cond)[:, None].chunk(6, -1)
        h = self.norm1(x) * (1 + scale1) + shift1
        q, k, v = self.qkv(h).unflatten(-1, (3, self.heads, -1)).permute(2, 0, 3, 1, 4)
        attended = F.scaled_dot_product_attention(rotate(q, angles), rotate(k, angles), v)
        x = x + gate1 * self.proj(attended.transpose(1, 2).flatten(2))
        h = self.norm2(x) * (1 + scale2) + shift2
        return x + gate2 * self.mlp(h)


def patches(frames: torch.Tensor, patch: int) -> torch.Tensor:
    """``[N, F, C, H, W]`` → ``[N, F·rows·cols, C·patch·patch]``, in (t, row, col) order."""
    rows, cols = frames.shape[-2] // patch, frames.shape[-1] // patch
    cut = frames.unflatten(3, (rows, patch)).unflatten(5, (cols, patch))  # N F C r p c p
    return cut.permute(0, 1, 3, 5, 2, 4, 6).flatten(4).flatten(1, 3)


def video_tokens(
    embed: nn.Linear,
    is_target: torch.Tensor,
    noisy: torch.Tensor,
    context: torch.Tensor,
    patch: int,
    heads: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The tokens of the context frames and the noisy one (last, marked by ``is_target``),
    and their rotary angles."""
    video = torch.cat([context, noisy[:, None]], 1)  # [N, F, C, H, W], the noisy frame last
    tokens = embed(patches(video, patch))
    rows, cols = noisy.shape[-2] // patch, noisy.shape[-1] // patch
    target = torch.arange(tokens.shape[1], device=tokens.device) >= tokens.shape[1] - rows * cols
    tokens = tokens + target[:, None].to(tokens.dtype) * is_target
    angles = rope_angles(video.shape[1], rows, cols, tokens.shape[-1] // heads, tokens.device)
    return tokens, angles


class DiTDenoiser(nn.Module):
    """``(noisy [N, C, H, W], context [N, K, C, H, W], cond [N, D]) → x̂ [N, C, H, W]``."""

    def __init__(
        self, image_channels: int, patch: int, width: int, depth: int, heads: int, cond_dims: int
    ):
        super().__init__()
        if width % heads or (width // heads) % 2 or width // heads < 6:
            raise ValueError(f"width {width} / heads {heads} must give an even head size ≥ 6")
        self.patch, self.heads, self.channels = patch, heads, image_channels
        self.embed = nn.Linear(image_channels * patch * patch, width)
        self.is_target = nn.Parameter(torch.zeros(width))  # marks the noisy frame's tokens
        self.blocks = nn.ModuleList(DiTBlock(width, heads, cond_dims) for _ in range(depth))
        self.out_norm = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.out_modulation = nn.Linear(cond_dims, 2 * width)
        self.out = nn.Linear(width, image_channels * patch * patch)
        for layer in (self.out_modulation, self.out):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    @property
    def multiple(self) -> int:
        return self.patch

    def forward(
        self,
        noisy: torch.Tensor,
        context: torch.Tensor,
        cond: torch.Tensor,
        residuals: list[torch.Tensor | None] | None = None,
        middle_residual: None = None,
    ):
        """``residuals``: control branches' additions to the tokens after each block
        (``[N, F, rows, cols, width]`` or None per block), as ``UNetDenoiser`` takes them;
        ``middle_residual``: the U-Net's middle has none here."""
        n, height, width = noisy.shape[0], *noisy.shape[-2:]
        rows, cols, p = height // self.patch, width // self.patch, self.patch
        tokens, angles = video_tokens(self.embed, self.is_target, noisy, context, p, self.heads)
        for index, block in enumerate(self.blocks):
            tokens = block(tokens, cond, angles)
            if residuals is not None and residuals[index] is not None:
                tokens = tokens + residuals[index].flatten(1, 3)
        per_frame = rows * cols
        shift, scale = self.out_modulation(cond)[:, None].chunk(2, -1)
        out = self.out(self.out_norm(tokens[:, -per_frame:]) * (1 + scale) + shift)
        out = out.unflatten(-1, (p, p, self.channels)).unflatten(1, (rows, cols))  # N r c p p C
        return out.permute(0, 5, 1, 3, 2, 4).reshape(n, self.channels, height, width)
