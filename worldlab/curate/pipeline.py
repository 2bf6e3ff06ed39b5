"""``worldlab curate``: footage in, a standard worldlab dataset and a report out.

read → shots → transcode → measure (the engine, ``engine.py``) → filter → dedup →
cluster → write. Each kept clip is one action-free episode (as ``data import-video``
writes them), its caption sidecar kept; ``OUT/curation.json`` records what happened to
every file, shot and clip; ``OUT/curation/report.html`` shows it.
"""

from __future__ import annotations

import contextlib
import time
import warnings
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import numpy as np

import worldlab
from worldlab.curate.config import CurateConfig
from worldlab.curate.engine import ENGINES, ray_session, run_local, run_ray
from worldlab.curate.filters import (
    DUPLICATE,
    REASONS,
    UNREADABLE,
    failed_filters,
    kmeans,
    near_duplicates,
    why,
)
from worldlab.curate.report import write_report
from worldlab.data.captions import add_caption
from worldlab.data.dataset import EpisodeDataset
from worldlab.data.episode import (
    EPISODE_GLOB,
    episode_filename,
    read_json,
    write_episode,
    write_json,
)
from worldlab.data.import_video import (
    VIDEO_ENV_ID,
    VideoImportWarning,
    clip_episode,
    file_sha256,
    find_videos,
    sidecar_caption,
)
from worldlab.data.manifest import Manifest, open_dataset
from worldlab.errors import WorldlabError
from worldlab.progress import progress_bar

RECORD_NAME = "curation.json"
STAGING_NAME = ".curate"


def curate(
    paths: Iterable[str | Path] | str | Path,
    out: str | Path,
    config: CurateConfig | None = None,
    engine: str = "ray",
    workers: int | None = None,
    address: str | None = None,
    work: str | Path | None = None,
    progress: bool = True,
) -> dict:
    """Curate the videos in ``paths`` (files or folders) into the dataset ``out``.

    ``engine`` is ``"ray"`` (Ray Data: a local Ray with ``workers`` CPUs, or the cluster at
    ``address``) or ``"local"`` (one process). ``work`` holds the staged clips (default
    ``OUT/.curate``): a rerun skips every file, shot and clip done before. Returns the
    summary written to the report (counts kept and dropped per reason, throughput).
    """
    config = config or CurateConfig()
    if engine not in ENGINES:
        raise WorldlabError(f"--engine must be one of {', '.join(ENGINES)}, got '{engine}'")
    out = Path(out)
    inputs = find_videos([paths] if isinstance(paths, str | Path) else paths, exclude=out)
    fresh = Manifest(
        env_id=VIDEO_ENV_ID,
        obs_shape=[config.size, config.size, 3],
        action={"type": "none"},
        env_kwargs={"curate": config.to_dict()},
        worldlab_version=worldlab.__version__,
    )
    manifest = open_dataset(
        out, fresh, "curation", "curate with the same settings, or into another --out directory"
    )
    staging = Path(work) if work else out / STAGING_NAME
    staging = staging / config.clip_key()
    previous = _previous_record(out)

    files, items = _hash_files(inputs)
    with ray_session(workers, address) if engine == "ray" else contextlib.nullcontext():
        started = time.perf_counter()  # Ray's start-up (seconds) is not curation work
        runner = (
            run_ray(files, config, str(staging), workers)
            if engine == "ray"
            else run_local(files, config, str(staging))
        )
        with progress_bar(enabled=progress) as bar:
            task = bar.add_task(f"curate ({engine})", total=None, unit="items")
            for item in runner:
                items.append(item)
                bar.advance(task)
        seconds = time.perf_counter() - started

    clips = _decide(items, config, previous)
    written = _write(out, manifest, clips, previous)
    summary = _summary(inputs, items, clips, seconds, engine, workers, address)
    record = {"settings": config.to_dict(), "summary": summary, "items": _slim(items)}
    write_json(out / RECORD_NAME, record)
    write_report(out, record)
    summary["written"] = written
    for item in items:
        if item["kind"] == "file" and "dropped" in item:
            warnings.warn(
                VideoImportWarning(Path(item["path"]), item["why"], item["dropped"]), stacklevel=2
            )
    return summary


def _hash_files(inputs: list[Path]) -> tuple[list[dict], list[dict]]:
    """The files to process (by content) and the items already decided: unreadable files
    and exact copies of another input."""
    files, decided, seen = [], [], {}
    for path in inputs:
        try:
            digest = file_sha256(path)
        except OSError as error:
            decided.append(_file_item(path, "", UNREADABLE, f"cannot be read ({error})"))
            continue
        if digest in seen:
            why = f"same content as {seen[digest]}"
            decided.append(_file_item(path, digest, DUPLICATE, why))
            continue
        seen[digest] = path
        files.append({"path": str(path), "sha256": digest})
    return files, decided


def _file_item(path: Path, digest: str, reason: str, why: str) -> dict:
    return {"kind": "file", "path": str(path), "sha256": digest, "dropped": reason, "why": why}


def _previous_record(out: Path) -> dict:
    """Clip name → episode file of clips written by earlier runs into ``out``."""
    path = out / RECORD_NAME
    if not path.exists():
        return {}
    record = read_json(path, "", "delete it to curate into this directory afresh")
    return {
        item["name"]: item["episode"]
        for item in record.get("items", [])
        if item.get("episode") and (out / item["episode"]).exists()
    }


def _decide(items: list[dict], config: CurateConfig, previous: dict) -> list[dict]:
    """Set ``dropped``/``why`` (filters, then duplicates) and ``cluster`` on the clips;
    return the clips in writing order: earlier runs' first, then by file, shot, clip.
    Of near-duplicates, the one kept is an earlier run's, else the one from the larger
    source frames."""
    clips = [item for item in items if item["kind"] == "clip"]
    clips.sort(key=lambda c: (c["name"] not in previous, c["path"], c["shot"]["index"], c["clip"]))
    for clip in clips:
        failed = failed_filters(clip["measures"], config)
        if failed:
            clip["dropped"], clip["failed"] = failed[0], failed
            clip["why"] = why(failed[0], clip["measures"], config)
    passing = sorted(
        (clip for clip in clips if "dropped" not in clip),
        key=lambda c: (c["name"] not in previous, -c["probe"]["width"] * c["probe"]["height"]),
    )
    duplicates = near_duplicates(
        [c["measures"]["phash"] for c in passing],
        [f"{c['sha256']}_{c['shot']['index']}" for c in passing],
        config.dedup_distance,
    )
    for index, original in duplicates.items():
        clip, kept = passing[index], passing[original]
        clip["dropped"] = DUPLICATE
        clip["why"] = f"near-duplicate of {Path(kept['path']).name} at {kept['start']:.1f} s"
    kept = [clip for clip in passing if "dropped" not in clip]
    if config.clusters and kept:
        points = np.array([clip["measures"]["embedding"] for clip in kept])
        for clip, label in zip(kept, kmeans(points, config.clusters, config.seed), strict=True):
            clip["cluster"] = int(label)
    return clips


def _write(out: Path, manifest: Manifest, clips: list[dict], previous: dict) -> int:
    """Write the kept clips not written before as episodes; return how many were written."""
    names = [p.name for p in out.glob(EPISODE_GLOB)]
    next_index = 1 + max((int(name[3:9]) for name in names), default=-1)
    written = 0
    for clip in clips:
        if "dropped" in clip:
            continue
        if clip["name"] in previous:
            clip["episode"] = previous[clip["name"]]
            continue
        frames = np.load(clip["file"])
        name = episode_filename(next_index)
        next_index += 1
        caption = sidecar_caption(Path(clip["path"]))
        if caption is not None:  # before the clip: no clip is left without its caption
            add_caption(out, name, caption)
        write_episode(out / name, clip_episode(frames))
        clip["episode"] = name
        written += 1
    existing = EpisodeDataset(out)
    manifest.episodes, manifest.steps = len(existing), existing.num_steps
    manifest.save(out)
    return written


def _summary(inputs, items, clips, seconds, engine, workers, address) -> dict:
    dropped = Counter(item["dropped"] for item in items if "dropped" in item)
    shots = len({(item["sha256"], item["shot"]["index"]) for item in items if "shot" in item})
    source_seconds = sum(
        item["shot"]["end"] - item["shot"]["start"]
        for item in items
        if item["kind"] == "shot" or (item["kind"] == "clip" and item["clip"] == 0)
    )
    done_before = sum(1 for clip in clips if clip.get("done_before"))
    measured = len(clips) - done_before  # throughput counts this run's work only
    return {
        "files": len(inputs),
        "shots": shots,
        "clips": len(clips),
        "kept": sum(1 for clip in clips if "dropped" not in clip),
        "clips_done_before": done_before,
        "dropped": {reason: dropped[reason] for reason in REASONS if dropped[reason]},
        "engine": engine,
        "workers": workers,
        "address": address,
        "seconds": round(seconds, 3),
        "clips_per_second": round(measured / seconds, 3) if seconds > 0 else None,
        "source_seconds_per_second": round(source_seconds / seconds, 3) if seconds > 0 else None,
    }


def _slim(items: list[dict]) -> list[dict]:
    """Items as recorded: without the embeddings (long and only needed for clustering)."""
    slim = []
    for item in sorted(items, key=lambda i: (i["path"], i.get("shot", {}).get("index", -1),
                                             i.get("clip", -1))):  # fmt: skip
        item = dict(item)
        if "measures" in item:
            item["measures"] = {k: v for k, v in item["measures"].items() if k != "embedding"}
        slim.append(item)
    return slim
