"""Flow matching with x-prediction and shortcut forcing: the timestep schedule, the
training targets and the few-step samplers.

Notation (rectified flow): ``x_τ = τ·x + (1 − τ)·ε``, τ = 0 is noise, τ = 1 is data; the
denoiser predicts the clean frame ``x̂`` (Dreamer 4's x-prediction), whose velocity is
``v = (x̂ − x_τ) / (1 − τ)``. Shortcut forcing (Frans et al., 2024; Dreamer 4) also gives
the denoiser the step size ``d = 2^-k``: at the finest step it learns plain flow matching,
and a big step learns to land where two half steps of the model itself land, so one model
samples in 1, 2, 4 … steps without distillation.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

# denoise(x_τ [N, ...], τ [N], step_level [N]) → x̂ [N, ...]
Denoise = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def shift_time(time: torch.Tensor, shift: float) -> torch.Tensor:
    """Move τ toward noise by ``shift`` (SD3's σ' = sσ / (1 + (s − 1)σ), with σ = 1 − τ)."""
    if shift == 1.0:
        return time
    sigma = 1 - time
    return 1 - shift * sigma / (1 + (shift - 1) * sigma)


def sample_times(n: int, mean: float, std: float, shift: float, device) -> torch.Tensor:
    """Logit-normal timesteps ``[n]`` in (0, 1), shifted (Cosmos Predict's schedule)."""
    return shift_time(torch.sigmoid(torch.randn(n, device=device) * std + mean), shift)


def interpolate(clean: torch.Tensor, noise: torch.Tensor, time: torch.Tensor) -> torch.Tensor:
    """``x_τ`` for ``time [N]`` broadcast over the other dimensions."""
    t = time.reshape(-1, *([1] * (clean.dim() - 1)))
    return t * clean + (1 - t) * noise


def euler(x: torch.Tensor, x_hat: torch.Tensor, time: torch.Tensor, step: torch.Tensor):
    """One Euler step of size ``step`` along the velocity implied by ``x̂``."""
    shape = (-1, *([1] * (x.dim() - 1)))
    remaining = (1 - time).reshape(shape)
    return x + step.reshape(shape) * (x_hat - x) / remaining


@torch.no_grad()
def shortcut_targets(
    denoise: Denoise, clean: torch.Tensor, levels: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Big-step training samples: ``(x_τ, τ, step_level, target x̂)`` for a batch ``clean``.

    Each sample draws a step ``d = 2^-k`` (k < ``levels``) and τ on d's grid; the target is
    where two half steps of the model land, as an x-prediction for one step of size d.
    """
    n, device = len(clean), clean.device
    level = torch.randint(0, levels, (n,), device=device)
    step = 2.0 ** (-level.float())
    time = torch.floor(torch.rand(n, device=device) / step) * step
    x = interpolate(clean, torch.randn_like(clean), time)
    half = step / 2
    first = denoise(x, time, level + 1).float()
    x_mid = euler(x, first, time, half)
    second = denoise(x_mid, time + half, level + 1).float()
    shape = (-1, *([1] * (clean.dim() - 1)))
    velocity = (
        (first - x) / (1 - time).reshape(shape)
        + (second - x_mid) / (1 - time - half).reshape(shape)
    ) / 2
    target = x + (1 - time).reshape(shape) * velocity
    return x, time, level, target


@torch.no_grad()
def expected(denoise: Denoise, noise: torch.Tensor, levels: int) -> torch.Tensor:
    """The expected clean sample ``E[x | conditions]``: one x-prediction from pure noise,
    told the finest step (``2^-levels``), where the denoiser learned plain flow matching.

    Its squared-error loss makes that prediction the mean of every frame the conditions
    allow: the frame with the least expected squared error (what a deterministic model's
    decoder predicts), blurred where the future is uncertain. A big step (shortcut level 0)
    instead learned where the model's own sampling lands, a sharp draw.
    """
    n, device = len(noise), noise.device
    time = torch.zeros(n, device=device)
    level = torch.full((n,), levels, dtype=torch.long, device=device)
    return denoise(noise, time, level).float()


@torch.no_grad()
def sample(
    denoise: Denoise, noise: torch.Tensor, steps: int, levels: int, solver: str = "euler"
) -> torch.Tensor:
    """Integrate from ``noise`` (τ = 0) to a clean sample in ``steps`` steps.

    With shortcut forcing the denoiser is told the step it takes (rounded to a power of
    two no finer than ``2^-levels``); Heun adds a corrector on every step but the last.
    """
    n, device = len(noise), noise.device
    level_of_step = min(max(round(torch.log2(torch.tensor(float(steps))).item()), 0), levels)
    level = torch.full((n,), level_of_step, dtype=torch.long, device=device)
    x = noise
    for index in range(steps):
        time = torch.full((n,), index / steps, device=device)
        step = torch.full((n,), 1 / steps, device=device)
        x_hat = denoise(x, time, level).float()
        if index == steps - 1:
            return x_hat  # the last step lands on the prediction itself
        x_next = euler(x, x_hat, time, step)
        if solver == "heun":
            x_hat_next = denoise(x_next, time + step, level).float()
            shape = (-1, *([1] * (x.dim() - 1)))
            slope = (x_hat - x) / (1 - time).reshape(shape)
            slope_next = (x_hat_next - x_next) / (1 - time - step).reshape(shape)
            x_next = x + step.reshape(shape) * (slope + slope_next) / 2
        x = x_next
    return x
