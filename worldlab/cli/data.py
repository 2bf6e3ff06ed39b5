"""``worldlab data ...`` — inspect and view datasets."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

data_app = typer.Typer(no_args_is_help=True, help="Inspect, validate and view episode datasets.")
console = Console()


@data_app.command()
def info(directory: Path = typer.Argument(..., help="dataset directory")) -> None:
    """Summarise a dataset and validate every file; exit 1 if any episode is corrupt."""
    from worldlab.data import EpisodeDataset

    dataset = EpisodeDataset(directory)
    problems = dataset.validate()
    lengths = dataset.lengths
    size_bytes = sum(p.stat().st_size for p in directory.iterdir() if p.is_file())
    manifest = dataset.manifest
    table = Table(title=f"dataset {directory}", show_header=False)
    rows = [
        ("env", manifest.env_id + (f" {manifest.env_kwargs}" if manifest.env_kwargs else "")),
        (
            "episodes",
            f"{len(dataset) - len([p for p in problems if p in dataset.paths])} readable"
            f", {len(problems)} corrupt",
        ),
        ("steps", f"{dataset.num_steps:,}"),
        (
            "episode length",
            f"min {min(lengths)}, mean {sum(lengths) / len(lengths):.1f}, max {max(lengths)}"
            if lengths
            else "-",
        ),
        ("observation", f"{list(dataset.obs_shape)} uint8"),
        ("action space", _describe_action(manifest.action)),
        ("ground-truth state", "yes" if manifest.has_state else "no"),
        ("bytes on disk", f"{size_bytes:,} ({size_bytes / 2**20:.1f} MiB)"),
        ("worldlab version", manifest.worldlab_version),
    ]
    for key, value in rows:
        table.add_row(key, value)
    console.print(table)
    for path, problem in sorted(problems.items()):
        console.print(f"[red]corrupt:[/] {path.name}: {problem}")
    if problems:
        console.print(
            f"[red]{len(problems)} corrupt episode file(s)[/]; the other episodes stay "
            "usable. Rerun `worldlab collect` into this directory to recollect them."
        )
        raise typer.Exit(1)


def _describe_action(spec: dict) -> str:
    if spec["type"] == "discrete":
        return f"discrete, {spec['n']} actions"
    if spec["type"] == "box":
        return f"continuous {spec['shape']} in [{min(spec['low'])}, {max(spec['high'])}]"
    return "none (action-free video)"


@data_app.command()
def view(
    directory: Path = typer.Argument(..., help="dataset directory"),
    episode: int = typer.Option(0, help="episode index"),
    out: Path = typer.Option(..., help="output .mp4 or .gif"),
    fps: int = typer.Option(15, min=1),
    scale: int = typer.Option(4, min=1, help="enlarge frames this many times"),
) -> None:
    """Write one episode as a video."""
    from worldlab.data import EpisodeDataset, write_video

    frames = EpisodeDataset(directory).episode(episode)["obs"]
    write_video(frames, out, fps=fps, scale=scale)
    console.print(f"[green]{out}[/]: episode {episode}, {len(frames)} frames")
