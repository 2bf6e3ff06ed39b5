"""V-M-C on its paper's task, CarRacing, scaled to 2 CPU cores.

Ha & Schmidhuber (2018) collect 10,000 random rollouts, train V (a VAE, z = 32) and M (an
MDN-LSTM, 256 units), then evolve C (867 parameters) with CMA-ES in the *real* world:
population 64, 16 rollouts each, scored over 100 full episodes: 906 ± 21. ctallec's
reimplementation reports 860 ± 120, and 870 with an untrained M, so C reading V alone
matters as a baseline. This script runs the same three stages at CPU scale, twice on the
same data and model: C on ``[z, h]`` (the paper) and C on ``z`` alone. A random policy
plays the same evaluation episodes. Every stage resumes (``worldlab agent train vmc``).

    python benchmarks/vmc_carracing.py --out bench/carracing
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from worldlab.agents.vmc import train_vmc_agent
from worldlab.train.precision import describe_cpu

ENV = "CarRacing-v3"
PAPER = "906 ± 21 (paper, 100 episodes); ctallec: 860 ± 120, 870 with an untrained M"


def score(result: dict) -> str:
    """``mean ± 95% CI`` of an evaluation's returns (no CI from one episode)."""
    half = result["return_ci"]
    return f"{result['mean_return']:.1f}" + ("" if half is None else f" ± {half:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=20_000, help="random env steps for V and M")
    parser.add_argument("--train-steps", type=int, default=2_000, help="V and M updates")
    parser.add_argument("--population", type=int, default=16)
    parser.add_argument("--generations", type=int, default=12)
    parser.add_argument("--rollouts", type=int, default=1)
    parser.add_argument("--horizon", type=int, default=250, help="steps of each scored episode")
    parser.add_argument("--final-rollouts", type=int, default=4)
    parser.add_argument("--eval-episodes", type=int, default=8, help="full 1,000-step episodes")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    settings = dict(
        collect_policy="brownian", fitness="real", population=args.population,
        generations=args.generations, rollouts=args.rollouts, horizon=args.horizon,
        final_rollouts=args.final_rollouts, eval_episodes=args.eval_episodes,
        train_steps=args.train_steps,
    )  # fmt: skip
    rows = {}
    for inputs in ("zh", "z"):
        out = args.out / f"c_on_{inputs}"
        if inputs == "z" and not (out / "world_model").exists():  # the same data and model
            for stage in ("data", "world_model"):
                shutil.copytree(args.out / "c_on_zh" / stage, out / stage)
        rows[inputs] = train_vmc_agent(
            ENV, args.steps, out, seed=args.seed, preset="demo", inputs=inputs, **settings
        )
    lines = [
        f"CPU: {describe_cpu()}; {ENV} at 64×64; {args.steps} brownian steps, V and M "
        f"`demo` preset, {args.train_steps} updates; CMA-ES in the real world: population "
        f"{args.population} × {args.rollouts} rollout(s) of {args.horizon} steps × "
        f"{args.generations} generations; {args.eval_episodes} full evaluation episodes.",
        "",
        "| controller | parameters | real steps in the search | return (95% CI) | random policy |",
        "|---|---|---|---|---|",
    ]
    for inputs, row in rows.items():
        card, evaluation = row["agent"], row["eval"]
        random = evaluation["random_policy"]
        lines.append(
            f"| C on {'[z, h]' if inputs == 'zh' else 'z (V alone)'} | "
            f"{card['controller_parameters']} | {card['search_env_steps']:,} | "
            f"{score(evaluation)} | {score(random)} |"
        )
    lines += ["", f"Reference: {PAPER}."]
    text = "\n".join(lines) + "\n"
    (args.out / "results.md").write_text(text)
    (args.out / "results.json").write_text(json.dumps(rows, indent=2, default=str))
    print(text)


if __name__ == "__main__":
    main()
