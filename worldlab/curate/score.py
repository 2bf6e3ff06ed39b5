"""Stage 3 of curation: measure each clip (what the filters, dedup and clustering read).

All measures are taken on the clip as it will be stored (``size × size``), on luma in 0..1:

- ``brightness``: mean luma;
- ``motion``: mean absolute luma difference between consecutive frames;
- ``coherence``: mean correlation of consecutive frames (1: nearly the same picture; near
  0: consecutive frames no longer resemble each other, motion too fast to learn from);
- ``sharpness``: √(E[Laplacian²] / E[gradient²]), a contrast-free measure of how much of
  the picture's detail is fine: blurring by a Gaussian of σ pixels divides it by about
  ``1 + σ``; a frame with no gradient at all scores 0;
- ``phash``: the 64-bit perceptual hash (``imagehash.phash``) of the middle frame;
- ``embedding``: an 8 × 8 luma thumbnail and a 4 × 4 × 4 colour histogram of the middle
  frame, each normalised, for k-means clustering (no learned model: none ships in a wheel).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from worldlab.curate.shots import NEEDS_EXTRA
from worldlab.errors import WorldlabError

LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def luma(frames: np.ndarray) -> np.ndarray:
    """``[N, H, W, 3] uint8`` → ``[N, H, W] float32`` in 0..1."""
    return frames.astype(np.float32) @ LUMA / 255


def sharpness(gray: np.ndarray) -> float:
    """√(E[Laplacian²] / E[gradient²]) over frames ``[N, H, W]`` (0 for flat frames)."""
    dy, dx = np.diff(gray, axis=1), np.diff(gray, axis=2)
    gradient = (dy**2).mean() + (dx**2).mean()
    laplacian = (
        gray[:, :-2, 1:-1] + gray[:, 2:, 1:-1] + gray[:, 1:-1, :-2] + gray[:, 1:-1, 2:]
        - 4 * gray[:, 1:-1, 1:-1]
    )  # fmt: skip
    if gradient < 1e-8:
        return 0.0
    return float(np.sqrt((laplacian**2).mean() / gradient))


def coherence(gray: np.ndarray) -> float:
    """Mean Pearson correlation of consecutive frames ``[N, H, W]`` (1 for flat frames)."""
    flat = gray.reshape(len(gray), -1)
    centred = flat - flat.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(centred, axis=1)
    pairs = (centred[1:] * centred[:-1]).sum(axis=1)
    scale = norms[1:] * norms[:-1]
    return float(np.where(scale > 1e-6, pairs / np.maximum(scale, 1e-12), 1.0).mean())


def perceptual_hash(frame: np.ndarray) -> str:
    try:
        import imagehash
    except ImportError:
        raise WorldlabError(NEEDS_EXTRA) from None

    return str(imagehash.phash(Image.fromarray(frame)))


def embedding(frame: np.ndarray) -> list[float]:
    thumb = np.asarray(Image.fromarray(frame).convert("L").resize((8, 8), Image.Resampling.BOX))
    thumb = thumb.astype(np.float32).ravel()
    thumb = (thumb - thumb.mean()) / (thumb.std() + 1e-6)
    bins = (frame.reshape(-1, 3) // 64).astype(np.int64)
    histogram = np.bincount(bins[:, 0] * 16 + bins[:, 1] * 4 + bins[:, 2], minlength=64)
    histogram = np.sqrt(histogram / histogram.sum())  # Hellinger: sums of squares are 1
    return [*(thumb / 8).tolist(), *histogram.tolist()]


def measure(clip: np.ndarray) -> dict:
    """Every measure of one clip ``[L, H, W, 3] uint8`` (see the module docstring)."""
    gray = luma(clip)
    middle = clip[len(clip) // 2]
    return {
        "brightness": float(gray.mean()),
        "motion": float(np.abs(np.diff(gray, axis=0)).mean()),
        "coherence": coherence(gray),
        "sharpness": sharpness(gray),
        "phash": perceptual_hash(middle),
        "embedding": embedding(middle),
    }
