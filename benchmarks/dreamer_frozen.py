"""Dreamer's behaviour learning on a frozen world model: is the actor-critic the limit?

    python benchmarks/dreamer_frozen.py RUN [--updates 2000] [--eval-every 500]
        [--episodes 20] [--set behavior.actor_grad=reinforce] [--set behavior.actor_lr=3e-4]

Loads a trained world model (any family with a reward head, e.g. an `rssm` trained on
`reach` with the MPC recipe), freezes it, and trains only Dreamer's actor and critic in
imagination from posterior states of windows of the model's own training data, as the
online loop does (16 × 32 windows, every state a start unless ``behavior.starts``). Every
``--eval-every`` updates the greedy actor plays real episodes (seeds 1,000,000+, the
agent benchmark's). Beside it, on the same episodes: random actions and MPC with the
same model (horizon 4). If the actor gets near MPC, the behaviour code works and the
online schedule or the world model is what holds Dreamer back; if it stays at random, the
behaviour learning itself is at fault (docs/agents.md, "Audit against DreamerV3").
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

import worldlab
from worldlab.agents.behavior import ActorCritic, BehaviorConfig
from worldlab.agents.mpc import run_mpc
from worldlab.agents.planning import PlannerConfig
from worldlab.agents.planning_horizon import random_policy
from worldlab.agents.rollout import play_in_world
from worldlab.config import parse_assignments
from worldlab.data import EpisodeDataset
from worldlab.train.precision import describe_cpu
from worldlab.train.trainer import batch_to_torch

EVAL_SEED = 1_000_000


def score(result: dict) -> str:
    ci = result["return_ci"] or 0.0
    return (
        f"return {result['mean_return']:.1f} ± {ci:.1f}, "
        f"success {result['success_rate']:.0%} ± {(result['success_ci'] or 0.0):.0%}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run")
    parser.add_argument("--updates", type=int, default=2000)
    parser.add_argument("--eval-every", type=int, default=500)
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seq", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--baselines", action="store_true", help="also random and MPC (h=4)")
    parser.add_argument("--set", dest="settings", action="append", default=[])
    parser.add_argument("--out", help="write the results as JSON here")
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    print(f"CPU: {describe_cpu()}")
    model = worldlab.load(args.run)
    model.eval().requires_grad_(False)
    data = EpisodeDataset(model.run_config["data"]["path"])
    overrides = {
        k.removeprefix("behavior."): v for k, v in parse_assignments(args.settings).items()
    }
    behavior = ActorCritic(model, BehaviorConfig(**overrides))
    print(f"behaviour: {behavior.config}")
    rng = np.random.default_rng(args.seed)

    def greedy(state):
        return behavior.actor.act(model.features(state).float(), sample=False)

    results = {"settings": overrides, "evals": []}
    if args.baselines:
        random = play_in_world(model, random_policy(model, args.seed), episodes=args.episodes,
                               seed=EVAL_SEED, progress=False)  # fmt: skip
        planner = PlannerConfig(horizon=4, samples=128, elites=16, iterations=4)
        mpc = run_mpc(model, episodes=args.episodes, config=planner, seed=EVAL_SEED,
                      progress=False)  # fmt: skip
        print(f"random actions: {score(random)}\nMPC (h=4, same model): {score(mpc)}", flush=True)
        results["random"], results["mpc"] = (
            {k: random[k] for k in ("mean_return", "return_ci", "success_rate", "success_ci")},
            {k: mpc[k] for k in ("mean_return", "return_ci", "success_rate", "success_ci")},
        )
    started = time.perf_counter()
    for update in range(1, args.updates + 1):
        batch = batch_to_torch(data.sample(args.batch, args.seq, rng, cross_episodes=True), "cpu")
        with torch.no_grad():
            start = model.observe_all(batch["obs"], batch["action"], batch["is_first"])
        start_continue = (~batch["terminated"]).float().flatten()
        metrics = behavior.update(model, start, start_continue)
        if update % args.eval_every == 0 or update == args.updates:
            with torch.no_grad():
                result = play_in_world(model, greedy, episodes=args.episodes, seed=EVAL_SEED,
                                       progress=False)  # fmt: skip
            elapsed = time.perf_counter() - started
            print(
                f"update {update} ({elapsed:.0f} s): {score(result)}; imagined reward "
                f"{metrics['imagined_reward']:.3f}, value {metrics['value']:.2f}, "
                f"entropy {metrics['entropy']:.2f}, return scale {metrics['return_scale']:.2f}",
                flush=True,
            )
            results["evals"].append(
                {"update": update, "seconds": elapsed, **metrics,
                 **{k: result[k] for k in ("mean_return", "return_ci", "success_rate",
                                           "success_ci")}}
            )  # fmt: skip
    if args.out:
        with open(args.out, "w") as file:
            json.dump(results, file, indent=2)


if __name__ == "__main__":
    main()
