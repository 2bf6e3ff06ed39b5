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
    perceptual: bool = typer.Option(
        True, help="perceptual columns in distribution (encoder FD; FVD/FID/LPIPS with weights)"
    ),
    sample: list[str] | None = typer.Option(
        None,
        help="sampling option NAME=VALUE (repeatable): every run that declares them is "
        "scored once more with them, as its own row, e.g. prediction=mean for flow",
    ),
) -> None:
    """Runs × metrics on the same data, in and out of distribution, beside repeat-last,
    mean-frame, the simulator (GT′) and the reader's floor on real frames."""
    from worldlab.config import parse_assignments
    from worldlab.evaluate.leaderboard import (
        build_leaderboard,
        leaderboard_markdown,
        write_leaderboard,
    )

    board = build_leaderboard(
        [str(run) for run in runs], data, ood or [], horizon, context, episodes, starts,
        perceptual=perceptual, sampling=parse_assignments(sample, "--sample"),
    )  # fmt: skip
    written = write_leaderboard(board, out)
    console.print(leaderboard_markdown(board), markup=False, soft_wrap=True)
    console.print("written: " + ", ".join(f"[green]{path}[/]" for path in written))


@bench_app.command("planning-horizon")
def planning_horizon(
    run: Path = typer.Argument(..., help="run directory of a model with a reward head"),
    env: str | None = typer.Option(None, help="world to act in (default: the run's own)"),
    horizons: str = typer.Option("1,2,4,8,16", help="MPC horizons to sweep, comma-separated"),
    episodes: int = typer.Option(20, min=2, help="real episodes per horizon (same seeds)"),
    max_steps: int | None = typer.Option(None, min=1, help="cut episodes after N steps"),
    method: str = typer.Option("mppi", help="mppi or cem"),
    iterations: int = typer.Option(6, min=1),
    samples: int = typer.Option(256, min=1, help="action sequences per iteration"),
    elites: int = typer.Option(32, min=1),
    seed: int = typer.Option(0),
    plot: Path | None = typer.Option(None, help="plot (default RUN/planning_horizon.png)"),
) -> None:
    """How far ahead planning with the model stays useful: real return of MPC against its
    horizon, beside random actions; the longest horizon that still beats the best shorter
    one (paired 95% CI). Saves RUN/planning_horizon.json, which the leaderboard shows."""
    import worldlab
    from worldlab.agents.planning import PlannerConfig
    from worldlab.agents.planning_horizon import planning_horizon as sweep
    from worldlab.agents.planning_horizon import plot_result, save_result
    from worldlab.errors import WorldlabError

    try:
        chosen = tuple(int(h) for h in horizons.split(","))
    except ValueError:
        raise WorldlabError(f"--horizons must be integers like 1,2,4,8, got '{horizons}'") from None
    model = worldlab.load(run)
    planner = PlannerConfig(method=method, iterations=iterations, samples=samples, elites=elites)
    result = sweep(model, env, chosen, episodes, planner, max_steps, seed)
    saved = save_result(run, result)
    picture = plot_result(result, plot or Path(run) / "planning_horizon.png")

    def ci(value) -> str:
        return "" if value is None else f" ± {value:.2f}"

    random = result["random"]
    console.print(f"{result['env_id']}, {episodes} episodes per horizon (seeds {seed}…)")
    console.print(f"  random actions: return {random['mean_return']:.2f}{ci(random['return_ci'])}")
    for row in result["horizons"]:
        gain = row.get("gain_over_best_shorter")
        versus = (
            f"   vs h={gain['vs']}: {gain['mean']:+.2f}{ci(gain['ci'])}"
            f" ({'better' if row['improves'] else 'no better'})"
            if gain
            else ""
        )
        console.print(
            f"  h={row['horizon']:>3}: return {row['mean_return']:.2f}{ci(row['return_ci'])}, "
            f"success {row['success_rate']:.0%}{versus}"
        )
    console.print(
        f"[bold]planning horizon: {result['planning_horizon']}[/] (best mean return at "
        f"h={result['best_horizon']}); [green]{saved}[/], [green]{picture}[/]"
    )
