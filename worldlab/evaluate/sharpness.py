"""Sharpness of frames without a learned detector: gradient energy and Laplacian variance.

A model that hedges between futures paints blur, which PSNR rewards; these two numbers,
taken as a ratio to the real frames at the same steps, show it (1 = as sharp as the real
world, below 1 = blurrier, above 1 = noisier).
"""

from __future__ import annotations

import torch

LAPLACIAN = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])


def _gray(frames: torch.Tensor) -> torch.Tensor:
    """``[..., H, W, C] uint8`` → ``[N, 1, H, W]`` float in [0, 1]."""
    height, width, _ = frames.shape[-3:]
    return frames.reshape(-1, height, width, frames.shape[-1]).float().mean(-1)[:, None] / 255.0


def gradient_energy(frames: torch.Tensor) -> torch.Tensor:
    """Mean squared difference between neighbouring pixels, per frame: ``[N]``."""
    gray = _gray(frames)
    dx = gray[..., :, 1:] - gray[..., :, :-1]
    dy = gray[..., 1:, :] - gray[..., :-1, :]
    return dx.pow(2).flatten(1).mean(1) + dy.pow(2).flatten(1).mean(1)


def laplacian_variance(frames: torch.Tensor) -> torch.Tensor:
    """Variance of the 3×3 Laplacian's response, per frame: ``[N]``."""
    gray = _gray(frames)
    kernel = LAPLACIAN.to(gray.device)[None, None]
    return torch.nn.functional.conv2d(gray, kernel).flatten(1).var(1)


def sharpness_ratios(imagined: torch.Tensor, real: torch.Tensor) -> dict[str, float]:
    """Each measure's mean over ``imagined`` frames divided by its mean over ``real`` ones."""
    ratios = {}
    for name, measure in (
        ("gradient_energy", gradient_energy),
        ("laplacian_variance", laplacian_variance),
    ):
        reference = float(measure(real).mean())
        ratios[name] = (
            float(measure(imagined).mean()) / reference if reference > 0 else float("nan")
        )
    return ratios
