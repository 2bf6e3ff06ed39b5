"""What `worldlab curate` does to footage, as one typed record (every field is a flag).

The thresholds were set on synthetic footage (tests/curate) and are documented in
docs/curation.md with what each measures; real footage may want others, which is why each
is a flag. Settings that change the clips themselves (``CLIP_FIELDS``) are part of the
staging key: changing one recomputes the clips; the filters are reapplied to stored
statistics, so changing a threshold costs no decoding.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass

from worldlab.errors import WorldlabError


@dataclass
class CurateConfig:
    # -- clips ---------------------------------------------------------------------------
    size: int = 64  # output frames are size × size (centre square after border crop)
    fps: float = 10.0  # clips are resampled to this frame rate
    clip_length: int = 32  # frames per clip (an episode); a shot's shorter tail is dropped
    shot_threshold: float = 27.0  # PySceneDetect ContentDetector threshold (its default)
    min_shot_seconds: float = 0.5  # shots shorter than this are not clips
    black_level: float = 0.06  # border rows/columns darker than this (0..1) are cropped
    # -- filters (computed at the output size; see docs/curation.md) ----------------------
    static_motion: float = 0.001  # mean |luma difference| of consecutive frames below: static
    min_motion: float = 0.002  # below this (but not static): low motion
    min_coherence: float = 0.4  # consecutive frames correlate less than this: too fast
    min_brightness: float = 0.08  # mean luma (0..1) below this: too dark
    min_sharpness: float = 0.7  # √(E[Laplacian²]/E[gradient²]) below this: blurry
    dedup_distance: int = 6  # perceptual-hash Hamming distance at or below: duplicate
    clusters: int = 0  # k-means clusters over clip embeddings (0 = no clustering)
    seed: int = 0  # k-means initialisation

    def __post_init__(self) -> None:
        checks = [
            ("size", self.size >= 8, "at least 8 pixels"),
            ("fps", math.isfinite(self.fps) and self.fps > 0, "a positive frame rate"),
            ("clip_length", self.clip_length >= 2, "at least 2 frames"),
            ("shot_threshold", self.shot_threshold > 0, "positive"),
            ("min_shot_seconds", self.min_shot_seconds >= 0, "zero or more"),
            ("black_level", 0 <= self.black_level < 1, "in [0, 1)"),
            ("dedup_distance", 0 <= self.dedup_distance <= 64, "in 0..64 (bits of the hash)"),
            ("clusters", self.clusters >= 0, "zero or more"),
            ("min_motion", self.static_motion <= self.min_motion, "at least --static-motion"),
            ("min_coherence", -1 <= self.min_coherence <= 1, "a correlation in [-1, 1]"),
        ]  # fmt: skip
        for name, ok, expected in checks:
            if not ok:
                flag = "--" + name.replace("_", "-")
                raise WorldlabError(f"{flag} must be {expected}, got {getattr(self, name)}")

    def clip_settings(self) -> dict:
        return {name: getattr(self, name) for name in CLIP_FIELDS}

    def clip_key(self) -> str:
        """Names the staged clips made with these clip settings (the filters are not in it)."""
        text = json.dumps(self.clip_settings(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


CLIP_FIELDS = ("size", "fps", "clip_length", "shot_threshold", "min_shot_seconds", "black_level")
