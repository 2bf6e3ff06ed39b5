"""``worldlab train FAMILY`` — train or resume a world model."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

console = Console(soft_wrap=True)


def train(
    family: str = typer.Argument(..., help="world-model family, e.g. rssm"),
    data: Path = typer.Option(..., help="dataset directory (from `worldlab collect`)"),
    out: Path = typer.Option(..., help="run directory: config, checkpoints, metrics"),
    steps: int | None = typer.Option(None, min=1, help="total gradient steps (train.steps)"),
    preset: str | None = typer.Option(None, help="size preset of the family (e.g. tiny, xs, s)"),
    set_: list[str] | None = typer.Option(
        None, "--set", help="override SECTION.FIELD=VALUE (repeatable)"
    ),
    resume: bool = typer.Option(False, help="continue the run in --out from its last checkpoint"),
    stage: str | None = typer.Option(
        None, help="training stage of a staged family, e.g. genie: tokenizer, lam, dynamics, all"
    ),
    device: str | None = typer.Option(None, help="auto, cpu, cuda, cuda:N, mps"),
    max_minutes: float | None = typer.Option(None, help="stop after this many minutes"),
    init: Path | None = typer.Option(
        None,
        help="start from this run's weights (train.init); with --set train.freeze_init=true "
        "only what it lacks trains, e.g. control branches on a frozen base",
    ),
) -> None:
    """Train a world model of FAMILY on a dataset (Ctrl-C saves a checkpoint and exits)."""
    from worldlab.config import parse_assignments
    from worldlab.models import get_family
    from worldlab.train import train as run_training
    from worldlab.train.config import stage_override

    overrides = parse_assignments(set_)
    if stage is not None:
        overrides.update(stage_override(get_family(family), stage))
    for name, value in (
        ("train.steps", steps),
        ("train.device", device),
        ("train.max_minutes", max_minutes),
        ("train.init", None if init is None else str(init.resolve())),
    ):
        if value is not None:
            overrides[name] = value
    summary = run_training(family, data, out, preset, overrides, resume)
    for note in summary["notes"]:
        console.print(f"[yellow]changed on resume:[/] {note}")
    state = "interrupted, checkpoint saved" if summary["interrupted"] else "done"
    console.print(
        f"[green]{out}[/]: step {summary['step']} ({state}); "
        f"{summary['steps_this_call']} steps in {summary['seconds']:.1f} s "
        f"= {summary['steps_per_second']:.2f} steps/s in {summary['precision']} "
        f"({summary['reason']})"
    )
