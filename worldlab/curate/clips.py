"""Stage 2 of curation: transcode one shot into clips of a fixed rate, size and length.

ffmpeg seeks to the shot, resamples it to ``fps`` and shrinks it (keeping its aspect) to a
working size; black borders (letterbox and pillarbox bars: rows or columns darker than
``black_level`` in every frame) are cropped; each frame is then centre-cropped to a square
and resized to ``size × size``, and the shot is cut into clips of ``clip_length`` frames
(a shorter tail is left out, so every episode has the same length).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from worldlab.curate.config import CurateConfig
from worldlab.curate.shots import Probe, Shot, _reader
from worldlab.data.import_video import decoding_failure, square_frame

MIN_WORKING = 96  # the working frames' short side is at least this (and twice the output)


def working_size(info: Probe, size: int) -> tuple[int, int]:
    """``(width, height)`` with the source's aspect and a short side of ``max(2·size, 96)``."""
    short = max(2 * size, MIN_WORKING)
    scale = short / min(info.width, info.height)
    even = lambda value: max(2, 2 * round(value * scale / 2))  # noqa: E731 — encoders want even
    return even(info.width), even(info.height)


def decode_shot(path: Path, info: Probe, shot: Shot, config: CurateConfig) -> np.ndarray:
    """The shot's frames at ``config.fps`` and working size: ``[N, H, W, 3] uint8``."""
    width, height = working_size(info, config.size)
    reader = _reader(
        path,
        input_params=["-ss", f"{shot.start:.6f}"],
        output_params=[
            "-t",
            f"{shot.seconds:.6f}",
            "-vf",
            f"fps={config.fps},scale={width}:{height}:flags=area",
        ],
    )
    frames = []
    try:
        next(reader)
        for raw in reader:
            frames.append(np.frombuffer(raw, np.uint8).reshape(height, width, 3))
    except Exception as error:  # noqa: BLE001 — keep the frames that decoded
        if not frames:
            raise decoding_failure(error) from None
    finally:
        reader.close()
    if not frames:
        return np.zeros((0, height, width, 3), np.uint8)
    return np.stack(frames)


def border_box(frames: np.ndarray, black_level: float) -> tuple[int, int, int, int]:
    """``(top, bottom, left, right)`` of the picture inside black bars: the outer rows and
    columns whose mean brightness stays under ``black_level`` (0..1) in every frame.
    The whole frame when nothing is brighter (a dark shot is the filters' business)."""
    luma = frames.astype(np.float32).mean(axis=-1) / 255  # [N, H, W]
    rows = luma.mean(axis=2).max(axis=0) > black_level
    cols = luma.mean(axis=1).max(axis=0) > black_level
    if not rows.any() or not cols.any():
        return 0, frames.shape[1], 0, frames.shape[2]
    top, bottom = int(np.argmax(rows)), len(rows) - int(np.argmax(rows[::-1]))
    left, right = int(np.argmax(cols)), len(cols) - int(np.argmax(cols[::-1]))
    return top, bottom, left, right


def shot_clips(frames: np.ndarray, config: CurateConfig) -> tuple[list[np.ndarray], list]:
    """Crop borders, square, resize and cut: ``(clips [clip_length, size, size, 3] uint8,
    border box)``."""
    if len(frames) < config.clip_length:
        return [], None
    top, bottom, left, right = border_box(frames, config.black_level)
    squared = np.stack(
        [
            square_frame(Image.fromarray(frame[top:bottom, left:right]), config.size)
            for frame in frames
        ]
    )
    count = len(squared) // config.clip_length
    clips = [squared[k * config.clip_length : (k + 1) * config.clip_length] for k in range(count)]
    return clips, [top, bottom, left, right]
