"""``worldlab data ...`` — inspect, validate and view datasets; import video; drop actions."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

data_app = typer.Typer(
    no_args_is_help=True,
    help="Inspect, validate and view episode datasets; import videos; drop actions.",
)
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


@data_app.command("import-video")
def import_video(
    paths: list[Path] = typer.Argument(..., help="video files (.mp4, .webm, .gif) or folders"),
    out: Path = typer.Option(..., help="dataset directory (created; reruns skip imported files)"),
    size: int = typer.Option(64, min=8, help="frame size in pixels (centre-cropped square)"),
    fps: float | None = typer.Option(None, help="resample to this frame rate (default: keep)"),
    clip_length: int | None = typer.Option(
        None, min=2, help="cut videos into clips of this many frames (default: whole videos)"
    ),
) -> None:
    """Import videos as action-free episodes; exit 1 if some files had to be skipped."""
    import warnings

    from worldlab.data import VideoImportWarning, import_videos

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", VideoImportWarning)
        manifest = import_videos(paths, out, size=size, fps=fps, clip_length=clip_length)
    skipped = [w.message for w in caught if isinstance(w.message, VideoImportWarning)]
    for warning in skipped:
        colour = "yellow" if warning.kind == "duplicate" else "red"
        console.print(f"[{colour}]skipped:[/] {warning.path}: {warning.reason}", soft_wrap=True)
    console.print(
        f"[green]{out}[/]: {manifest.episodes} clips, {manifest.steps} steps of "
        f"{size}×{size} action-free video"
    )
    unreadable = [w for w in skipped if w.kind != "duplicate"]
    duplicates = len(skipped) - len(unreadable)
    if duplicates:
        console.print(f"{duplicates} file(s) were imported before and were skipped")
    if unreadable:
        names = ", ".join(w.path.name for w in unreadable)
        console.print(
            f"[red]{len(unreadable)} file(s) could not be imported[/]: {names}. The others "
            "were; fix or remove these files, then rerun to import only what is missing.",
            soft_wrap=True,
        )
        raise typer.Exit(1)


@data_app.command("drop-actions")
def drop_actions(
    directory: Path = typer.Argument(..., help="labelled dataset directory"),
    out: Path = typer.Option(..., help="new dataset directory for the action-free copy"),
) -> None:
    """Copy a dataset without its actions, as if it were video (for latent-action models)."""
    import warnings

    from worldlab.data import drop_actions as copy_without_actions

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        manifest = copy_without_actions(directory, out)
    for warning in caught:
        console.print(f"[red]{warning.message}[/]", soft_wrap=True)
    console.print(
        f"[green]{out}[/]: {manifest.episodes} episodes, {manifest.steps} steps of "
        f"{manifest.env_id} without actions"
    )


@data_app.command("embed-captions")
def embed_captions(
    directory: Path = typer.Argument(..., help="captioned dataset directory"),
    encoder: str = typer.Option(
        "auto", help="auto (MiniLM with the `text` extra, else hash), minilm or hash"
    ),
) -> None:
    """Store each caption's text embedding in its episodes, for text-conditioned training."""
    from worldlab.data.captions import embed_captions as embed
    from worldlab.data.manifest import Manifest
    from worldlab.models.text_encoder import make_text_encoder

    model = make_text_encoder(encoder)
    written = embed(directory, lambda texts: model(texts).numpy(), model.name)
    manifest = Manifest.load(directory)
    console.print(
        f"[green]{directory}[/]: {written} episodes embedded by {manifest.text_encoder} "
        f"({manifest.text_dims} dimensions); train with --set model.text_dims="
        f"{manifest.text_dims} --set model.text_encoder={manifest.text_encoder}"
    )
