"""Read the balls of ``bounce`` frames back into physical state: centre, radius, colour.

The physics metrics score what a model *draws*, so they need each ball's state from
pixels, as phyworld does: a colour mask per ball (every ball of a ``bounce`` episode has
its own colour, given by the ground-truth state), its centroid as the centre and
``√(area/π)`` as the radius. Pixel ``(row, col)`` has its centre at world
``x = (col + ½)/S``, ``y = 1 − (row + ½)/S`` (``y`` up, as in the world).

Aware of the occluder: the grey bar is drawn over the balls, so a ball that touches the
bar's columns shows only part of its disc. Its reading is marked ``clipped`` (its centroid
and area are biased) and a ball wholly behind the bar is ``hidden``, not missing.

Model frames are blurry and off-colour: a pixel belongs to ball ``i`` when ball ``i``'s
colour is the nearest of all the scene's colours (black background, grey bar, the balls)
and within ``tolerance`` of it (RGB distance, 0–441). A bright blob of at least 3 pixels
that no ball (nor the 2-pixel rim around one, nor the bar) explains, or a second blob of a
ball's colour, is counted as hallucinated.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from worldlab.worlds.bounce import DEFAULT_OCCLUDER, OCCLUDER_COLOUR

BACKGROUND = (0, 0, 0)


@dataclass
class Readings:
    """Per frame ``t`` and ball ``i`` (arrays ``[T, N, ...]``); NaN where not seen."""

    positions: np.ndarray  # [T, N, 2] world units, y up
    radii: np.ndarray  # [T, N] world units
    pixels: np.ndarray  # [T, N] pixels assigned to the ball
    seen: np.ndarray  # [T, N] bool: at least min_pixels of the ball's colour
    clipped: np.ndarray  # [T, N] bool: seen, but touching the occluder or the frame edge
    extra_blobs: np.ndarray  # [T] blobs no ball explains, plus second blobs of a ball


def occluder_columns(size: int, occluder) -> tuple[int, int] | None:
    """The bar's pixel columns ``[c0, c1)`` for ``bounce``'s ``occluder`` argument."""
    if occluder is None or occluder is False:
        return None
    x0, x1 = DEFAULT_OCCLUDER if occluder is True else (float(occluder[0]), float(occluder[1]))
    return round(x0 * size), round(x1 * size)


def _components(mask: np.ndarray) -> np.ndarray:
    """4-connected component labels of a boolean ``[H, W]`` mask (0 outside), by
    propagating the largest index until nothing changes (frames are small)."""
    height, width = mask.shape
    labels = np.where(mask, np.arange(1, height * width + 1).reshape(height, width), 0)
    while True:
        grown = labels.copy()
        grown[1:] = np.maximum(grown[1:], labels[:-1])
        grown[:-1] = np.maximum(grown[:-1], labels[1:])
        grown[:, 1:] = np.maximum(grown[:, 1:], labels[:, :-1])
        grown[:, :-1] = np.maximum(grown[:, :-1], labels[:, 1:])
        grown = np.where(mask, grown, 0)
        if np.array_equal(grown, labels):
            return labels
        labels = grown


def _dilate(mask: np.ndarray, steps: int) -> np.ndarray:
    """Grow a boolean ``[H, W]`` mask by ``steps`` pixels (4-neighbourhood)."""
    grown = mask.copy()
    for _ in range(steps):
        step = grown.copy()
        step[1:] |= grown[:-1]
        step[:-1] |= grown[1:]
        step[:, 1:] |= grown[:, :-1]
        step[:, :-1] |= grown[:, 1:]
        grown = step
    return grown


def _blob_sizes(mask: np.ndarray) -> np.ndarray:
    """Pixel counts of the mask's components, largest first."""
    labels = _components(mask)
    counts = np.bincount(labels.ravel())[1:]
    return np.sort(counts[counts > 0])[::-1]


def _ball_blobs(mask: np.ndarray, bar: np.ndarray) -> np.ndarray:
    """Pixel counts of a ball mask's blobs, largest first; blobs joined through the bar
    (one ball seen on both sides of it) count as one."""
    if not bar.any():
        return _blob_sizes(mask)
    labels = _components(mask | bar)
    counts = np.bincount(labels[mask], minlength=labels.max() + 1)[1:]
    return np.sort(counts[counts > 0])[::-1]


def read_balls(
    frames: np.ndarray,
    colours: np.ndarray,
    occluder: tuple[int, int] | None = None,
    tolerance: float = 80.0,
    min_pixels: int = 2,
) -> Readings:
    """Read ``N`` balls of known ``colours`` (``[N, 3]`` in [0, 1], from the state) from
    ``frames`` (``[T, S, S, 3] uint8``); ``occluder`` is the bar's pixel columns."""
    frames = np.asarray(frames)
    steps, size = frames.shape[0], frames.shape[1]
    palette = np.concatenate(
        [
            np.array([BACKGROUND, OCCLUDER_COLOUR], np.float32),
            np.round(colours * 255).astype(np.float32),
        ]
    )
    count = len(colours)
    distance = np.linalg.norm(frames[..., None, :].astype(np.float32) - palette, axis=-1)
    nearest = distance.argmin(-1)  # [T, S, S] index into the palette
    close = distance.min(-1) <= tolerance
    centres = (np.arange(size) + 0.5) / size
    xs, ys = np.meshgrid(centres, 1.0 - centres)  # world coordinates of pixel centres
    edge = np.zeros((size, size), bool)
    edge[[0, -1], :] = edge[:, [0, -1]] = True
    if occluder is not None:
        c0, c1 = occluder
        edge[:, max(c0 - 1, 0) : min(c1 + 1, size)] = True  # the bar and the columns beside it
    positions = np.full((steps, count, 2), np.nan)
    radii = np.full((steps, count), np.nan)
    pixels = np.zeros((steps, count), int)
    clipped = np.zeros((steps, count), bool)
    extra = np.zeros(steps, int)
    lit = frames.astype(np.int32).sum(-1) > 3 * 40  # not background-dark
    bar = np.zeros((size, size), bool)
    if occluder is not None:
        bar[:, occluder[0] : occluder[1]] = True
    for t in range(steps):
        explained = np.zeros((size, size), bool)
        for i in range(count):
            mask = (nearest[t] == i + 2) & close[t]
            explained |= mask
            blobs = _ball_blobs(mask, bar) if mask.any() else np.zeros(0, int)
            extra[t] += int(np.sum(blobs[1:] >= max(min_pixels, 3)))
            area = int(mask.sum())
            pixels[t, i] = area
            if area < min_pixels:
                continue
            positions[t, i] = xs[mask].mean(), ys[mask].mean()
            radii[t, i] = np.sqrt(area / np.pi) / size
            clipped[t, i] = bool((mask & edge).any())
        explained = _dilate(explained, 2)  # a blurry ball's dim rim belongs to the ball
        explained |= bar
        stray = lit[t] & ~explained  # something drawn that no ball or the bar explains
        extra[t] += int(np.sum(_blob_sizes(stray) >= 3)) if stray.any() else 0
    seen = pixels >= min_pixels
    return Readings(positions, radii, pixels, seen, clipped & seen, extra)


def hidden_by_occluder(
    positions: np.ndarray, radii: np.ndarray, occluder: tuple[int, int] | None, size: int
) -> np.ndarray:
    """Ground truth: whether each ball lies wholly behind the bar (``bounce``'s rule)."""
    if occluder is None:
        return np.zeros(radii.shape, bool)
    b0, b1 = occluder[0] / size, occluder[1] / size
    x = positions[..., 0]
    return (x - radii >= b0) & (x + radii <= b1)
