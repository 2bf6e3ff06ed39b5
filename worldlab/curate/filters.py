"""Stage 4 of curation: which clips to keep. Filters on the measures, near-duplicate
removal by perceptual hash, and optional k-means clustering of the kept clips."""

from __future__ import annotations

import numpy as np

from worldlab.curate.config import CurateConfig

# Reasons a clip is dropped, in the order they are checked (the first that applies is the
# clip's reason; every one that applies is recorded). Files and shots have their own.
UNREADABLE = "unreadable"  # the file cannot be decoded
SHORT = "short"  # a shot shorter than --min-shot-seconds or than one clip
DARK, STATIC, LOW_MOTION = "too dark", "static", "low motion"
TOO_FAST, BLURRY, DUPLICATE = "too fast", "blurry", "duplicate"
REASONS = (UNREADABLE, SHORT, DARK, STATIC, LOW_MOTION, TOO_FAST, BLURRY, DUPLICATE)


# A clip fails a filter when its measure is below the threshold in this config field.
THRESHOLDS = {
    DARK: ("brightness", "min_brightness"),
    STATIC: ("motion", "static_motion"),
    LOW_MOTION: ("motion", "min_motion"),
    TOO_FAST: ("coherence", "min_coherence"),
    BLURRY: ("sharpness", "min_sharpness"),
}


def failed_filters(measures: dict, config: CurateConfig) -> list[str]:
    """Every filter the clip fails, in ``REASONS`` order (empty: it passes)."""
    failed = [
        reason
        for reason, (measure, field) in THRESHOLDS.items()
        if measures[measure] < getattr(config, field)
    ]
    if STATIC in failed:  # static_motion ≤ min_motion: "static" already says it
        failed.remove(LOW_MOTION)
    return failed


def why(reason: str, measures: dict, config: CurateConfig) -> str:
    """``sharpness 0.5382 < --min-sharpness 0.7``: the measure and the flag that failed."""
    measure, field = THRESHOLDS[reason]
    flag = "--" + field.replace("_", "-")
    return f"{measure} {measures[measure]:.4f} < {flag} {getattr(config, field):g}"


def near_duplicates(hashes: list[str], groups: list[str], distance: int) -> dict[int, int]:
    """``{clip: the earlier clip it duplicates}``, greedily in the order given.

    A clip duplicates a kept clip of *another* group (shot) when their 64-bit perceptual
    hashes differ in at most ``distance`` bits; clips of one shot are consecutive moments,
    never copies of each other, so they are not compared. Each clip is compared with all
    kept ones at once (XOR and a bit count over arrays): ~n²/2 word operations, seconds for
    tens of thousands of clips.
    """
    values = np.array([int(h, 16) for h in hashes], np.uint64)
    group_ids = np.unique(np.array(groups, dtype=object), return_inverse=True)[1]
    kept_values = np.zeros(len(hashes), np.uint64)
    kept_groups = np.zeros(len(hashes), np.int64)
    kept_index = np.zeros(len(hashes), np.int64)
    count = 0
    duplicates: dict[int, int] = {}
    for index in range(len(hashes)):
        if count:
            bits = _bit_count(kept_values[:count] ^ values[index])
            bits[kept_groups[:count] == group_ids[index]] = 65  # never its own shot
            nearest = int(np.argmin(bits))
            if bits[nearest] <= distance:
                duplicates[index] = int(kept_index[nearest])
                continue
        kept_values[count], kept_groups[count], kept_index[count] = (
            values[index],
            group_ids[index],
            index,
        )
        count += 1
    return duplicates


_BYTE_BITS = np.array([bin(value).count("1") for value in range(256)], np.int64)


def _bit_count(words: np.ndarray) -> np.ndarray:
    """Set bits of each ``uint64`` (a byte table: numpy < 2 has no ``bitwise_count``)."""
    return _BYTE_BITS[words.view(np.uint8).reshape(len(words), 8)].sum(axis=1)


def kmeans(points: np.ndarray, k: int, seed: int = 0, iterations: int = 50) -> np.ndarray:
    """Cluster labels ``[n]`` of ``points [n, d]`` (k-means++ start, Lloyd iterations)."""
    n = len(points)
    k = min(k, n)
    if k <= 1:
        return np.zeros(n, np.int64)
    rng = np.random.default_rng(seed)
    centres = [points[rng.integers(n)]]
    for _ in range(k - 1):
        squared = ((points[:, None] - np.array(centres)[None]) ** 2).sum(-1).min(axis=1)
        total = squared.sum()
        choice = rng.choice(n, p=squared / total) if total > 0 else rng.integers(n)
        centres.append(points[choice])
    centres = np.array(centres)
    labels = np.zeros(n, np.int64)
    for _ in range(iterations):
        labels_new = ((points[:, None] - centres[None]) ** 2).sum(-1).argmin(axis=1)
        if _ > 0 and (labels_new == labels).all():
            break
        labels = labels_new
        for cluster in range(k):
            members = points[labels == cluster]
            if len(members):
                centres[cluster] = members.mean(axis=0)
    return labels
