"""Action-free datasets: import videos as clips, or drop the actions of a labelled dataset.

``import_videos`` turns video files (``.mp4``, ``.webm``, ``.gif`` and the other formats
ffmpeg reads) into the standard episode format: each frame is centre-cropped to a
square and resized to ``size × size``, optionally resampled to ``fps`` by timestamp
(frames are dropped or repeated), and the video is cut into clips of ``clip_length``
frames; each clip becomes one episode with no actions (``action [L, 0]``), zero rewards
and no terminal. Where each clip came from is recorded in ``DIR/sources.json``; a
caption sidecar (``NAME.txt``, or a line of ``captions.jsonl``) goes to ``captions.json``.

Files that cannot be decoded (broken, empty, not a video) are skipped with a
``VideoImportWarning`` naming them; the others are imported. A rerun into the same
directory skips every file whose content was imported before (matched by SHA-256), so
clips are never duplicated, and redoes a file whose import was interrupted.

Decoding uses imageio-ffmpeg (always installed); PyAV is used instead for non-GIF files
when it is installed (``pip install 'worldlab[video]'``), for exact frame timestamps.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageSequence

import worldlab
from worldlab.data.captions import CAPTIONS_NAME, add_caption, read_captions
from worldlab.data.dataset import EpisodeDataset
from worldlab.data.episode import (
    EPISODE_GLOB,
    episode_filename,
    read_episode,
    read_json,
    write_episode,
    write_json,
)
from worldlab.data.manifest import Manifest, open_dataset
from worldlab.errors import CorruptEpisodeError, DatasetError, WorldlabError
from worldlab.progress import progress_bar

VIDEO_SUFFIXES = (".mp4", ".webm", ".gif", ".mov", ".mkv", ".avi", ".m4v")
CAPTIONS_JSONL = "captions.jsonl"  # a folder's caption sidecar, one JSON object per line
VIDEO_ENV_ID = "video"
SOURCES_NAME = "sources.json"
DEFAULT_GIF_FRAME_MS = 100  # what browsers show for a GIF frame without a duration
MIN_CLIP = 2  # a clip needs one transition


class VideoImportWarning(UserWarning):
    """A file that was skipped; ``path``, ``reason`` and ``kind`` (``"unreadable"`` or
    ``"duplicate"``) say which and why."""

    def __init__(self, path: Path, reason: str, kind: str = "unreadable"):
        super().__init__(f"skipped {path}: {reason}")
        self.path, self.reason, self.kind = Path(path), reason, kind


class VideoReadError(Exception):
    """A file that cannot be decoded as a video (internal: reported as a warning)."""


# -- finding the files ---------------------------------------------------------------
def find_videos(paths: Iterable[str | Path], exclude: Path | None = None) -> list[Path]:
    """The files to import: each file given, and every non-hidden file under each folder.

    Non-video files are kept in the list (they are reported as skipped, by name), except
    caption sidecars (``sidecar_caption``); files under ``exclude`` (the dataset being
    written) are left out.
    """
    paths = [Path(path) for path in paths]
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(
                p
                for p in path.rglob("*")
                if p.is_file()
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
        elif path.is_file():
            files.append(path)
        else:
            raise WorldlabError(
                f"video path '{path}' does not exist; give video files or folders of them"
            )
    unique = [p for p in dict.fromkeys(p.resolve() for p in files) if not _is_sidecar(p)]
    if exclude is not None:
        unique = [p for p in unique if not p.is_relative_to(exclude.resolve())]
    if not unique:
        raise WorldlabError(
            f"found no files in {', '.join(map(str, paths))}; give .mp4, .webm or .gif "
            "files or folders holding them"
        )
    return unique


# -- decoding: (frame [size, size, 3] uint8, time s, duration s) per source frame ------
def square_frame(image: Image.Image, size: int) -> np.ndarray:
    """Centre-crop ``image`` to a square and resize it to ``size × size`` RGB (area filter)."""
    width, height = image.size
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    image = image.convert("RGB").crop((left, top, left + side, top + side))
    return np.asarray(image.resize((size, size), Image.Resampling.BOX), dtype=np.uint8)


def _gif_frames(path: Path, size: int) -> Iterator[tuple[np.ndarray, float, float]]:
    with Image.open(path) as image:
        if image.format != "GIF":
            raise VideoReadError(f"a .gif name but {image.format} content")
        time = 0.0
        for frame in ImageSequence.Iterator(image):
            duration = (frame.info.get("duration") or DEFAULT_GIF_FRAME_MS) / 1000
            yield square_frame(frame, size), time, duration
            time += duration


def _ffmpeg_frames(path: Path, size: int) -> Iterator[tuple[np.ndarray, float, float]]:
    import imageio_ffmpeg

    # ffmpeg crops and scales, so full-size frames never cross the pipe.
    scale = f"crop=min(iw\\,ih):min(iw\\,ih),scale={size}:{size}:flags=area"
    logging.getLogger("imageio_ffmpeg").setLevel(logging.ERROR)  # "size differs" is expected
    reader = imageio_ffmpeg.read_frames(str(path), output_params=["-vf", scale])
    try:
        meta = next(reader)
        fps = float(meta.get("fps") or 0)
        if not math.isfinite(fps) or fps <= 0:
            raise VideoReadError("the video states no frame rate")
        for index, raw in enumerate(reader):
            yield np.frombuffer(raw, np.uint8).reshape(size, size, 3), index / fps, 1 / fps
    finally:
        reader.close()


def _pyav_frames(path: Path, size: int) -> Iterator[tuple[np.ndarray, float, float]]:
    import av

    with av.open(str(path)) as container:
        if not container.streams.video:
            raise VideoReadError("the file holds no video stream")
        stream = container.streams.video[0]
        rate = float(stream.average_rate or stream.guessed_rate or 0)
        if rate <= 0:
            raise VideoReadError("the video states no frame rate")
        for index, frame in enumerate(container.decode(stream)):
            time = float(frame.time) if frame.time is not None else index / rate
            yield square_frame(frame.to_image(), size), time, 1 / rate


def _decoder(path: Path):
    if path.suffix.lower() == ".gif":
        return _gif_frames
    try:
        import av  # noqa: F401  (optional extra "video")
    except ImportError:
        return _ffmpeg_frames
    return _pyav_frames


def read_video(path: Path, size: int) -> Iterator[tuple[np.ndarray, float, float]]:
    """Frames of ``path`` with their time and duration in seconds, squared to ``size``.

    Raises ``VideoReadError`` (with the reason) for a file that cannot be decoded.
    """
    if path.suffix.lower() not in VIDEO_SUFFIXES:
        raise VideoReadError(f"not a video ({' '.join(VIDEO_SUFFIXES)} are read)")
    if path.stat().st_size == 0:
        raise VideoReadError("the file is empty")
    frames = _decoder(path)(path, size)
    while True:
        try:
            item = next(frames)
        except StopIteration:
            return
        except VideoReadError:
            raise
        except Exception as error:  # noqa: BLE001 — any decoder failure means "unreadable"
            raise decoding_failure(error) from None
        yield item


def decoding_failure(error: Exception) -> VideoReadError:
    """A decoder's exception as a ``VideoReadError`` with its last line as the reason
    (ffmpeg's last line says what was wrong)."""
    lines = str(error).strip().splitlines()
    return VideoReadError(lines[-1] if lines else type(error).__name__)


# -- resampling and clipping --------------------------------------------------------
def resample(
    frames: Iterable[tuple[np.ndarray, float, float]], fps: float | None
) -> Iterator[tuple[np.ndarray, int]]:
    """``(frame, source index)`` at ``fps``: at each time ``k / fps`` the frame showing then.

    A source frame shows from its timestamp until the next one (the last for its
    duration), so frames are dropped when slowing down and repeated when speeding up.
    Without ``fps`` every frame is kept.
    """
    if fps is None:
        for index, (frame, _, _) in enumerate(frames):
            yield frame, index
        return
    tick, pending = 0, None  # pending: (frame, index, time, duration) awaiting its end
    for index, (frame, time, duration) in enumerate(frames):
        if pending is not None:
            tick = yield from _emit(pending, time, tick, fps)
        pending = (frame, index, time, duration)
    if pending is not None:
        yield from _emit(pending, pending[2] + pending[3], tick, fps)


def _emit(pending, end: float, tick: int, fps: float):
    frame, index, start, _ = pending
    while tick / fps < end - 1e-9:
        if tick / fps >= start - 1e-9:
            yield frame, index
        tick += 1
    return tick


def clips(
    samples: Iterable[tuple[np.ndarray, int]], clip_length: int | None
) -> Iterator[list[tuple[np.ndarray, int]]]:
    """Consecutive clips of ``clip_length`` samples (all in one without it); a shorter
    tail is kept when it has at least two frames."""
    clip: list[tuple[np.ndarray, int]] = []
    for sample in samples:
        clip.append(sample)
        if clip_length is not None and len(clip) == clip_length:
            yield clip
            clip = []
    if len(clip) >= MIN_CLIP:
        yield clip


def clip_episode(frames: np.ndarray) -> dict[str, np.ndarray]:
    """An action-free episode of ``frames [L, H, W, 3] uint8``: cut, not terminated."""
    length = len(frames)
    truncated = np.zeros(length, bool)
    truncated[-1] = True
    return {
        "obs": np.ascontiguousarray(frames, dtype=np.uint8),
        "action": np.zeros((length, 0), np.float32),
        "reward": np.zeros(length, np.float32),
        "terminated": np.zeros(length, bool),
        "truncated": truncated,
    }


# -- the dataset directory ------------------------------------------------------------
def _load_sources(out: Path) -> dict[str, Any]:
    path = out / SOURCES_NAME
    if not path.exists():
        return {"sources": []}
    return read_json(
        path,
        "",
        "without it imported files cannot be recognised: import into a fresh --out directory",
        error=DatasetError,
    )


def _save_sources(out: Path, sources: dict[str, Any]) -> None:
    write_json(out / SOURCES_NAME, sources)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _forget_incomplete(out: Path, sources: dict[str, Any]) -> None:
    """Delete the clips of an import that was interrupted, so that it is redone whole.

    Files are imported one after another, so an interrupted one owns every episode
    from its ``first_episode`` on.
    """
    for source in [s for s in sources["sources"] if not s["complete"]]:
        for path in out.glob(EPISODE_GLOB):
            if int(path.name[3:9]) >= source["first_episode"]:
                path.unlink()
        sources["sources"].remove(source)


# -- importing -------------------------------------------------------------------------
def import_videos(
    paths: Iterable[str | Path] | str | Path,
    out: str | Path,
    size: int = 64,
    fps: float | None = None,
    clip_length: int | None = None,
    progress: bool = True,
) -> Manifest:
    """Import video files (and folders of them, recursively) into the dataset ``out``.

    Each file becomes clips of ``clip_length`` frames (the whole video without it; a
    shorter tail is kept if it has ≥ 2 frames) of ``size × size`` centre-cropped frames,
    resampled to ``fps`` when given. Unreadable, empty and non-video files are skipped,
    each with a ``VideoImportWarning``; files imported before (same content) are skipped
    too. Returns the manifest (action type ``none``, env id ``"video"``).
    """
    if size < 8:
        raise WorldlabError(f"--size must be at least 8 pixels, got {size}")
    if fps is not None and not (math.isfinite(fps) and fps > 0):
        raise WorldlabError(f"--fps must be a positive number of frames per second, got {fps}")
    if clip_length is not None and clip_length < MIN_CLIP:
        raise WorldlabError(f"--clip-length must be at least {MIN_CLIP} frames, got {clip_length}")
    files = find_videos([paths] if isinstance(paths, str | Path) else paths, exclude=Path(out))
    importer = _Importer(Path(out), {"size": size, "fps": fps, "clip_length": clip_length})
    with progress_bar(enabled=progress) as bar:
        task = bar.add_task("import videos", total=len(files), unit="files")
        for path in files:
            importer.import_file(path)
            bar.advance(task)
    return importer.finish()


class _Importer:
    """Writes the clips of one file after another into ``out``, keeping ``sources.json``."""

    def __init__(self, out: Path, settings: dict[str, Any]):
        self.out, self.settings = out, settings
        self.manifest = open_dataset(
            out,
            Manifest(
                env_id=VIDEO_ENV_ID,
                obs_shape=[settings["size"], settings["size"], 3],
                action={"type": "none"},
                env_kwargs=settings,
                worldlab_version=worldlab.__version__,
            ),
            "import",
            "import with the same --size, --fps and --clip-length, or into another --out directory",
        )
        self.sources = _load_sources(out)
        _forget_incomplete(out, self.sources)
        _save_sources(out, self.sources)
        names = {p.name for p in out.glob(EPISODE_GLOB)}
        names |= {e["file"] for s in self.sources["sources"] for e in s["episodes"]}
        self.next_index = 1 + max((int(name[3:9]) for name in names), default=-1)

    def import_file(self, path: Path) -> None:
        """Import one file's clips; a file that cannot be decoded is reported and skipped."""
        try:
            digest = file_sha256(path)
        except OSError as error:
            self._skip(path, f"cannot be read ({error})")
            return
        done = next((s for s in self.sources["sources"] if s["sha256"] == digest), None)
        if done is not None:
            self._skip(path, f"already imported (same content as {done['path']})", "duplicate")
            return
        # Saved before any clip is written: an interrupted import is seen and redone.
        source = {"path": str(path), "sha256": digest, "complete": False}
        source.update(first_episode=self.next_index, episodes=[])
        self.sources["sources"].append(source)
        _save_sources(self.out, self.sources)
        decoded, error = self._write_clips(path, source)
        if not source["episodes"]:
            self.sources["sources"].remove(source)
            _save_sources(self.out, self.sources)
            short = f"too short: {decoded} frame(s), a clip needs at least {MIN_CLIP}"
            self._skip(path, error or short)
            return
        if error is not None:  # frames decoded before the failure are fine: keep their clips
            source["error"] = error
            self._skip(path, f"unreadable after frame {decoded} ({error}); kept its clips")
        source["complete"] = True
        _save_sources(self.out, self.sources)

    def _write_clips(self, path: Path, source: dict) -> tuple[int, str | None]:
        """Decode ``path`` and write its clips: ``(frames decoded, decoding error or None)``."""
        decoded, written = 0, 0

        def counted(samples):
            nonlocal decoded
            for sample in samples:
                decoded += 1
                yield sample

        try:
            samples = resample(read_video(path, self.settings["size"]), self.settings["fps"])
            for clip in clips(counted(samples), self.settings["clip_length"]):
                self._write_clip(clip, written, source)
                written += len(clip)
        except VideoReadError as failure:
            return decoded, str(failure)
        return decoded, None

    def _write_clip(self, clip: list[tuple[np.ndarray, int]], start: int, source: dict) -> None:
        name = episode_filename(self.next_index)
        self.next_index += 1
        caption = sidecar_caption(Path(source["path"]))
        if caption is not None:  # before the clip: no clip is left without its caption
            add_caption(self.out, name, caption)
        write_episode(self.out / name, clip_episode(np.stack([frame for frame, _ in clip])))
        source["episodes"].append(
            {
                "file": name,
                "frames": [start, start + len(clip)],
                "source_frames": [clip[0][1], clip[-1][1] + 1],
            }
        )
        self.manifest.episodes += 1
        self.manifest.steps += len(clip) - 1
        self.manifest.save(self.out)

    @staticmethod
    def _skip(path: Path, reason: str, kind: str = "unreadable") -> None:
        warnings.warn(VideoImportWarning(path, reason, kind), stacklevel=4)

    def finish(self) -> Manifest:
        """Recount the episodes on disk into the manifest and return it."""
        existing = EpisodeDataset(self.out)
        self.manifest.episodes, self.manifest.steps = len(existing), existing.num_steps
        self.manifest.save(self.out)
        return self.manifest


def _is_sidecar(path: Path) -> bool:
    """``captions.jsonl``, or ``NAME.txt`` beside a video ``NAME.*``."""
    if path.name == CAPTIONS_JSONL:
        return True
    return path.suffix == ".txt" and any(
        path.with_suffix(suffix).is_file() for suffix in VIDEO_SUFFIXES
    )


def sidecar_caption(video: Path) -> dict[str, Any] | None:
    """A video's caption from its sidecar: ``NAME.txt`` beside it (the whole text), or a
    line ``{"file": "NAME.mp4", "caption": "…", …}`` of ``captions.jsonl`` in its folder
    (any other keys are kept as attributes). None without either."""
    text = video.with_suffix(".txt")
    if text.is_file():
        return {"caption": text.read_text(errors="replace").strip(), "sidecar": text.name}
    lines = video.parent / CAPTIONS_JSONL
    if not lines.is_file():
        return None
    for number, line in enumerate(lines.read_text(errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise WorldlabError(f"{lines}, line {number}, is not JSON ({error})") from None
        if isinstance(record, dict) and record.get("file") == video.name:
            if not isinstance(record.get("caption"), str):
                raise WorldlabError(f"{lines}, line {number}: 'caption' must be a string")
            return {k: v for k, v in record.items() if k != "file"} | {"sidecar": lines.name}
    return None


# -- dropping actions ------------------------------------------------------------------
def drop_actions(src: str | Path, out: str | Path, progress: bool = True) -> Manifest:
    """Copy the dataset ``src`` to ``out`` without its actions (``action [L, 0]``).

    Everything else (frames, rewards, terminals, state, control maps, styles, captions) is
    kept, as with ``worldlab collect --drop-actions``. Episodes keep their file names; a
    rerun copies only those missing from ``out``. Unreadable episodes of ``src`` are skipped
    with a warning.
    """
    src, out = Path(src), Path(out)
    if out.resolve() == src.resolve():
        raise WorldlabError("--out must differ from the source dataset: choose a new directory")
    dataset = EpisodeDataset(src)
    fresh = Manifest(
        env_id=dataset.manifest.env_id,
        obs_shape=list(dataset.manifest.obs_shape),
        action={"type": "none"},
        env_kwargs=dict(dataset.manifest.env_kwargs),
        split=dataset.manifest.split,
        skins=list(dataset.manifest.skins),
        seg_classes=list(dataset.manifest.seg_classes),
        has_state=dataset.manifest.has_state,
        state_dims=dataset.manifest.state_dims,
        worldlab_version=worldlab.__version__,
    )
    manifest = open_dataset(out, fresh, "copy", "copy into another --out directory")
    for path, problem in dataset.corrupt.items():
        warnings.warn(f"skipped corrupt episode {path.name}: {problem}", stacklevel=2)
    todo = [p for p in dataset.paths if not _readable(out / p.name)]
    captions = read_captions(src)
    if captions:  # the captions stay true of the frames
        write_json(out / CAPTIONS_NAME, captions)
    with progress_bar(enabled=progress) as bar:
        task = bar.add_task("drop actions", total=len(todo), unit="episodes")
        for path in todo:
            arrays = read_episode(path, mmap=False)
            arrays["action"] = np.zeros((len(arrays["obs"]), 0), np.float32)
            write_episode(out / path.name, arrays)
            bar.advance(task)
    copied = EpisodeDataset(out)
    manifest.episodes, manifest.steps = len(copied), copied.num_steps
    manifest.save(out)
    return manifest


def _readable(path: Path) -> bool:
    try:
        read_episode(path)
    except CorruptEpisodeError:
        return False
    return True
