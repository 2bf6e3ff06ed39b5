"""``worldlab plan`` — act in a real world with MPC inside a model trained offline."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

console = Console(soft_wrap=True)


def plan(
    run: Path = typer.Argument(..., help="run directory of a model with a reward head"),
    env: str | None = typer.Option(None, help="world to act in (default: the run's own)"),
    episodes: int = typer.Option(3, min=1),
    method: str = typer.Option("mppi", help="mppi or cem"),
    horizon: int = typer.Option(12, min=1, help="planning horizon in steps"),
    iterations: int = typer.Option(6, min=1),
    samples: int = typer.Option(256, min=1, help="action sequences per iteration"),
    elites: int = typer.Option(32, min=1),
    max_steps: int | None = typer.Option(None, min=1, help="cut episodes after N steps"),
    seed: int = typer.Option(0),
    video: Path | None = typer.Option(None, help="write the first episode as .mp4/.gif"),
) -> None:
    """Model-predictive control in the real environment; prints returns with a 95% CI."""
    import worldlab
    from worldlab.agents.mpc import run_mpc
    from worldlab.agents.planning import PlannerConfig
    from worldlab.data import write_video

    model = worldlab.load(run)
    config = PlannerConfig(
        method=method, horizon=horizon, iterations=iterations, samples=samples, elites=elites
    )
    result = run_mpc(model, env, episodes, config, max_steps=max_steps, seed=seed)
    ci = "" if result["return_ci"] is None else f" ± {result['return_ci']:.2f}"
    console.print(
        f"{result['env_id']}: mean return {result['mean_return']:.2f}{ci} over "
        f"{episodes} episodes, success rate {result['success_rate']:.0%}"
    )
    if video is not None:
        write_video(result["frames"], video)
        console.print(f"[green]{video}[/]")
