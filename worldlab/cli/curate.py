"""``worldlab curate``: videos in, a curated standard dataset and a report out."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from worldlab.curate.config import CurateConfig

console = Console()
DEFAULTS = CurateConfig()


def curate(
    paths: list[Path] = typer.Argument(..., help="video files or folders of them"),
    out: Path = typer.Option(..., help="dataset directory (created; a rerun skips done work)"),
    engine: str = typer.Option("ray", help="ray (Ray Data) or local (one process)"),
    workers: int | None = typer.Option(None, min=1, help="CPUs of the local Ray (default: all)"),
    address: str | None = typer.Option(
        None, help="join this Ray cluster (e.g. auto, ray://head:10001) instead of a local one"
    ),
    work: Path | None = typer.Option(None, help="where staged clips live (default OUT/.curate)"),
    size: int = typer.Option(DEFAULTS.size, min=8, help="output frame size (square)"),
    fps: float = typer.Option(DEFAULTS.fps, help="output frame rate"),
    clip_length: int = typer.Option(DEFAULTS.clip_length, min=2, help="frames per clip"),
    shot_threshold: float = typer.Option(
        DEFAULTS.shot_threshold, help="PySceneDetect ContentDetector threshold"
    ),
    min_shot_seconds: float = typer.Option(DEFAULTS.min_shot_seconds, help="shorter shots drop"),
    black_level: float = typer.Option(DEFAULTS.black_level, help="crop borders darker (0..1)"),
    static_motion: float = typer.Option(
        DEFAULTS.static_motion, help="mean |frame difference| below: static"
    ),
    min_motion: float = typer.Option(DEFAULTS.min_motion, help="below: low motion"),
    min_coherence: float = typer.Option(
        DEFAULTS.min_coherence, help="consecutive-frame correlation below: too fast"
    ),
    min_brightness: float = typer.Option(DEFAULTS.min_brightness, help="mean luma below: dark"),
    min_sharpness: float = typer.Option(DEFAULTS.min_sharpness, help="below: blurry"),
    dedup_distance: int = typer.Option(
        DEFAULTS.dedup_distance, help="pHash bits apart at most: duplicate"
    ),
    clusters: int = typer.Option(DEFAULTS.clusters, min=0, help="k-means clusters (0: none)"),
    seed: int = typer.Option(DEFAULTS.seed, help="k-means seed"),
) -> None:
    """Curate videos: shots, transcode, crop, filter, dedup, cluster → a standard dataset."""
    import warnings

    from worldlab.curate import curate as run_curation
    from worldlab.data import VideoImportWarning

    config = CurateConfig(
        size=size, fps=fps, clip_length=clip_length, shot_threshold=shot_threshold,
        min_shot_seconds=min_shot_seconds, black_level=black_level,
        static_motion=static_motion, min_motion=min_motion, min_coherence=min_coherence,
        min_brightness=min_brightness, min_sharpness=min_sharpness,
        dedup_distance=dedup_distance, clusters=clusters, seed=seed,
    )  # fmt: skip
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", VideoImportWarning)
        summary = run_curation(paths, out, config, engine, workers, address, work)
    for warning in caught:
        if isinstance(warning.message, VideoImportWarning):
            message = warning.message
            colour = "yellow" if message.kind == "duplicate" else "red"
            console.print(f"[{colour}]skipped:[/] {message.path}: {message.reason}", soft_wrap=True)
    table = Table(title=f"curated {summary['files']} files into {out}")
    table.add_column("")
    table.add_column("count", justify="right")
    for name in ("shots", "clips", "kept"):
        table.add_row(name, str(summary[name]))
    for reason, count in summary["dropped"].items():
        table.add_row(f"dropped: {reason}", str(count))
    console.print(table)
    console.print(
        f"{summary['clips_per_second']} clips/s, {summary['source_seconds_per_second']} s of "
        f"footage/s on {summary['engine']}; report: {out / 'curation' / 'report.html'}"
    )
