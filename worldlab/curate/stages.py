"""The curation stages as row functions, the same under Ray Data and in a plain loop.

A row is ``{"item": JSON text}`` (one column, so rows of different kinds never clash in
Ray's Arrow blocks). An item is a file, a shot or a clip, carrying where it came from and,
once dropped, ``dropped`` (a reason of ``filters.REASONS``) and ``why``.

Every stage stores what it made under the staging directory before returning it, and
returns the stored result when it is there already, so an interrupted run redoes only the
work it had not finished: ``videos/SHA.json`` (probe and shots), ``shots/SHA_SHOT.json``
(the shot's clips, written after its clip files) and ``clips/NAME.npy`` + ``.json``
(frames and measures).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np

from worldlab.curate.clips import decode_shot, shot_clips
from worldlab.curate.config import CurateConfig
from worldlab.curate.filters import SHORT, UNREADABLE
from worldlab.curate.score import measure
from worldlab.curate.shots import Probe, Shot, detect_shots, probe
from worldlab.data.episode import atomic_write_bytes, write_json
from worldlab.data.import_video import VideoReadError


def pack(item: dict) -> dict:
    return {"item": json.dumps(item)}


def unpack(row: dict) -> dict:
    return json.loads(row["item"])


def _cached(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None  # missing or half-written by a killed run: redo it


class SplitVideo:
    """File → its shots (or the file, dropped as unreadable)."""

    def __init__(self, config: dict, staging: str):
        self.config, self.staging = CurateConfig(**config), Path(staging)

    def __call__(self, row: dict) -> list[dict]:
        item = unpack(row)
        record_path = self.staging / "videos" / f"{item['sha256']}.json"
        record = _cached(record_path)
        if record is None:
            record = self._split(Path(item["path"]))
            record_path.parent.mkdir(parents=True, exist_ok=True)
            write_json(record_path, record)
        if "error" in record:
            return [pack({**item, "kind": "file", "dropped": UNREADABLE, "why": record["error"]})]
        return [
            pack({**item, "kind": "shot", "probe": record["probe"], "shot": shot})
            for shot in record["shots"]
        ]

    def _split(self, path: Path) -> dict:
        try:
            info = probe(path)
            shots = detect_shots(path, info, self.config)
        except VideoReadError as error:
            return {"error": str(error)}
        return {"probe": asdict(info), "shots": [asdict(shot) for shot in shots]}


class TranscodeShot:
    """Shot → its clips, stored as ``.npy`` (or the shot, dropped as too short)."""

    def __init__(self, config: dict, staging: str):
        self.config, self.staging = CurateConfig(**config), Path(staging)

    def __call__(self, row: dict) -> list[dict]:
        item = unpack(row)
        if item["kind"] != "shot":
            return [row]
        shot = Shot(**item["shot"])
        if shot.seconds < self.config.min_shot_seconds:
            why = f"{shot.seconds:.2f} s, under --min-shot-seconds {self.config.min_shot_seconds}"
            return [pack({**item, "dropped": SHORT, "why": why})]
        record_path = self.staging / "shots" / f"{item['sha256']}_{shot.index:04d}.json"
        record = _cached(record_path)
        if record is not None:
            item["done_before"] = True
        else:
            record = self._transcode(Path(item["path"]), Probe(**item["probe"]), shot, item)
            record_path.parent.mkdir(parents=True, exist_ok=True)
            write_json(record_path, record)
        if not record["clips"]:
            return [pack({**item, "dropped": SHORT, "why": record["why"]})]
        folder = self.staging / "clips"
        return [
            pack({**item, "kind": "clip", **clip, "file": str(folder / f"{clip['name']}.npy")})
            for clip in record["clips"]
        ]

    def _transcode(self, path: Path, info: Probe, shot: Shot, item: dict) -> dict:
        try:
            frames = decode_shot(path, info, shot, self.config)
        except VideoReadError as error:
            return {"clips": [], "why": f"cannot be decoded ({error})"}
        clips, box = shot_clips(frames, self.config)
        if not clips:
            why = (
                f"{len(frames)} frames at {self.config.fps:g} fps, "
                f"under one clip of {self.config.clip_length}"
            )
            return {"clips": [], "why": why}
        records = []
        folder = self.staging / "clips"
        folder.mkdir(parents=True, exist_ok=True)
        length = self.config.clip_length / self.config.fps
        for number, clip in enumerate(clips):
            name = f"{item['sha256'][:16]}_{shot.index:04d}_{number:03d}"
            atomic_write_bytes(folder / f"{name}.npy", lambda file, c=clip: np.save(file, c))
            start = shot.start + number * length
            records.append(
                {"clip": number, "name": name, "start": start, "end": start + length, "box": box}
            )
        return {"clips": records}


class MeasureClip:
    """Clip → the clip with its ``measures`` (see ``score.measure``), stored beside its
    frames. A class so that Ray runs it as an actor pool: a stage that loads a model (a
    learned embedding, an aesthetic scorer) loads it once per actor, not once per clip."""

    def __call__(self, row: dict) -> dict:
        item = unpack(row)
        if item["kind"] != "clip" or "dropped" in item:
            return row
        path = Path(item["file"]).with_suffix(".json")
        measures = _cached(path)
        if measures is None:
            measures = measure(np.load(item["file"]))
            write_json(path, measures)
        return pack({**item, "measures": measures})
