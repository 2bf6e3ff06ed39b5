"""Image-fidelity metrics (PSNR, SSIM) and confidence intervals, batched and in pure torch.

Both metrics take frames channel-last, ``[..., H, W, C]`` (uint8 or float on the
``data_range`` scale), and return one number per image, shape ``[...]``. They match
scikit-image's ``peak_signal_noise_ratio`` and ``structural_similarity`` (Gaussian
weights, population covariance), which the tests check.
"""

from __future__ import annotations

import math
from functools import lru_cache
from statistics import NormalDist
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from worldlab.errors import WorldlabError

PSNR_CAP = 100.0  # dB reported for identical images, whose PSNR is +inf
SSIM_WINDOW = 11  # Gaussian window: radius int(3.5 * sigma + 0.5) = 5, as scipy/skimage
SSIM_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03


def _pair(pred: Any, target: Any, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Both images as float32 tensors of the same ``[..., H, W, C]`` shape and device."""
    pred = torch.as_tensor(pred)
    target = torch.as_tensor(target, device=pred.device)
    if pred.shape != target.shape:
        raise WorldlabError(
            f"{name}: pred and target must have the same shape, got "
            f"{list(pred.shape)} and {list(target.shape)}"
        )
    if pred.ndim < 3:
        raise WorldlabError(
            f"{name}: images must be [..., H, W, C], got shape {list(pred.shape)}; "
            "add a channel axis to grayscale images"
        )
    return pred.float(), target.float()


def psnr(pred: Any, target: Any, data_range: float = 255.0) -> torch.Tensor:
    """Peak signal-to-noise ratio per image, in dB.

    ``pred, target: [..., H, W, C]`` (uint8 or float) → ``[...]`` float32, from the mean
    squared error over ``H, W, C``. Identical images (MSE 0, PSNR +inf) score
    ``PSNR_CAP`` = 100 dB, and no score exceeds it, so averages stay finite.
    """
    pred, target = _pair(pred, target, "psnr")
    mse = (pred - target).square().mean((-3, -2, -1))
    value = 10 * torch.log10(data_range**2 / mse)  # mse = 0 gives +inf, clamped below
    return value.clamp(max=PSNR_CAP)


@lru_cache(maxsize=8)
def _gaussian_window(size: int, sigma: float) -> torch.Tensor:
    """Normalised 1-D Gaussian weights ``[size]`` (float64), as scipy's ``gaussian_filter``."""
    offsets = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    weights = torch.exp(-0.5 * (offsets / sigma) ** 2)
    return weights / weights.sum()


def ssim(pred: Any, target: Any, data_range: float = 255.0) -> torch.Tensor:
    """Structural similarity per image (Wang et al., 2004), averaged over channels.

    ``pred, target: [..., H, W, C]`` → ``[...]`` float32. Gaussian window 11×11 with
    sigma 1.5, K1 = 0.01, K2 = 0.03, population covariance; like scikit-image, the SSIM
    map is averaged only where the whole window fits (a 5-pixel border is cropped), so
    this equals ``skimage.metrics.structural_similarity(pred, target, channel_axis=-1,
    data_range=data_range, gaussian_weights=True, sigma=1.5, use_sample_covariance=False)``.
    """
    pred, target = _pair(pred, target, "ssim")
    *batch, height, width, channels = pred.shape
    if height < SSIM_WINDOW or width < SSIM_WINDOW:
        raise WorldlabError(
            f"ssim needs images of at least {SSIM_WINDOW}×{SSIM_WINDOW} pixels, "
            f"got {height}×{width}"
        )
    x = pred.reshape(-1, height, width, channels).permute(0, 3, 1, 2)  # [N, C, H, W]
    y = target.reshape(-1, height, width, channels).permute(0, 3, 1, 2)
    # Centring keeps E[x²] − E[x]² accurate in float32; (co)variances are shift-invariant.
    shift = 0.5 * (x.mean((2, 3), keepdim=True) + y.mean((2, 3), keepdim=True))
    x, y = x - shift, y - shift
    moments = torch.cat([x, y, x * x, y * y, x * y], 1)  # [N, 5C, H, W]
    groups = moments.shape[1]
    window = _gaussian_window(SSIM_WINDOW, SSIM_SIGMA).to(moments.device, moments.dtype)
    # Separable blur without padding: exactly the window-fits region skimage keeps.
    blurred = F.conv2d(moments, window.view(1, 1, 1, -1).expand(groups, 1, 1, -1), groups=groups)
    blurred = F.conv2d(blurred, window.view(1, 1, -1, 1).expand(groups, 1, -1, 1), groups=groups)
    mean_x, mean_y, mean_xx, mean_yy, mean_xy = blurred.split(channels, 1)
    var_x = mean_xx - mean_x**2
    var_y = mean_yy - mean_y**2
    cov_xy = mean_xy - mean_x * mean_y
    mean_x, mean_y = mean_x + shift, mean_y + shift
    c1 = (SSIM_K1 * data_range) ** 2
    c2 = (SSIM_K2 * data_range) ** 2
    ssim_map = ((2 * mean_x * mean_y + c1) * (2 * cov_xy + c2)) / (
        (mean_x**2 + mean_y**2 + c1) * (var_x + var_y + c2)
    )
    return ssim_map.mean((1, 2, 3)).reshape(batch)


# -- confidence intervals --------------------------------------------------------------
_SERIES_MAX_DF = 200  # above this, Cornish-Fisher is within 1e-9 (relative) of the exact t


def _t_two_sided_mass(theta: float, df: int) -> float:
    """P(|T| ≤ √df·tan θ) for Student's t with integer ``df`` (Abramowitz & Stegun 26.7.3/4)."""
    sin, cos = math.sin(theta), math.cos(theta)
    cos2 = cos * cos
    if df % 2:  # odd
        term = total = cos
        for j in range(1, (df - 1) // 2):
            term *= cos2 * (2 * j) / (2 * j + 1)
            total += term
        series = sin * total if df > 1 else 0.0
        return 2 / math.pi * (theta + series)
    term = total = 1.0
    for j in range(df // 2 - 1):
        term *= cos2 * (2 * j + 1) / (2 * j + 2)
        total += term
    return sin * total


def t_quantile(probability: float, df: int) -> float:
    """Quantile of Student's t with ``df`` degrees of freedom, for ``probability`` in (0.5, 1).

    Exact up to float precision for ``df ≤ 200``: the closed-form CDF for integer ``df``
    (Abramowitz & Stegun 26.7.3/26.7.4) inverted by bisection. Beyond, the
    Cornish-Fisher expansion around the normal quantile (A&S 26.7.5).
    """
    if not 0.5 < probability < 1 or df < 1:
        raise WorldlabError(
            f"t_quantile needs 0.5 < probability < 1 and df ≥ 1, got "
            f"probability={probability}, df={df}"
        )
    df = int(df)
    if df > _SERIES_MAX_DF:
        x = NormalDist().inv_cdf(probability)
        g1 = (x**3 + x) / 4
        g2 = (5 * x**5 + 16 * x**3 + 3 * x) / 96
        g3 = (3 * x**7 + 19 * x**5 + 17 * x**3 - 15 * x) / 384
        g4 = (79 * x**9 + 776 * x**7 + 1482 * x**5 - 1920 * x**3 - 945 * x) / 92160
        return x + g1 / df + g2 / df**2 + g3 / df**3 + g4 / df**4
    mass = 2 * probability - 1  # two-sided mass inside ±t
    low, high = 0.0, math.pi / 2
    for _ in range(80):  # bisection on the angle: the bracket is finite for any df
        middle = 0.5 * (low + high)
        if _t_two_sided_mass(middle, df) < mass:
            low = middle
        else:
            high = middle
    return math.sqrt(df) * math.tan(0.5 * (low + high))


def mean_ci(values: Any, axis: int = 0, confidence: float = 0.95) -> tuple[Any, Any]:
    """Mean and confidence half-width of ``values`` along ``axis``, using Student's t.

    ``half_width = t_{(1 + confidence) / 2, n - 1} · std(ddof=1) / √n`` with ``n`` the
    number of values along ``axis`` (see ``t_quantile``). With fewer than two values the
    half-width is undefined and returned as NaN. Returns numpy arrays shaped like
    ``values`` without ``axis`` (numpy scalars for 1-D input).
    """
    if not 0 < confidence < 1:
        raise WorldlabError(f"confidence must lie in (0, 1), e.g. 0.95; got {confidence}")
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    values = np.asarray(values, dtype=np.float64)
    count = values.shape[axis]
    if count == 0:
        raise WorldlabError(f"mean_ci got no values along axis {axis} (shape {values.shape})")
    mean = values.mean(axis)
    if count < 2:
        return mean, np.full_like(mean, np.nan)
    sem = values.std(axis, ddof=1) / math.sqrt(count)
    return mean, t_quantile((1 + confidence) / 2, count - 1) * sem


def difference_ci(first: Any, second: Any, confidence: float = 0.95) -> tuple[float, float]:
    """Difference of the means of two independent samples, ``mean(first) − mean(second)``,
    and its confidence half-width by Welch's t (no equal-variance assumption).

    ``half_width = t_{(1 + confidence) / 2, ν} · √(s₁²/n₁ + s₂²/n₂)`` with ν the
    Welch–Satterthwaite degrees of freedom, rounded down (so the interval is a little wider
    than with fractional ν). For runs that differ in more than their seed (two policies
    trained on different data, seed k of one unrelated to seed k of the other), where a
    paired difference would pair nothing. Needs two values on each side.
    """
    if not 0 < confidence < 1:
        raise WorldlabError(f"confidence must lie in (0, 1), e.g. 0.95; got {confidence}")
    first = np.asarray(first, dtype=np.float64).reshape(-1)
    second = np.asarray(second, dtype=np.float64).reshape(-1)
    if len(first) < 2 or len(second) < 2:
        raise WorldlabError(
            f"difference_ci needs at least two values per sample, got {len(first)} and "
            f"{len(second)}"
        )
    a = first.var(ddof=1) / len(first)
    b = second.var(ddof=1) / len(second)
    difference = float(first.mean() - second.mean())
    if a + b == 0:
        return difference, 0.0
    df = (a + b) ** 2 / (a**2 / (len(first) - 1) + b**2 / (len(second) - 1))
    return difference, t_quantile((1 + confidence) / 2, max(1, math.floor(df))) * math.sqrt(a + b)
