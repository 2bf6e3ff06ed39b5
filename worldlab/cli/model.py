"""``worldlab imagine`` and ``worldlab evaluate`` — use a trained run of any family."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

console = Console()


def _open(run: Path, data: Path):
    import worldlab
    from worldlab.train.setup import check_dataset_fits

    model = worldlab.load(run)
    return model, check_dataset_fits(model.run_config, data)


def imagine(
    run: Path = typer.Argument(..., help="run directory"),
    data: Path = typer.Option(..., help="dataset to take start frames and actions from"),
    out: Path = typer.Option(..., help="output .mp4 or .gif"),
    episode: int = typer.Option(0, help="episode index in --data"),
    context: int = typer.Option(5, min=1, help="real frames the model observes first"),
    horizon: int | None = typer.Option(None, min=1, help="imagined steps (default: rest)"),
    actions: str = typer.Option("dataset", help="dataset, random, or a FILE.npy of actions"),
    seed: int = typer.Option(0),
) -> None:
    """Video of ground truth | imagined | error, open loop after the context frames."""
    from worldlab.evaluate import write_imagination

    model, dataset = _open(run, data)
    write_imagination(model, dataset.episode(episode), out, context, horizon, actions, seed)
    console.print(f"[green]{out}[/]: episode {episode}, {context} context frames, then imagined")


def evaluate(
    run: Path = typer.Argument(..., help="run directory"),
    data: Path = typer.Option(..., help="held-out dataset"),
    out: Path = typer.Option(..., help="report .json (a .png plot is written beside it)"),
    horizon: int = typer.Option(15, min=1),
    context: int = typer.Option(5, min=1),
    episodes: int | None = typer.Option(None, min=1, help="evaluate the first N episodes"),
    starts: int = typer.Option(4, min=1, help="windows per episode"),
    seed: int = typer.Option(0),
) -> None:
    """Open-loop PSNR/SSIM per horizon step against repeat-last and mean-frame baselines."""
    from worldlab.evaluate import evaluate_run, save_report

    model, dataset = _open(run, data)
    report = evaluate_run(model, dataset, horizon, context, episodes, starts, seed)
    json_path, png_path = save_report(report, out)
    print_summary(report)
    console.print(f"[green]{json_path}[/] and [green]{png_path}[/]")


def print_summary(report: dict) -> None:
    table = Table(title=f"open-loop PSNR (dB) over {report['windows']} windows")
    for column in ("horizon", "model", "repeat_last", "mean_frame", "beats both"):
        table.add_column(column, justify="right")
    model = report["model"]["psnr"]
    last = report["baselines"]["repeat_last"]["psnr"]
    mean = report["baselines"]["mean_frame"]["psnr"]
    beats = report["summary"]["beats_best_baseline_at"]
    for k in range(report["horizon"]):
        table.add_row(
            str(k + 1),
            f"{model[k]:.2f}",
            f"{last[k]:.2f}",
            f"{mean[k]:.2f}",
            "yes" if beats[k] else "[red]no[/]",
        )
    console.print(table)
