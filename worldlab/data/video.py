"""Write frames as ``.mp4`` (ffmpeg via imageio-ffmpeg) or ``.gif``."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from worldlab.errors import WorldlabError

VIDEO_SUFFIXES = (".mp4", ".gif")


def write_video(frames: np.ndarray, path: str | Path, fps: int = 15, scale: int = 4) -> Path:
    """Write ``frames [T, H, W, 3] uint8`` to ``path``, enlarged ``scale``× (nearest) for viewing.

    The file appears atomically: it is encoded beside the target, then renamed.
    """
    import imageio.v2 as imageio

    path = Path(path)
    if path.suffix.lower() not in VIDEO_SUFFIXES:
        raise WorldlabError(f"cannot write video '{path}': use a .mp4 or .gif file name")
    frames = np.asarray(frames, dtype=np.uint8)
    if frames.ndim != 4 or frames.shape[-1] not in (1, 3):
        raise WorldlabError(f"frames must be [T, H, W, 3] uint8, got {list(frames.shape)}")
    if scale > 1:
        frames = frames.repeat(scale, axis=1).repeat(scale, axis=2)
    # Even sizes keep H.264 encoders happy.
    frames = frames[:, : frames.shape[1] // 2 * 2, : frames.shape[2] // 2 * 2]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")
    try:
        if path.suffix.lower() == ".gif":
            imageio.mimwrite(tmp, list(frames), duration=1000 / fps, loop=0)
        else:
            imageio.mimwrite(
                tmp,
                list(frames),
                fps=fps,
                codec="libx264",
                quality=8,
                macro_block_size=1,
                ffmpeg_log_level="error",
            )
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
