"""Model-based agents against a model-free one at the same environment-step budget.

    python benchmarks/agents.py run dreamer --env reach --steps 10000 --seeds 0 1 2 --out B
    python benchmarks/agents.py run mpc     --env reach --steps 20000 --seeds 0 1 2 --out B
    python benchmarks/agents.py run mpc --env reach --steps 20000 --out C --set model.overshoot=0
    python benchmarks/agents.py run ppo     --env reach --steps 10000 --seeds 0 1 2 --out B
    python benchmarks/agents.py run ppo4    --env reach --steps 10000 --seeds 0 1 2 --out B
    python benchmarks/agents.py run random  --env reach --seeds 0 1 2 --out B
    python benchmarks/agents.py score mpc   --env reach --seeds 0 1 2 --out B  # runs stopped early
    python benchmarks/agents.py score mpc   --env reach --horizon 2 --out B    # plan 2 steps ahead
    python benchmarks/agents.py score mpc   --env reach --episodes 100 --out B # more episodes
    python benchmarks/agents.py report B      # table + learning-curve plot (B: a folder)

Every agent is scored on the same real evaluation episodes (seeds 1,000,000 + i):
mean return and success rate with 95% CIs over seeds, and wall time. Learning
curves (return vs environment steps) come from periodic evaluations during training.
Dreamer and MPC run worldlab's online loop with the CPU settings below; PPO is
stable-baselines3's with its CnnPolicy on 64×64 frames (its Nature CNN needs at
least 36 pixels), with an evaluation callback on the same schedule; ``ppo`` reads single
frames, ``ppo4`` the last four stacked on the channel axis (so it can see velocity).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from worldlab.config import parse_assignments

EVAL_SEED = 1_000_000

# CPU-sized settings of the online agents (2 cores): tiny RSSM at 32×32, one update
# per 8 environment steps (replay ratio 64), behaviour on 256 imagined starts.
CPU_SETTINGS = {
    "online.size": 32,
    "online.prefill": 1000,
    "online.train_ratio": 64.0,
    "online.eval_every": 1000,
    "online.eval_episodes": 10,
    "online.checkpoint_every": 2000,
    "model.lr": 3e-4,
    "behavior.actor_lr": 3e-4,
    "behavior.critic_lr": 3e-4,
    "behavior.hidden": 128,
    "behavior.layers": 1,
    "behavior.starts": 256,
    "planner.samples": 128,
    "planner.elites": 16,
    "planner.iterations": 4,
    "planner.horizon": 10,
}


def model_recipe(steps: int, pretrain: int) -> dict:
    """The world-model recipe MPC reached 80% with, for any online agent: explore the first
    half of the budget with actions that drift (so the model sees fast motion), train the
    model ``pretrain`` updates with the reward loss weighted 10× and the heads also scored
    on states imagined up to 4 steps ahead (``model.overshoot``), then act for the second
    half, learning from what it sees at one update per 2 environment steps (replay ratio
    256): its own episodes are the ones that end near the target."""
    return {
        "online.prefill": steps // 2,
        "online.prefill_policy": "brownian",
        "online.pretrain": pretrain,
        "online.train_ratio": 256.0,
        "model.reward_scale": 10.0,
        "model.overshoot": 4,
        "model.lr": 5e-4,
    }


def mpc_settings(steps: int, pretrain: int, explore_all: bool = False) -> dict:
    """MPC on ``model_recipe``'s model, planning 4 steps ahead through the latents' modes.

    ``explore_all``: the earlier recipe, exploring the whole budget and then training the
    model ``pretrain`` updates (no learning from its own episodes, no overshooting)."""
    if explore_all:
        return {
            **model_recipe(steps, pretrain),
            "online.prefill": steps,
            "online.eval_every": steps,
            "model.overshoot": 0,
            "model.imagine_latents": "mode",
            "planner.horizon": 4,
        }
    return {
        **model_recipe(steps, pretrain),
        "online.eval_every": max(steps // 4, 1),
        "model.imagine_latents": "mode",
        "planner.horizon": 4,
    }


def dreamer_settings(steps: int, pretrain: int) -> dict:
    """Dreamer on ``model_recipe``'s model (``run dreamer --model-recipe``): its actor and
    critic learn in imagination from the first pretraining update on, as DreamerV3's do."""
    return {**model_recipe(steps, pretrain), "online.eval_every": max(steps // 8, 1)}


def run_online(
    kind: str,
    env: str,
    steps: int,
    seed: int,
    out: Path,
    episodes: int,
    pretrain: int,
    explore_all: bool = False,
    extra: dict | None = None,
    model_recipe: bool = False,
) -> dict:
    from worldlab.agents.online import train_online

    run = out / f"{kind}_{env}_s{seed}"
    overrides = {**CPU_SETTINGS, "online.seed": seed, "train.seed": seed}
    if kind == "mpc":
        overrides.update(mpc_settings(steps, pretrain, explore_all))
    elif model_recipe:
        overrides.update(dreamer_settings(steps, pretrain))
    overrides.update(extra or {})
    train_online(kind, env, steps, run, overrides=overrides, resume=(run / "checkpoints").exists())
    return score_online(run, episodes)


def score_online(run: Path, episodes: int, planner: dict | None = None) -> dict:
    """Score a Dreamer or MPC run as it stands, finished or interrupted (Ctrl-C);
    ``planner`` replaces some of an MPC run's planner settings for the evaluation."""
    from worldlab.agents.runs import evaluate_agent
    from worldlab.train.checkpoint import latest_checkpoint

    log = run / "eval.jsonl"
    curve = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    _, _, state = latest_checkpoint(run)
    final = evaluate_agent(run, episodes, EVAL_SEED, progress=False, planner=planner)
    return {
        # The curve was taken with the run's own planner: not this evaluation's.
        "curve": []
        if planner
        else [(c["env_step"], c["mean_return"], c["success_rate"]) for c in curve],
        "final": _score(final),
        "wall_s": state["elapsed"],  # the run's own training time, over all its sessions
        "updates": state["step"],
    }


def stacked(world, frames: int):
    """``world`` whose observation is its last ``frames`` frames side by side on the channel
    axis (``[H, W, 3·frames]``), the first frame repeated at reset, as in Atari's frame
    stacking; ``frames=1`` returns ``world`` unchanged."""
    import gymnasium

    if frames == 1:
        return world

    class StackFrames(gymnasium.Wrapper):
        def __init__(self, env):
            super().__init__(env)
            height, width, channels = env.observation_space.shape
            shape = (height, width, channels * frames)
            self.observation_space = gymnasium.spaces.Box(0, 255, shape, np.uint8)
            self._recent: list[np.ndarray] = []

        def reset(self, **kwargs):
            obs, info = self.env.reset(**kwargs)
            self._recent = [obs] * frames
            return np.concatenate(self._recent, -1), info

        def step(self, action):
            obs, reward, terminated, truncated, info = self.env.step(action)
            self._recent = [*self._recent[1:], obs]
            return np.concatenate(self._recent, -1), reward, terminated, truncated, info

    return StackFrames(world)


def run_ppo(env: str, steps: int, seed: int, out: Path, episodes: int, frames: int = 1) -> dict:
    """stable-baselines3's PPO with its CnnPolicy, reading the last ``frames`` frames."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback

    from worldlab.worlds import make_env as make_single

    def make_env(env_id: str, size: int):
        return stacked(make_single(env_id, size=size), frames)

    curve: list[tuple[int, float, float]] = []

    def evaluate(agent) -> dict:
        return _play(
            make_env(env, size=64), lambda obs: agent.predict(obs, deterministic=True)[0], episodes
        )

    class Curve(BaseCallback):
        def _on_step(self) -> bool:
            if self.num_timesteps % CPU_SETTINGS["online.eval_every"] == 0:
                scored = _play(
                    make_env(env, size=64),
                    lambda obs: self.model.predict(obs, deterministic=True)[0],
                    CPU_SETTINGS["online.eval_episodes"],
                )
                curve.append((self.num_timesteps, scored["mean_return"], scored["success_rate"]))
            return True

    started = time.perf_counter()
    agent = PPO("CnnPolicy", make_env(env, size=64), seed=seed, verbose=0)
    agent.learn(total_timesteps=steps, callback=Curve())
    wall = time.perf_counter() - started
    return {"curve": curve, "final": evaluate(agent), "wall_s": wall}


def run_random(env: str, seed: int, episodes: int) -> dict:
    from worldlab.worlds import make_env

    world = make_env(env, size=32)
    world.action_space.seed(seed)
    return {
        "curve": [],
        "final": _play(world, lambda obs: world.action_space.sample(), episodes),
        "wall_s": 0.0,
    }


def _play(world, act, episodes: int) -> dict:
    returns, successes = [], []
    for episode in range(episodes):
        obs, info = world.reset(seed=EVAL_SEED + episode)
        total, success, done = 0.0, False, False
        while not done:
            obs, reward, terminated, truncated, info = world.step(act(obs))
            total += float(reward)
            success = success or bool(info.get("success", False))
            done = terminated or truncated
        returns.append(total)
        successes.append(success)
    world.close()
    return {
        "mean_return": float(np.mean(returns)),
        "success_rate": float(np.mean(successes)),
        "returns": returns,
    }


def _score(result: dict) -> dict:
    return {k: result[k] for k in ("mean_return", "success_rate", "returns")}


def report(out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from worldlab.evaluate.metrics import mean_ci

    results = [json.loads(p.read_text()) for p in sorted(out.glob("result_*.json"))]
    groups: dict[tuple[str, str], list[dict]] = {}
    for result in results:
        groups.setdefault((result["agent"], result["env"]), []).append(result)
    lines = [
        "| world | agent | env steps | seeds | mean return (95% CI) | success rate (95% CI) "
        "| wall time per seed |",
        "|---|---|---|---|---|---|---|",
    ]
    figure, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for (agent, env), runs in sorted(groups.items()):
        ret, ret_ci = mean_ci(np.array([r["final"]["mean_return"] for r in runs]))
        suc, suc_ci = mean_ci(np.array([r["final"]["success_rate"] for r in runs]))
        wall = np.median([r["wall_s"] for r in runs])
        ci = lambda v: "n/a" if np.isnan(v) else f"{v:.2f}"  # noqa: E731
        updates = [r["updates"] for r in runs if r.get("updates")]
        name = agent
        if updates:
            low, high = min(updates), max(updates)
            name += f" ({low:,}–{high:,} updates)" if high > low else f" ({low:,} updates)"
        lines.append(
            f"| {env} | {name} | {runs[0]['steps']:,} | {len(runs)} | {ret:.1f} ± {ci(ret_ci)} "
            f"| {suc:.0%} ± {ci(suc_ci * 100)} pts | {wall / 60:.1f} min |"
        )
        curves = [r["curve"] for r in runs if r["curve"]]
        if curves:
            length = min(len(c) for c in curves)
            steps = [c[0] for c in curves[0][:length]]
            for axis, column in ((axes[0], 1), (axes[1], 2)):
                values = np.array([[c[i][column] for i in range(length)] for c in curves])
                mean = values.mean(0)
                (line,) = axis.plot(steps, mean, label=f"{agent} ({len(curves)} seeds)")
                if len(curves) > 1:  # the band: ± one standard error over seeds
                    error = values.std(0, ddof=1) / np.sqrt(len(curves))
                    low, high = mean - error, mean + error
                    if column == 2:
                        low, high = low.clip(0, 1), high.clip(0, 1)
                    axis.fill_between(steps, low, high, alpha=0.2, color=line.get_color())
        elif agent == "random":
            for axis, value in ((axes[0], ret), (axes[1], suc)):
                axis.axhline(value, color="gray", linestyle="--", label="random")
    for axis, label in ((axes[0], "real return"), (axes[1], "success rate")):
        axis.set_xlabel("environment steps (band: ± 1 s.e. over seeds)")
        axis.set_ylabel(label)
        axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(out / "learning_curves.png", dpi=120)
    table = "\n".join(lines)
    (out / "table.md").write_text(table + "\n")
    print(table)
    print(f"plot: {out / 'learning_curves.png'}")


def main() -> None:
    from worldlab.agents.runs import read_agent_settings

    parser = argparse.ArgumentParser(description="model-based vs model-free agents")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run")
    run.add_argument("agent", choices=["dreamer", "mpc", "ppo", "ppo4", "random"])
    run.add_argument("--env", default="reach")
    run.add_argument("--steps", type=int, default=10_000)
    run.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    run.add_argument("--episodes", type=int, default=20, help="final evaluation episodes")
    run.add_argument("--out", type=Path, default=Path("bench/agents"))
    run.add_argument(
        "--pretrain",
        type=int,
        default=5_000,
        help="MPC, Dreamer with --model-recipe: updates after the exploration",
    )
    run.add_argument(
        "--model-recipe",
        action="store_true",
        help="Dreamer: MPC's world-model recipe (explore half, pretrain, reward ×10, overshoot)",
    )
    run.add_argument(
        "--explore-all",
        action="store_true",
        help="MPC: explore the whole budget, then train (the earlier recipe)",
    )
    run.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="dreamer/mpc: a setting on top of the recipe, as in `worldlab agent train --set`",
    )
    score = commands.add_parser("score", help="score existing dreamer/mpc runs (e.g. stopped)")
    score.add_argument("agent", choices=["dreamer", "mpc"])
    score.add_argument("--env", default="reach")
    score.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    score.add_argument("--episodes", type=int, default=20, help="final evaluation episodes")
    score.add_argument("--out", type=Path, default=Path("bench/agents"))
    score.add_argument(
        "--horizon", type=int, help="MPC: plan this many steps ahead instead of the run's own"
    )
    summary = commands.add_parser("report")
    summary.add_argument("out", type=Path)
    args = parser.parse_args()
    if args.command == "report":
        report(args.out)
        return
    if getattr(args, "set", None) and args.agent not in ("dreamer", "mpc"):
        parser.error(f"--set applies to dreamer and mpc runs, not {args.agent}")
    args.out.mkdir(parents=True, exist_ok=True)
    for seed in args.seeds:
        if args.command == "score":
            run = args.out / f"{args.agent}_{args.env}_s{seed}"
            steps = read_agent_settings(run).online.steps
            planner = {"horizon": args.horizon} if args.horizon else None
            result = {**score_online(run, args.episodes, planner), "steps": steps}
        elif args.agent in ("dreamer", "mpc"):
            result = run_online(
                args.agent,
                args.env,
                args.steps,
                seed,
                args.out,
                args.episodes,
                args.pretrain,
                args.explore_all,
                parse_assignments(args.set),
                args.model_recipe,
            )
        elif args.agent in ("ppo", "ppo4"):  # ppo4: the last 4 frames stacked
            frames = 4 if args.agent == "ppo4" else 1
            result = run_ppo(args.env, args.steps, seed, args.out, args.episodes, frames)
        else:
            result = run_random(args.env, seed, args.episodes)
        name = args.env.replace("/", "_")
        result = {"steps": getattr(args, "steps", None), **result}
        tag = label = args.agent
        if getattr(args, "model_recipe", False):
            tag, label = f"{tag}-mr", f"{label} (MPC's model recipe)"
        if getattr(args, "horizon", None):  # scored with another planning horizon
            tag, label = f"{tag}-h{args.horizon}", f"{label} (horizon {args.horizon} at evaluation)"
        if args.episodes != 20:  # a result file beside the 20-episode one
            tag, label = f"{tag}-e{args.episodes}", f"{label} ({args.episodes} episodes)"
        result.update(agent=label, env=args.env, seed=seed)
        if getattr(args, "set", None):  # settings on top of the recipe, as given
            result["settings"] = args.set
        (args.out / f"result_{tag}_{name}_s{seed}.json").write_text(json.dumps(result) + "\n")
        final = result["final"]
        print(
            f"{label} seed {seed}: return {final['mean_return']:.1f}, "
            f"success {final['success_rate']:.0%}, wall {result['wall_s'] / 60:.1f} min"
        )


if __name__ == "__main__":
    main()
