"""Control maps: what a control-conditioned generator keeps of a frame (Cosmos Transfer).

Cosmos Transfer 2.5 conditions its generator on four kinds of map, each through its own
ControlNet branch: edges, a blurred frame, depth and segmentation. Here:

- ``edge``: Canny edges of the frame, computed (no model): grey → Gaussian blur σ = 1 →
  Sobel gradient → thinning to the ridge along the gradient (non-maximum suppression) →
  hysteresis between two thresholds. Thresholds are in contrast units (a step from black
  to white is 1), so they mean the same at any frame size.
- ``blur``: the frame under a Gaussian blur of σ = side / 16 (colour and layout without
  detail; Cosmos' "vis" control).
- ``seg``: segmentation, class ids per pixel; ``depth``: 0 far … 255 near. No packaged
  model computes either offline, so they come from ground truth only: built-in worlds
  record them (``worldlab collect --controls``, arrays ``seg`` and ``depth``).

``control_input`` turns any of them into the network's input, ``[N, channels, H, W]``
floats in [-1, 1] (segmentation one-hot).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from worldlab.errors import WorldlabError

COMPUTED = ("edge", "blur")  # from the frame itself, for any video
FROM_GROUND_TRUTH = ("seg", "depth")  # recorded by built-in worlds
CONTROLS = COMPUTED + FROM_GROUND_TRUTH


def check_controls(names: list[str] | tuple[str, ...]) -> None:
    unknown = [name for name in names if name not in CONTROLS]
    if unknown:
        raise WorldlabError(
            f"unknown control {', '.join(map(repr, unknown))}: choose from {', '.join(CONTROLS)}"
        )


def control_channels(name: str, seg_classes: int) -> int:
    """Input channels of one control's map."""
    return {"edge": 1, "blur": 3, "seg": seg_classes, "depth": 1}[name]


def _gaussian_kernel(sigma: float, device) -> torch.Tensor:
    radius = max(1, int(round(3 * sigma)))
    x = torch.arange(-radius, radius + 1, dtype=torch.float32, device=device)
    kernel = torch.exp(-(x**2) / (2 * sigma**2))
    return kernel / kernel.sum()


def gaussian_blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of ``[N, C, H, W]`` floats, edges replicated."""
    kernel = _gaussian_kernel(sigma, images.device)
    channels, pad = images.shape[1], len(kernel) // 2
    rows = kernel.view(1, 1, 1, -1).expand(channels, 1, 1, -1)
    cols = kernel.view(1, 1, -1, 1).expand(channels, 1, -1, 1)
    x = F.conv2d(F.pad(images, (pad, pad, 0, 0), mode="replicate"), rows, groups=channels)
    return F.conv2d(F.pad(x, (0, 0, pad, pad), mode="replicate"), cols, groups=channels)


def _grey(frames: torch.Tensor) -> torch.Tensor:
    """``[N, H, W, 3] uint8`` → ``[N, 1, H, W]`` luma in [0, 1]."""
    weights = torch.tensor([0.299, 0.587, 0.114], device=frames.device)
    return (frames.float() / 255 @ weights)[:, None]


def canny(frames: torch.Tensor, low: float = 0.04, high: float = 0.1) -> torch.Tensor:
    """Canny edges of ``[N, H, W, 3] uint8`` frames: ``[N, H, W]`` bool.

    ``low`` and ``high`` bound the gradient magnitude in contrast per pixel after the
    σ = 1 blur (a black-to-white step peaks near 0.4): pixels above ``high`` are edges,
    and pixels above ``low`` are edges where they join one.
    """
    grey = gaussian_blur(_grey(frames), 1.0)
    padded = F.pad(grey, (1, 1, 1, 1), mode="replicate")
    sobel_x = torch.tensor([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]], device=frames.device) / 8
    gx = F.conv2d(padded, sobel_x.view(1, 1, 3, 3))
    gy = F.conv2d(padded, sobel_x.t().reshape(1, 1, 3, 3))
    magnitude = torch.hypot(gx, gy)[:, 0]
    # Quantise the gradient direction to 0°, 45°, 90°, 135°; compare with both neighbours along it.
    angle = torch.rad2deg(torch.atan2(gy, gx))[:, 0] % 180
    sector = (((angle + 22.5) // 45) % 4).long()
    offsets = ((0, 1), (1, 1), (1, 0), (1, -1))  # (dy, dx) along the gradient per sector
    ridge = torch.zeros_like(magnitude, dtype=torch.bool)
    padded_mag = F.pad(magnitude, (1, 1, 1, 1))
    height, width = magnitude.shape[-2:]
    for index, (dy, dx) in enumerate(offsets):
        ahead = padded_mag[:, 1 + dy : 1 + dy + height, 1 + dx : 1 + dx + width]
        behind = padded_mag[:, 1 - dy : 1 - dy + height, 1 - dx : 1 - dx + width]
        ridge |= (sector == index) & (magnitude >= ahead) & (magnitude > behind)
    strong = ridge & (magnitude > high)
    weak = ridge & (magnitude > low)
    for _ in range(height + width):  # hysteresis: grow strong edges along weak ones
        grown = weak & (F.max_pool2d(strong[:, None].float(), 3, 1, 1)[:, 0] > 0)
        if torch.equal(grown, strong):
            break
        strong = grown
    return strong


def blur(frames: torch.Tensor) -> torch.Tensor:
    """``[N, H, W, 3] uint8`` → the blurred frame ``[N, 3, H, W]`` in [-1, 1]."""
    images = frames.movedim(-1, 1).float() / 127.5 - 1
    return gaussian_blur(images, frames.shape[1] / 16)


def control_input(
    name: str,
    frames: torch.Tensor | None = None,
    maps: torch.Tensor | None = None,
    seg_classes: int = 8,
) -> torch.Tensor:
    """One control as the network reads it, ``[N, channels, H, W]`` in [-1, 1].

    ``edge`` and ``blur`` are computed from ``frames`` (``[N, H, W, 3] uint8``); ``seg``
    and ``depth`` are the recorded ``maps`` (``[N, H, W] uint8``; classes ≥
    ``seg_classes`` share the last channel).
    """
    if name in COMPUTED:
        if frames is None:
            raise WorldlabError(f"the {name} control is computed from frames; none were given")
        if name == "edge":
            return canny(frames)[:, None].float() * 2 - 1
        return blur(frames)
    if maps is None:
        raise WorldlabError(
            f"the {name} control comes from ground truth, and this data has no '{name}' maps: "
            f"collect a built-in world with --controls, or use the computed controls "
            f"({', '.join(COMPUTED)}); no packaged model estimates {name} offline"
        )
    if name == "seg":
        classes = maps.long().clamp(max=seg_classes - 1)
        return F.one_hot(classes, seg_classes).movedim(-1, 1).float() * 2 - 1
    check_controls([name])
    return maps[:, None].float() / 127.5 - 1
