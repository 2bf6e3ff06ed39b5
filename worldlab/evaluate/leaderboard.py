"""A leaderboard across runs and families: the same metrics for every run on the same
in-distribution data and on out-of-distribution splits, beside the reference rows.

Rows: each run (its family and directory), then ``repeat_last`` and ``mean_frame`` (the
trivial baselines), ``simulator`` (GT′: the simulator re-run from slightly perturbed
states, the level of a perfect model) and ``real_frames`` (the state reader on the real
video: the measurement floor). Columns, per split: open-loop PSNR (mean over the
horizon), ball position error (pixels), velocity error (units/s), gravity error
``|ĝ − g| / g``, the share of collisions drawn on time, the interpenetration rate, the
physics-violation rate and the physics-IQ-style score (GT′ = 100); in distribution also
the Fréchet distance in the offline encoder's features (not comparable with published
FID/FVD) and FVD, FID and LPIPS when their weights are supplied. ``ood_gap``: each run's
position error on a split divided by its in-distribution one.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import numpy as np

from worldlab.data.dataset import EpisodeDataset
from worldlab.data.episode import atomic_write_bytes, read_json
from worldlab.errors import DatasetError, WorldlabError
from worldlab.evaluate.open_loop import evaluate_open_loop
from worldlab.evaluate.physics.iq import physics_iq
from worldlab.evaluate.physics.section import has_physics, physics_section
from worldlab.evaluate.run import training_mean_frame
from worldlab.paths import PLANNING_HORIZON_FILE, output_dir

METRICS = (  # (key, column label, digits)
    ("psnr", "PSNR (dB) ↑", 2),
    ("position_px", "position error (px) ↓", 2),
    ("velocity", "velocity error (units/s) ↓", 3),
    ("gravity", "|ĝ − g|/g ↓", 2),
    ("collisions", "collisions on time ↑", 2),
    ("interpenetration", "interpenetration ↓", 3),
    ("violations", "violation rate ↓", 2),
    ("physics_iq", "physics-IQ-style ↑", 1),
)
PERCEPTUAL = (  # in distribution only: (key, column label, digits)
    ("encoder_fd", "FD, worldlab encoder ↓", 2),
    ("fvd", "FVD ↓", 1),
    ("fid", "FID ↓", 2),
    ("lpips", "LPIPS ↓", 3),
)
REFERENCES = ("repeat_last", "mean_frame", "simulator", "real_frames")


def _physics_row(summary: dict[str, Any], size: int) -> dict[str, float | None]:
    position = summary["position_error"]["mean"]
    return {
        "position_px": None if position is None else position * size,
        "velocity": summary["velocity_error"]["mean"],
        "gravity": summary["gravity_error"]["mean"],
        "collisions": summary["collision_timing"]["mean"],
        "interpenetration": summary["interpenetration"]["mean"],
        "violations": summary["violation_rate"]["mean"],
    }


def _mean(values: list[float | None]) -> float | None:
    finite = [v for v in values if v is not None]
    return float(np.mean(finite)) if finite else None


def _perceptual(model, dataset: EpisodeDataset, options: dict[str, Any], progress: bool):
    """The perceptual columns of one run, and what was skipped, by metric."""
    from worldlab.evaluate.perceptual_section import SECTION
    from worldlab.evaluate.sections import EvalOptions

    known = {"horizon", "context", "episodes", "starts", "seed"}
    section = SECTION.compute(
        model, dataset, EvalOptions(**{k: options[k] for k in known}, progress=progress)
    )
    entries = {key: section[key] for key, _, _ in PERCEPTUAL}
    values = {key: entry.get("value") for key, entry in entries.items()}
    skipped = {key: entry["skipped"] for key, entry in entries.items() if "skipped" in entry}
    return values, skipped


def score_split(
    runs: dict[str, Any],
    data: Path,
    options: dict[str, Any],
    progress: bool,
    perceptual: bool = False,
    mean_frames: dict[str, Any] | None = None,
    settings: dict[str, dict[str, Any]] | None = None,
) -> tuple[dict[str, dict[str, float | None]], dict[str, str]]:
    """Every run's and every reference row's metrics on one dataset, and the perceptual
    metrics skipped (with what to supply). The reference rows are computed once, with the
    first run; the physics-IQ-style score of every row is normalised against GT′.
    ``mean_frames``: each run's training mean frame, when the caller has them already;
    ``settings``: the sampling options a row is scored with (``WorldModel.sampling``)."""
    if mean_frames is None:
        mean_frames = {name: training_mean_frame(model) for name, model in runs.items()}
    dataset = EpisodeDataset(data)
    if not has_physics(dataset):
        raise DatasetError(
            f"{data} is not bounce data with its true state: the leaderboard's physics "
            "columns need `worldlab collect --env bounce` (any --split)"
        )
    rows: dict[str, dict[str, float | None]] = {}
    reports: dict[str, dict[str, Any]] = {}
    skipped: dict[str, str] = {}
    references = baselines = size = None
    for name, model in runs.items():
        with model.sampling(**(settings or {}).get(name, {})):
            fidelity = evaluate_open_loop(
                model,
                dataset,
                options["horizon"],
                options["context"],
                options["episodes"],
                options["starts"],
                mean_frames[name],
                options["seed"],
                progress=progress,
            )
            section = physics_section(
                model, dataset, progress=progress, references=references is None, **options
            )
            if perceptual:
                values, skipped = _perceptual(model, dataset, options, progress)
        if references is None:
            references, baselines = section["rows"], fidelity["baselines"]
            size = section["world"]["size"]
        reports[name] = section["rows"]["model"]
        rows[name] = {"psnr": _mean(fidelity["model"]["psnr"])}
        rows[name] |= _physics_row(reports[name]["summary"], size)
        if perceptual:
            rows[name] |= values
    for name in REFERENCES:
        physics = _physics_row(references[name]["summary"], size) if name in references else {}
        if name in references:
            reports[name] = references[name]
        # The simulator and the real frames are not predictions of pixels here.
        psnr = _mean(baselines[name]["psnr"]) if name in baselines else None
        rows[name] = {"psnr": psnr, **{k: physics.get(k) for k, _, _ in METRICS[1:]}}
    for name, entry in physics_iq(reports).items():
        rows[name]["physics_iq"] = entry["score"]
    return rows, skipped


def _unique(name: str, taken) -> str:
    """``name``, or ``name #2``, ``#3``... when two runs or splits share a directory name."""
    candidate, number = name, 1
    while candidate in taken:
        number += 1
        candidate = f"{name} #{number}"
    return candidate


def build_leaderboard(
    runs: list[str | Path],
    data: str | Path,
    ood: list[str | Path] | None = None,
    horizon: int = 15,
    context: int = 5,
    episodes: int | None = None,
    starts: int = 4,
    seed: int = 0,
    progress: bool = True,
    perceptual: bool = True,
    sampling: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Score every run on ``data`` (in distribution) and each ``ood`` dataset; with
    ``perceptual``, the perceptual columns in distribution too. ``sampling``: sampling
    options (``WorldModel.sampling_options``); every run that declares them all is scored
    once more with them, as a row of its own (e.g. ``flow``'s expected frame,
    ``{"prediction": "mean"}``)."""
    import worldlab

    if not runs:
        raise WorldlabError("give at least one run directory")
    models, planning, settings = {}, {}, {}
    for run in runs:
        model = worldlab.load(run)
        name = _unique(f"{model.run_config['family']} ({Path(run).name})", models)
        models[name], planning[name] = model, _planning_horizon(Path(run))
        if sampling and set(sampling) <= set(model.sampling_settings()):
            variant = _unique(
                f"{name}, " + ", ".join(f"{k}={v}" for k, v in sampling.items()), models
            )
            models[variant], planning[variant] = model, planning[name]
            settings[variant] = dict(sampling)
    if sampling and not settings:
        raise WorldlabError(
            f"no run declares the sampling options {', '.join(sampling)}: see each family's "
            "sampling_options (flow: prediction, sampling_steps, ...; rssm: imagine_latents)"
        )
    options = dict(horizon=horizon, context=context, episodes=episodes, starts=starts, seed=seed)
    splits = {"in distribution": Path(data)}
    for path in ood or []:
        splits[_unique(Path(path).name, splits)] = Path(path)
    table, skipped = {}, {}
    mean_frames = {name: training_mean_frame(model) for name, model in models.items()}
    for name, path in splits.items():
        first = not table
        table[name], missing = score_split(
            models, path, options, progress, perceptual=first and perceptual,
            mean_frames=mean_frames, settings=settings,
        )  # fmt: skip
        skipped = missing if first else skipped
    gaps: dict[str, dict[str, float | None]] = {}
    for run in models:
        base = table["in distribution"][run]["position_px"]
        gaps[run] = {
            split: (rows[run]["position_px"] / base if base and rows[run]["position_px"] else None)
            for split, rows in table.items()
            if split != "in distribution"
        }
    return {
        "splits": {name: str(path) for name, path in splits.items()},
        "options": options,
        "sampling": settings,
        "table": table,
        "perceptual_skipped": skipped,
        "ood_gap": gaps,
        "planning_horizon": planning,
    }


def _planning_horizon(run: Path) -> dict[str, Any] | None:
    """What ``worldlab bench planning-horizon`` measured for ``run``, if it was run."""
    path = run / PLANNING_HORIZON_FILE
    if not path.exists():
        return None
    record = read_json(path, "", "rerun `worldlab bench planning-horizon` on the run")
    return {key: record[key] for key in ("planning_horizon", "best_horizon", "env_id", "episodes")}


def _format(value: float | None, digits: int) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def leaderboard_markdown(board: dict[str, Any]) -> str:
    """One markdown table per split: rows × metrics (the perceptual columns in
    distribution only)."""
    splits = list(board["table"])
    lines: list[str] = []
    for number, split in enumerate(splits):
        rows = board["table"][split]
        columns = list(METRICS)
        if number == 0:
            columns += [c for c in PERCEPTUAL if any(c[0] in row for row in rows.values())]
        head = ["row"] + [label.replace("|", "\\|") for _, label, _ in columns]
        path = board.get("splits", {}).get(split)
        lines += [f"**{split}**" + (f" (`{path}`)" if path else ""), ""]
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for row, values in rows.items():
            cells = [row] + [_format(values.get(key), digits) for key, _, digits in columns]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    for key, message in board.get("perceptual_skipped", {}).items():
        lines.append(f"- {key.upper()} skipped: {message}")
    if board["ood_gap"] and len(splits) > 1:
        lines += ["", "OOD gap (position error on the split / in distribution):", ""]
        for run, gaps in board["ood_gap"].items():
            text = ", ".join(f"{split} {_format(gap, 1)}×" for split, gap in gaps.items())
            lines.append(f"- {run}: {text}")
    planning = board.get("planning_horizon") or {}
    if planning:
        lines += [
            "",
            "Planning horizon (`worldlab bench planning-horizon`: the longest MPC horizon",
            "whose real return beats the best shorter one, paired 95% CI):",
            "",
        ]
        for run, found in planning.items():
            text = (
                f"{found['planning_horizon']} (best return at {found['best_horizon']}; "
                f"{found['env_id']}, {found['episodes']} episodes)"
                if found
                else "not measured"
            )
            lines.append(f"- {run}: {text}")
    return "\n".join(lines) + "\n"


def write_leaderboard(board: dict[str, Any], out: str | Path) -> list[Path]:
    """``out/leaderboard.{json,md,html}``, each written atomically."""
    out = output_dir(out, "leaderboard")
    markdown = leaderboard_markdown(board)
    page = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        "<title>worldlab leaderboard</title></head><body><h1>worldlab leaderboard</h1>"
        f"<p>{html.escape(__doc__.split(chr(10) + chr(10))[1])}</p>"
        f"<pre>{html.escape(markdown)}</pre></body></html>\n"
    )
    written = []
    for name, text in (
        ("leaderboard.json", json.dumps(board, indent=2, allow_nan=False) + "\n"),
        ("leaderboard.md", markdown),
        ("leaderboard.html", page),
    ):
        path = out / name
        atomic_write_bytes(path, lambda file, text=text: file.write(text.encode("utf-8")))
        written.append(path)
    return written
