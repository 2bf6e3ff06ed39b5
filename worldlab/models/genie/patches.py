"""Frames ↔ patch vectors, and pixel conversions shared by the tokenizer and the LAM.

Genie normalises pixels to ``[0, 1]`` (paper, Appendix C.1); a frame of ``H × W × C`` is cut
into ``(H / p) · (W / p)`` patches of ``p · p · C`` values, row by row.
"""

from __future__ import annotations

import torch


def to_unit(obs: torch.Tensor) -> torch.Tensor:
    """``uint8 [..., H, W, C]`` → float in ``[0, 1]``."""
    return obs.float() / 255.0


def to_uint8(pixels: torch.Tensor) -> torch.Tensor:
    """Float in ``[0, 1]`` (clipped) → ``uint8``."""
    return (pixels.float().clamp(0, 1) * 255 + 0.5).to(torch.uint8)


def patchify(pixels: torch.Tensor, patch: int) -> torch.Tensor:
    """``[B, T, H, W, C]`` → ``[B, T, (H/p)·(W/p), p·p·C]``."""
    batch, frames, height, width, channels = pixels.shape
    grid = pixels.reshape(
        batch, frames, height // patch, patch, width // patch, patch, channels
    ).permute(0, 1, 2, 4, 3, 5, 6)
    return grid.reshape(batch, frames, (height // patch) * (width // patch), -1)


def unpatchify(patches: torch.Tensor, patch: int, shape: tuple[int, int, int]) -> torch.Tensor:
    """Inverse of ``patchify``: ``[B, T, N, p·p·C]`` → ``[B, T, H, W, C]``."""
    height, width, channels = shape
    batch, frames = patches.shape[:2]
    grid = patches.reshape(
        batch, frames, height // patch, width // patch, patch, patch, channels
    ).permute(0, 1, 2, 4, 3, 5, 6)
    return grid.reshape(batch, frames, height, width, channels)


def psnr(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB of ``[0, 1]`` images (over the whole batch)."""
    mse = torch.mean((prediction.detach().float().clamp(0, 1) - target.float()) ** 2)
    return -10 * torch.log10(mse.clamp(min=1e-10))
