"""A self-contained HTML page for one evaluation: plot, per-horizon table, controllability,
videos, config.

Inline CSS and no external assets; the plot and videos are files beside the page,
referenced by relative path, so the run directory can be zipped and opened anywhere.
"""

from __future__ import annotations

import html
import json
import os
import time
from pathlib import Path
from typing import Any

from worldlab.data.episode import atomic_write_bytes
from worldlab.evaluate.sections import all_sections, cell
from worldlab.paths import output_dir

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto;
       max-width: 1100px; padding: 0 1rem; color: #1d1d1f; line-height: 1.45; }
h1 { margin-bottom: 0.2rem; } h2 { margin-top: 2rem; border-bottom: 1px solid #ddd; }
.meta, .notes { color: #555; }
table { border-collapse: collapse; margin: 0.5rem 0; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #ddd; padding: 0.25rem 0.6rem; text-align: right; }
th { background: #f4f4f6; } td.name { text-align: left; }
.yes { color: #137333; } .no { color: #b3261e; }
img, video { max-width: 100%; image-rendering: pixelated; }
figure { margin: 1rem 0; } figcaption { color: #555; font-size: 0.9rem; }
pre { background: #f6f8fa; padding: 0.8rem; overflow-x: auto; }
"""
COLUMNS = ("model", "repeat_last", "mean_frame")
METRICS = (("psnr", "PSNR (dB)", 2), ("ssim", "SSIM", 3))


def _relative(path: str | Path, out_dir: Path) -> str:
    """A path the page can load: relative to ``out_dir``, with ``/`` separators.

    A relative ``path`` is taken as relative to ``out_dir`` already, unless only the
    current directory holds it.
    """
    path = Path(path)
    if not path.is_absolute() and ((out_dir / path).exists() or not path.exists()):
        return path.as_posix()
    try:
        return Path(os.path.relpath(path.resolve(), out_dir.resolve())).as_posix()
    except ValueError:  # another drive on Windows: keep it absolute
        return path.resolve().as_posix()


def _media(path: str, title: str, out_dir: Path) -> str:
    source = html.escape(_relative(path, out_dir), quote=True)
    alt = html.escape(title, quote=True)
    if Path(path).suffix.lower() == ".mp4":
        element = (
            f'<video src="{source}" controls loop autoplay muted playsinline title="{alt}"></video>'
        )
    else:
        element = f'<img src="{source}" alt="{alt}">'
    return f"<figure>{element}<figcaption>{html.escape(title)}</figcaption></figure>"


def _metrics_table(report: dict[str, Any]) -> str:
    blocks = {"model": report["model"], **report["baselines"]}
    head = "".join(
        f"<th>{html.escape(f'{label}: {name}')}</th>" for _, label, _ in METRICS for name in COLUMNS
    )
    rows = []
    for step in range(report["horizon"]):
        cells = [f"<td>{step + 1}</td>"]
        for metric, _, digits in METRICS:
            values = {name: blocks[name][metric][step] for name in COLUMNS}
            best = max((v for v in values.values() if v is not None), default=None)
            for name in COLUMNS:
                cells.append(
                    cell(
                        values[name],
                        blocks[name][f"{metric}_ci"][step],
                        digits,
                        values[name] is not None and values[name] == best,
                    )
                )
        reward = report["model"].get("reward_mae", [None] * report["horizon"])[step]
        cells.append(f"<td>{'–' if reward is None else f'{reward:.3f}'}</td>")
        beats = report["summary"]["beats_best_baseline_at"][step]
        cells.append(f'<td class="{"yes" if beats else "no"}">{"yes" if beats else "no"}</td>')
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return (
        "<table><tr><th>steps ahead</th>" + head + "<th>reward MAE</th>"
        "<th>model beats best baseline (PSNR)</th></tr>\n" + "\n".join(rows) + "</table>"
    )


def _timings_table(timings: dict[str, Any]) -> str:
    rows = []
    for name, value in timings.items():
        text = f"{value:.2f} s" if isinstance(value, (int, float)) else str(value)
        rows.append(
            f'<tr><td class="name">{html.escape(str(name))}</td><td>{html.escape(text)}</td></tr>'
        )
    return "<table><tr><th>stage</th><th>time</th></tr>" + "".join(rows) + "</table>"


def write_html_report(
    out_dir: str | Path,
    report: dict[str, Any],
    videos: list[tuple[str, str]],
    plot_png: str | Path,
    config: dict[str, Any],
    timings: dict[str, Any],
    notes: str = "",
    name: str = "report.html",
) -> Path:
    """Write ``out_dir/name`` (atomically) and return its path.

    ``report``: what ``evaluate_open_loop`` (or ``evaluate_run``, with its
    ``controllability`` section) returns; ``videos``: ``(title, path)`` pairs
    (``.mp4`` shown as ``<video>``, ``.gif`` as ``<img>``); ``plot_png``: the error-over-
    horizon plot; ``config``: shown as JSON; ``timings``: ``{stage: seconds}``.
    """
    out_dir = output_dir(out_dir, "report")
    summary = report["summary"]
    beats = summary["beats_best_baseline_at"]
    verdict = (
        f"The model beats the best baseline at {sum(beats)} of {len(beats)} horizon steps "
        f"(mean PSNR {summary['model_psnr_mean']:.2f} dB vs best baseline "
        f"{summary['best_baseline_psnr_mean']:.2f} dB)."
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>worldlab evaluation</title>",
        f"<style>{STYLE}</style></head><body>",
        "<h1>worldlab evaluation</h1>",
        f'<p class="meta">{html.escape(time.strftime("%Y-%m-%d %H:%M"))} · '
        f"{report['windows']} windows · {report['context']} context frames · "
        f"horizon {report['horizon']}</p>",
    ]
    if notes:
        parts.append(f'<p class="notes">{html.escape(notes)}</p>')
    parts += [
        "<h2>Open-loop fidelity over the horizon</h2>",
        f"<p>{html.escape(verdict)}</p>",
        _media(str(plot_png), "PSNR and SSIM against steps ahead; shaded: 95% CI", out_dir),
        "<h2>Per horizon step</h2>",
        "<p>Mean ± 95% confidence half-width over windows; the best of model and baselines "
        "is bold. Baselines are scored on the same target frames.</p>",
        _metrics_table(report),
    ]
    parts += [
        section.html(report[section.key]) for section in all_sections() if section.key in report
    ]
    if videos:
        parts.append(
            "<h2>Real vs imagined</h2>"
            "<p>Ground truth | imagined | absolute error ×2; a red dot marks open-loop "
            "frames.</p>"
        )
        parts += [_media(path, title, out_dir) for title, path in videos]
    parts += [
        "<h2>Configuration</h2>",
        f"<pre>{html.escape(json.dumps(config, indent=2, sort_keys=True, default=str))}</pre>",
        "<h2>Timings</h2>",
        _timings_table(timings),
        "</body></html>",
    ]
    page = "\n".join(parts) + "\n"
    path = out_dir / name
    atomic_write_bytes(path, lambda file: file.write(page.encode("utf-8")))
    return path
