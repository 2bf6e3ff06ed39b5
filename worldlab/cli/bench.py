"""``worldlab bench ...`` — speed measurements users can rerun."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

bench_app = typer.Typer(no_args_is_help=True, help="Measure training speed; leaderboards.")
console = Console()


@bench_app.command("train")
def train(
    family: str = typer.Argument("rssm"),
    preset: str | None = typer.Option("xs", help="size preset"),
    batch: int = typer.Option(16, min=1),
    seq: int = typer.Option(64, min=2, help="sequence length"),
    size: int = typer.Option(64, help="image size"),
    steps: int = typer.Option(6, min=1, help="timed steps (after 2 warm-up steps)"),
    threads: int = typer.Option(2, min=1),
    compile: bool = typer.Option(False, help="torch.compile the loss"),
    precision: str = typer.Option(
        "auto", help="auto (bf16 where native, else fp32), fp32 or bf16 (autocast)"
    ),
    set_: list[str] | None = typer.Option(None, "--set", help="model.FIELD=VALUE"),
) -> None:
    """World-model gradient steps/s (forward + backward + optimizer) and peak memory."""
    from worldlab.bench import bench_train
    from worldlab.config import parse_assignments

    result = bench_train(
        family,
        preset,
        batch,
        seq,
        size,
        steps,
        threads=threads,
        overrides=parse_assignments(set_),
        compile=compile,
        precision=precision,
    )
    console.print(
        f"{result['family']} preset={result['preset']} ({result['parameters']:,} parameters), "
        f"batch {batch} × seq {seq} at {size}×{size}, {result['precision']}, {threads} threads, "
        f"CPU {result['cpu']}: "
        f"[bold]{result['steps_per_second']:.3f} steps/s[/] "
        f"({result['seconds_per_step'] * 1000:.0f} ms/step, median of {steps}), "
        f"peak RSS {result['peak_rss_mb']:.0f} MB"
    )


@bench_app.command("leaderboard")
def leaderboard(
    runs: list[Path] = typer.Argument(..., help="run directories, any families"),
    data: Path = typer.Option(..., help="in-distribution bounce test data (with true state)"),
    ood: list[Path] | None = typer.Option(None, help="out-of-distribution datasets (repeat)"),
    out: Path = typer.Option(Path("leaderboard"), help="directory for .json, .md and .html"),
    horizon: int = typer.Option(15, min=1),
    context: int = typer.Option(5, min=1),
    episodes: int | None = typer.Option(None, min=1, help="the first N episodes of each"),
    starts: int = typer.Option(4, min=1, help="windows per episode"),
) -> None:
    """Runs × metrics on the same data, in and out of distribution, beside repeat-last,
    mean-frame, the simulator (GT′) and the reader's floor on real frames."""
    from worldlab.evaluate.leaderboard import (
        build_leaderboard,
        leaderboard_markdown,
        write_leaderboard,
    )

    board = build_leaderboard(
        [str(run) for run in runs], data, ood or [], horizon, context, episodes, starts
    )
    written = write_leaderboard(board, out)
    console.print(leaderboard_markdown(board), markup=False, soft_wrap=True)
    console.print("written: " + ", ".join(f"[green]{path}[/]" for path in written))
