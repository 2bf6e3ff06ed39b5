"""The curation report: ``OUT/curation/report.html`` (and the same numbers as JSON in
``OUT/curation.json``): counts kept and dropped per reason, throughput, what happened to
each file, and animated previews of kept clips and of the clips each filter dropped."""

from __future__ import annotations

import html
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
from PIL import Image

from worldlab.curate.filters import REASONS
from worldlab.data.episode import atomic_write_bytes

REPORT_DIR = "curation"
PREVIEWS_PER_SECTION = 24
STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px;
       padding: 0 1rem; color: #1d1d1f; line-height: 1.45; }
h2 { margin-top: 2rem; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.5rem 0; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #ddd; padding: 0.25rem 0.6rem; text-align: right; }
th { background: #f4f4f6; } td.name { text-align: left; }
.grid { display: flex; flex-wrap: wrap; gap: 0.6rem; }
figure { margin: 0; width: 128px; } figcaption { font-size: 0.75rem; color: #555; }
img { width: 128px; image-rendering: pixelated; }
"""


def write_report(out: Path, record: dict) -> Path:
    folder = Path(out) / REPORT_DIR
    (folder / "previews").mkdir(parents=True, exist_ok=True)
    summary, items = record["summary"], record["items"]
    parts = [
        "<!doctype html><meta charset='utf-8'><title>worldlab curation</title>",
        f"<style>{STYLE}</style><h1>Curation of {summary['files']} files</h1>",
        _summary_table(summary),
        "<h2>Files</h2>",
        _files_table(items),
    ]
    sections: dict[str, list[dict]] = defaultdict(list)
    for item in items:
        if item["kind"] == "clip":
            sections[item.get("dropped", "kept")].append(item)
    for name in ("kept", *REASONS):
        clips = sections.get(name)
        if clips:
            parts.append(f"<h2>{html.escape(name)}: {len(clips)} clips</h2>")
            parts.append(_gallery(clips[:PREVIEWS_PER_SECTION], folder))
    page = "\n".join(parts)
    path = folder / "report.html"
    atomic_write_bytes(path, lambda file: file.write(page.encode()))
    return path


def _summary_table(summary: dict) -> str:
    rows = [
        ("files", summary["files"]),
        ("shots", summary["shots"]),
        ("clips", summary["clips"]),
        ("clips kept", summary["kept"]),
        *((f"dropped: {reason}", count) for reason, count in summary["dropped"].items()),
        ("clips done by an earlier run", summary["clips_done_before"]),
        ("engine", _engine(summary)),
        ("wall time (s)", summary["seconds"]),
        ("clips / s", summary["clips_per_second"]),
        ("seconds of footage / s", summary["source_seconds_per_second"]),
    ]
    body = "".join(
        f"<tr><td class='name'>{html.escape(str(k))}</td><td>{html.escape(str(v))}</td></tr>"
        for k, v in rows
    )
    return f"<table>{body}</table>"


def _engine(summary: dict) -> str:
    if summary["engine"] == "local":
        return "local (one process)"
    where = summary["address"] or f"local Ray, {summary['workers'] or 'all'} CPUs"
    return f"Ray Data ({where})"


def _files_table(items: list[dict]) -> str:
    per_file: dict[str, Counter] = defaultdict(Counter)
    notes: dict[str, str] = {}
    for item in items:
        counts = per_file[item["path"]]
        if item["kind"] == "file":
            notes[item["path"]] = f"{item['dropped']}: {item['why']}"
        elif item["kind"] == "shot":
            counts["shots dropped (short)"] += 1
        else:
            counts[item.get("dropped", "kept")] += 1
    rows = []
    for path, counts in per_file.items():
        text = notes.get(path) or ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        rows.append(
            f"<tr><td class='name'>{html.escape(Path(path).name)}</td>"
            f"<td class='name'>{html.escape(text)}</td></tr>"
        )
    return f"<table><tr><th>file</th><th>what happened</th></tr>{''.join(rows)}</table>"


def _gallery(clips: list[dict], folder: Path) -> str:
    figures = []
    for clip in clips:
        source = Path(clip["file"])
        if not source.exists():
            continue
        preview = folder / "previews" / f"{clip['name']}.gif"
        if not preview.exists():
            _write_gif(preview, np.load(source))
        caption = f"{Path(clip['path']).name} @ {clip['start']:.1f} s"
        if "why" in clip:
            caption += f" — {clip['why']}"
        if "cluster" in clip:
            caption += f" — cluster {clip['cluster']}"
        figures.append(
            f"<figure><img src='previews/{preview.name}' alt=''>"
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )
    return f"<div class='grid'>{''.join(figures)}</div>"


def _write_gif(path: Path, frames: np.ndarray, fps: float = 10.0) -> None:
    """An animated GIF on one palette for the whole clip (30× faster than a palette per
    frame, which is what PIL does by default)."""
    palette = Image.fromarray(np.concatenate(list(frames), axis=1)).quantize(
        colors=255, method=Image.Quantize.FASTOCTREE
    )
    images = [
        Image.fromarray(frame).quantize(palette=palette, dither=Image.Dither.NONE)
        for frame in frames
    ]
    atomic_write_bytes(
        path,
        lambda file: images[0].save(
            file, format="GIF", save_all=True, append_images=images[1:],
            duration=int(1000 / fps), loop=0,
        ),
    )  # fmt: skip
