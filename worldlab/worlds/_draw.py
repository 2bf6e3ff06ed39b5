"""Tiny numpy rasteriser shared by the built-in worlds.

Every function draws in place on an ``[H, W, 3] uint8`` canvas, touching only
the bounding box of the shape so that a frame costs microseconds, not a full
pass over the image per object.
"""

from __future__ import annotations

import numpy as np


def fill_circle(
    canvas: np.ndarray, cx: float, cy: float, radius: float, colour, hole: float = 0.0
) -> None:
    """Fill the disc of ``radius`` pixels centred at pixel coordinates ``(cx, cy)``; with a
    ``hole`` radius, only the ring between the two."""
    height, width = canvas.shape[:2]
    x0, x1 = max(int(cx - radius), 0), min(int(cx + radius) + 2, width)
    y0, y1 = max(int(cy - radius), 0), min(int(cy + radius) + 2, height)
    if x0 >= x1 or y0 >= y1:
        return
    # Pixel centres are at integer + 0.5.
    xs = np.arange(x0, x1, dtype=np.float32) + 0.5 - cx
    ys = np.arange(y0, y1, dtype=np.float32)[:, None] + 0.5 - cy
    squared = xs * xs + ys * ys
    inside = squared <= radius * radius
    if hole > 0:  # (a disc keeps the pixel at its very centre)
        inside &= squared > hole * hole
    canvas[y0:y1, x0:x1][inside] = colour


def fill_rect(canvas: np.ndarray, x0: float, y0: float, x1: float, y1: float, colour) -> None:
    """Fill the axis-aligned rectangle ``[x0, x1) × [y0, y1)`` in pixel coordinates."""
    height, width = canvas.shape[:2]
    ix0, ix1 = max(int(round(x0)), 0), min(int(round(x1)), width)
    iy0, iy1 = max(int(round(y0)), 0), min(int(round(y1)), height)
    if ix0 < ix1 and iy0 < iy1:
        canvas[iy0:iy1, ix0:ix1] = colour
