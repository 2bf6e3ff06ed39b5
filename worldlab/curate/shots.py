"""Stage 1 of curation: read a video's header and find its shots.

Shot boundaries come from PySceneDetect's ``ContentDetector`` (a cut is a frame whose
mean HSV change from the previous one passes ``shot_threshold``; 27 is PySceneDetect's
default), run on every source frame shrunk to 128 × 72 by ffmpeg, which is plenty for
hue/saturation/brightness changes and keeps detection cheap.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from worldlab.curate.config import CurateConfig
from worldlab.data.import_video import VIDEO_SUFFIXES, VideoReadError, decoding_failure
from worldlab.errors import WorldlabError

DETECT_SIZE = (128, 72)  # width, height the detector sees
NEEDS_EXTRA = "worldlab curate needs its extra: pip install 'worldlab[curate]'"


@dataclass
class Probe:
    """What the file's header says: frame size, rate and duration."""

    width: int
    height: int
    fps: float
    duration: float


@dataclass
class Shot:
    index: int
    start: float  # seconds
    end: float

    @property
    def seconds(self) -> float:
        return self.end - self.start


def _reader(path: Path, input_params: tuple = (), output_params: tuple = ()):
    """ffmpeg's frames of ``path`` (its header first), decoding on one thread: curation
    runs one decoder per CPU, and small frames decode no faster on several threads."""
    import imageio_ffmpeg

    logging.getLogger("imageio_ffmpeg").setLevel(logging.ERROR)  # "size differs" is expected
    return imageio_ffmpeg.read_frames(
        str(path),
        input_params=["-threads", "1", *input_params],
        output_params=["-threads", "1", *output_params],
    )


def probe(path: Path) -> Probe:
    """The file's frame size, rate and duration; ``VideoReadError`` when it is no video."""
    if path.suffix.lower() not in VIDEO_SUFFIXES:
        raise VideoReadError(f"not a video ({' '.join(VIDEO_SUFFIXES)} are read)")
    if path.stat().st_size == 0:
        raise VideoReadError("the file is empty")
    try:
        reader = _reader(path)
        try:
            meta = next(reader)
        finally:
            reader.close()
    except Exception as error:  # noqa: BLE001 — any decoder failure means "unreadable"
        raise decoding_failure(error) from None
    width, height = meta.get("size") or (0, 0)
    fps, duration = float(meta.get("fps") or 0), float(meta.get("duration") or 0)
    if not width or not height:
        raise VideoReadError("the file holds no video stream")
    if not math.isfinite(fps) or fps <= 0:
        raise VideoReadError("the video states no frame rate")
    return Probe(int(width), int(height), fps, duration)


def detect_shots(path: Path, info: Probe, config: CurateConfig) -> list[Shot]:
    """The file's shots, in order; ``VideoReadError`` when its frames cannot be decoded.

    Shots shorter than ``config.min_shot_seconds`` are kept here (the caller counts them
    as dropped), so the report can say how much footage they held.
    """
    try:
        from scenedetect import ContentDetector
        from scenedetect.common import FrameTimecode
    except ImportError:
        raise WorldlabError(NEEDS_EXTRA) from None

    min_frames = max(1, round(config.min_shot_seconds * info.fps))
    detector = ContentDetector(threshold=config.shot_threshold, min_scene_len=min_frames)
    width, height = DETECT_SIZE
    cuts, frames = [], 0
    reader = _reader(path, output_params=["-vf", f"scale={width}:{height}:flags=area"])
    try:
        next(reader)
        for raw in reader:
            bgr = np.frombuffer(raw, np.uint8).reshape(height, width, 3)[..., ::-1]
            found = detector.process_frame(
                FrameTimecode(frames, info.fps), np.ascontiguousarray(bgr)
            )
            cuts += [cut.frame_num for cut in found]
            frames += 1
    except Exception as error:  # noqa: BLE001 — keep what decoded, report the rest
        if frames == 0:
            raise decoding_failure(error) from None
    finally:
        reader.close()
    if frames < 2:
        raise VideoReadError(f"too short: {frames} frame(s)")
    bounds = [0, *sorted(c for c in set(cuts) if 0 < c < frames), frames]
    return [
        Shot(index, bounds[index] / info.fps, bounds[index + 1] / info.fps)
        for index in range(len(bounds) - 1)
    ]


def shot_records(shots: list[Shot]) -> list[dict]:
    return [asdict(shot) for shot in shots]
