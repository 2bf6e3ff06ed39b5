"""``worldlab runs ...`` — inspect run directories (the counterpart of ``worldlab data``)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

runs_app = typer.Typer(no_args_is_help=True, help="Inspect and verify run directories.")
console = Console(soft_wrap=True)
COLOURS = {"good": "green", "damaged": "red", "unverified": "yellow"}


@runs_app.command()
def check(run: Path = typer.Argument(..., help="run directory")) -> None:
    """Verify every checkpoint of RUN against its recorded checksums; exit 1 if the newest
    is damaged or no checkpoint can be loaded."""
    from worldlab.train.checkpoint import check_run, set_aside_checkpoints
    from worldlab.train.config import load_config

    load_config(run)  # a clear error when RUN is not a run
    verdicts = check_run(run)
    for verdict in verdicts:
        colour = COLOURS[verdict.state]
        if verdict.state == "good":
            detail = f"{verdict.files} files, {verdict.bytes / 2**20:.1f} MiB verified"
        elif verdict.state == "unverified":
            detail = "written before checksums were recorded; readable, cannot be verified"
        else:
            detail = "; ".join(verdict.problems)
        console.print(f"[{colour}]{verdict.state}:[/] {verdict.path.name}: {escape(detail)}")
    for path in set_aside_checkpoints(run):
        console.print(f"set aside by --resume: {path.name} (never loaded; delete it when done)")
    usable = [v for v in verdicts if v.state != "damaged"]
    if not verdicts:
        console.print(f"[red]{run} has no checkpoint yet[/]")
        raise typer.Exit(1)
    if not usable:
        console.print(
            f"[red]no checkpoint of {run} can be loaded[/]: restore the run from a backup, "
            "or train it again into a new --out"
        )
        raise typer.Exit(1)
    if verdicts[-1].state == "damaged":
        console.print(
            f"[red]the newest checkpoint, {verdicts[-1].path.name}, is damaged[/]: loads use "
            f"{usable[-1].path.name} instead, and `worldlab train ... --resume` continues from "
            "it (setting the damaged ones aside)"
        )
        raise typer.Exit(1)
    console.print(f"{len(verdicts)} checkpoint(s); loads use {usable[-1].path.name}")
