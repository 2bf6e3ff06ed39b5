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
    _print_result(f"MPC with {run}", result)
    if video is not None:
        write_video(result["frames"], video)
        console.print(f"[green]{video}[/]")


agent_app = typer.Typer(
    no_args_is_help=True,
    help="Train agents that act with a world model, and evaluate them in the real world.",
)


def kinds_help() -> str:
    """``dreamer, mpc, vmc, or from video: latent-bc, bc``, from the table of kinds."""
    from worldlab.agents.kinds import KINDS

    in_world = [name for name, kind in KINDS.items() if not kind.from_video]
    from_video = [name for name, kind in KINDS.items() if kind.from_video]
    return f"{', '.join(in_world)}, or from video: {', '.join(from_video)}"


@agent_app.command("train")
def agent_train(
    kind: str = typer.Argument(..., help=kinds_help()),
    out: Path = typer.Option(..., help="agent run directory"),
    env: str | None = typer.Option(
        None, help="dreamer/mpc/vmc: world (reach, bounce, platformer, or a Gymnasium id)"
    ),
    steps: int | None = typer.Option(
        None, min=1, help="dreamer/mpc/vmc: real environment steps in total"
    ),
    preset: str | None = typer.Option(None, help="world-model size preset (default tiny)"),
    seed: int | None = typer.Option(None, help="default 0; a resumed run keeps its own"),
    set_: list[str] | None = typer.Option(
        None,
        "--set",
        help="override SECTION.FIELD=VALUE: model, train, online, behavior, planner "
        "(dreamer/mpc), the vmc settings, or imitation (bc/latent-bc) (repeatable)",
    ),
    env_arg: list[str] | None = typer.Option(
        None, "--env-arg", help="environment keyword KEY=VALUE (repeatable)"
    ),
    resume: bool = typer.Option(False, help="continue the run in --out"),
    family: str = typer.Option(
        "rssm", help="world-model family for dreamer/mpc (rssm, flow, ...); vmc is its own"
    ),
    video: Path | None = typer.Option(None, help="latent-bc: expert video (a dataset)"),
    model: Path | None = typer.Option(
        None, help="latent-bc: run of a latent-action model (genie) to read the video with"
    ),
    labelled: Path | None = typer.Option(
        None, help="bc/latent-bc: dataset with real actions to draw labelled transitions from"
    ),
    labels: int | None = typer.Option(
        None,
        min=0,
        help="bc/latent-bc: labelled transitions to use (latent-bc: maps codes to actions; "
        "0 draws the map at random); bc without it clones every labelled transition",
    ),
    eval_episodes: int = typer.Option(10, min=1, help="bc/latent-bc: real episodes to score"),
    policy_from: Path | None = typer.Option(
        None, help="latent-bc: reuse this latent-bc run's policy, fit only the map (label sweeps)"
    ),
) -> None:
    """Train an agent: in the real world with a world model (Ctrl-C checkpoints and exits),
    or from expert video and a few labels (bc, latent-bc)."""
    from worldlab.agents.kinds import TrainRequest, agent_kind
    from worldlab.config import parse_assignments

    overrides = parse_assignments(set_)
    agent = agent_kind(kind)
    request = TrainRequest(
        out=out,
        env=env,
        steps=steps,
        preset=preset,
        seed=seed,
        overrides=overrides,
        env_kwargs={} if agent.from_video else parse_assignments(env_arg, "--env-arg"),
        resume=resume,
        family=family,
        video=video,
        model=model,
        labelled=labelled,
        labels=labels,
        eval_episodes=eval_episodes,
        policy_from=policy_from,
    )
    final = agent.resolve("train")(kind, request)
    if final:
        _print_result(f"{out}", final)
    console.print(f"[green]{out}[/]: evaluate again with `worldlab agent eval {out}`")


@agent_app.command("eval")
def agent_eval(
    run: Path = typer.Argument(..., help="agent run directory"),
    episodes: int = typer.Option(10, min=1),
    seed: int = typer.Option(1_000_000, help="episode i uses seed + i"),
    max_steps: int | None = typer.Option(None, min=1, help="cut episodes after N steps"),
    video: Path | None = typer.Option(None, help="write the first episode as .mp4/.gif"),
    json_out: Path | None = typer.Option(None, "--json", help="write the result as JSON"),
    planner: list[str] | None = typer.Option(
        None, help="MPC runs: plan with KEY=VALUE instead of the run's setting (repeatable)"
    ),
    env_arg: list[str] | None = typer.Option(
        None,
        "--env-arg",
        help="bc/latent-bc runs: environment keyword KEY=VALUE over the run's own, e.g. "
        "skin=noise (repeatable)",
    ),
) -> None:
    """Play an agent's greedy policy in the real world: mean return, success rate, 95% CIs."""
    import json

    from worldlab.agents.runs import evaluate_agent, kind_of
    from worldlab.config import parse_assignments
    from worldlab.data import write_video
    from worldlab.errors import WorldlabError

    settings = parse_assignments(planner, "--planner")
    env_kwargs = parse_assignments(env_arg, "--env-arg")
    record = video is not None
    if env_kwargs:
        kind = kind_of(run)
        if not kind.from_video or settings:
            raise WorldlabError(
                f"--env-arg applies to bc and latent-bc runs, --planner to MPC runs; {run} is "
                f"a {kind.name} run"
            )
        from worldlab.agents.imitation_agent import evaluate_imitation

        result = evaluate_imitation(run, episodes, seed, max_steps, record, env_kwargs=env_kwargs)
    else:
        result = evaluate_agent(run, episodes, seed, max_steps, record=record, planner=settings)
    _print_result(str(run), result)
    if video is not None:
        write_video(result["frames"], video)
        console.print(f"[green]{video}[/]")
    if json_out is not None:
        payload = {k: v for k, v in result.items() if k != "frames"}
        json_out.write_text(json.dumps(payload, indent=2) + "\n")


def _print_result(name: str, result: dict) -> None:
    ci = "" if result.get("return_ci") is None else f" ± {result['return_ci']:.2f}"
    success_ci = "" if result.get("success_ci") is None else f" ± {result['success_ci']:.0%}"
    console.print(
        f"{name} on {result['env_id']}: mean return {result['mean_return']:.2f}{ci} over "
        f"{result['episodes']} episodes, success rate {result['success_rate']:.0%}{success_ci}"
    )
