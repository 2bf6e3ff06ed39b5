"""``worldlab play`` — play a trained run in the browser."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import typer
from rich.console import Console

from worldlab.errors import MissingExtraError

console = Console()


def play(
    run: Path = typer.Argument(..., help="run directory"),
    host: str = typer.Option("127.0.0.1", help="address to bind (0.0.0.0 exposes it)"),
    port: int = typer.Option(8000, min=1, max=65535, help="port to serve on"),
    threads: int = typer.Option(2, min=1, help="torch CPU threads for inference"),
    precision: str = typer.Option(
        "auto",
        help="inference precision: auto (bf16 where the hardware runs it natively), fp32 or bf16",
    ),
) -> None:
    """Serve RUN as a browser game: keyboard actions, real world beside, mp4 recording.
    A latent-action run with an action_map.json (`worldlab map-actions`) takes real actions."""
    missing = [m for m in ("fastapi", "uvicorn") if importlib.util.find_spec(m) is None]
    if missing:
        raise MissingExtraError(
            f"`worldlab play` needs {', '.join(missing)}: pip install 'worldlab[play]'"
        )
    from worldlab.play.server import serve

    console.print(f"playing [green]{run}[/] at http://{host}:{port}/  (Ctrl-C stops)")
    serve(run, host=host, port=port, threads=threads, precision=precision)
