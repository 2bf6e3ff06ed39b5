"""``worldlab`` — the command line entry point."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from worldlab.cli.agents import agent_app, plan
from worldlab.cli.bench import bench_app
from worldlab.cli.curate import curate
from worldlab.cli.data import data_app
from worldlab.cli.model import evaluate, generate, imagine, map_actions
from worldlab.cli.play import play
from worldlab.cli.runs import runs_app
from worldlab.cli.train import train
from worldlab.cli.transfer import augment, transfer
from worldlab.errors import WorldlabError, explain_os_error

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="worldlab: collect, train, imagine, evaluate, act with, play world models.",
)
app.add_typer(data_app, name="data")
app.add_typer(bench_app, name="bench")
app.add_typer(agent_app, name="agent")
app.add_typer(runs_app, name="runs")
app.command()(train)
app.command()(imagine)
app.command()(generate)
app.command()(evaluate)
app.command("map-actions")(map_actions)
app.command()(play)
app.command()(plan)
app.command()(curate)
app.command()(transfer)
app.command()(augment)
console = Console()


@app.command()
def envs() -> None:
    """List the built-in worlds and which optional suites are installed."""
    from worldlab.worlds import BUILTIN_WORLDS, suites_status
    from worldlab.worlds.adapters import SUITES

    table = Table(title="Built-in worlds")
    for column in ("name", "gymnasium id", "what it is"):
        table.add_column(column)
    for name, (env_id, _, description) in BUILTIN_WORLDS.items():
        table.add_row(name, env_id, description)
    console.print(table)
    suites = Table(title="Suites")
    for column in ("suite", "installed", "example id", "install with"):
        suites.add_column(column)
    for suite, installed in suites_status().items():
        _, extra, example = SUITES[suite]
        suites.add_row(
            suite,
            "yes" if installed else "no",
            example,
            "-" if extra is None else escape(f"pip install 'worldlab[{extra}]'"),
        )
    console.print(suites)


@app.command()
def collect(
    env: str = typer.Option(..., help="world: bounce, reach, platformer, or a Gymnasium id"),
    out: Path = typer.Option(..., help="dataset directory (created; reruns add missing episodes)"),
    episodes: int = typer.Option(10, min=1, help="number of episodes the dataset should hold"),
    max_steps: int | None = typer.Option(None, min=1, help="cut episodes after this many steps"),
    policy: str = typer.Option(
        "random",
        help="behaviour policy: random, sticky (held actions), brownian (drifting actions) "
        "or expert (a scripted expert; platformer)",
    ),
    seed: int = typer.Option(0, help="episode i is played with seed + i"),
    size: int = typer.Option(64, min=8, help="frame size in pixels (square)"),
    drop_actions: bool = typer.Option(False, help="store no actions, as if from video"),
    env_arg: list[str] | None = typer.Option(
        None, "--env-arg", help="environment keyword KEY=VALUE (repeatable)"
    ),
    split: str | None = typer.Option(
        None,
        help="a named bounce distribution such as id or ood_speed (docs/physics.md lists "
        "them): its settings are the base, --env-arg overrides them",
    ),
    skins: str | None = typer.Option(
        None,
        "--skins",
        "--skin",
        help="visual styles, comma-separated (bounce, reach, platformer): episode i is drawn "
        "in skin i mod count; train skins flat, checker, dusk, pastel, distractors; held out "
        "noise, stripes, night",
    ),
    controls: bool = typer.Option(
        False,
        help="also record ground-truth seg and depth maps per step (bounce, reach, platformer)",
    ),
) -> None:
    """Collect episodes from a world into a dataset directory."""
    from worldlab.config import parse_assignments
    from worldlab.data import collect as collect_episodes

    manifest = collect_episodes(
        env,
        out,
        episodes,
        max_steps=max_steps,
        policy=policy,
        seed=seed,
        size=size,
        env_kwargs=parse_assignments(env_arg, "--env-arg"),
        drop_actions=drop_actions,
        split=split,
        skins=[name.strip() for name in skins.split(",") if name.strip()] if skins else None,
        controls=controls,
    )
    notes = [f"split {manifest.split}"] if manifest.split else []
    notes += [f"skins {', '.join(manifest.skins)}"] if manifest.skins else []
    notes += ["seg and depth maps"] if manifest.seg_classes else []
    console.print(
        f"[green]{out}[/]: {manifest.episodes} episodes, {manifest.steps} steps "
        f"of {manifest.env_id}" + (f" ({'; '.join(notes)})" if notes else "")
    )


@app.command()
def demo(
    out: Path = typer.Option(Path("demo_out"), help="where data, run, videos and report go"),
    minutes: float | None = typer.Option(None, help="training time cap (default 4.25)"),
    steps: int | None = typer.Option(
        None, help="train exactly this many steps (no time cap, no early stop)"
    ),
) -> None:
    """Collect bounce, train an RSSM on CPU, evaluate it and write OUT/report.html;
    say whether the model beats both trivial baselines at every horizon (exit 1 if not)."""
    from worldlab.demo import DemoSettings, run_demo

    settings = DemoSettings()
    if minutes is not None:
        settings.train["train.max_minutes"] = minutes
    if steps is not None:
        settings.train.update({"train.steps": steps, "train.max_minutes": None})
        settings.stop_margin = None
    report = run_demo(out, settings)
    from worldlab.cli.model import print_summary

    print_summary(report)
    demo = report["demo"]
    training = demo["training"]
    console.print(
        f"trained {training['updates']} updates at {training['steps_per_second']:.2f} steps/s "
        f"in {training['precision']} ({training['precision_reason']}); "
        f"stopped: {training['stopped']}"
    )
    console.print(f"[green]{out / 'report.html'}[/] and {out / 'report.json'}")
    colour = "bold green" if demo["bar_holds"] else "bold red"
    console.print(f"[{colour}]{escape(demo['verdict'])}[/]")
    if not demo["bar_holds"]:
        raise typer.Exit(1)


def main() -> None:
    """Run the CLI; a user's mistake prints its message (no traceback) and exits 2."""
    try:
        # Without standalone mode, click returns the code of a typer.Exit instead of exiting.
        result = app(standalone_mode=False)
        sys.exit(result if isinstance(result, int) else 0)
    except WorldlabError as error:
        Console(stderr=True, soft_wrap=True).print(f"[red]error:[/] {escape(str(error))}")
        sys.exit(2)
    except OSError as error:  # a path, a permission or a full disk: the user's to fix
        Console(stderr=True, soft_wrap=True).print(
            f"[red]error:[/] {escape(explain_os_error(error))}"
        )
        sys.exit(2)
    except typer.Exit as done:
        sys.exit(done.exit_code)
    except typer.Abort:
        sys.exit(130)
    except Exception as error:
        # Usage errors (bad option, missing argument) come from typer's click layer.
        if hasattr(error, "show") and hasattr(error, "exit_code"):
            error.show()
            sys.exit(error.exit_code)
        raise


if __name__ == "__main__":
    main()
