"""How precisely a `reach` agent's world model knows the distance to the target.

    python benchmarks/reach_probe.py RUN [--episodes 40] [--seed 3000000]

Drives the mass onto the target with a scripted controller that knows the true state
(a noisy PD law), so that the episodes spend most of their steps within the success
radius (0.08), on fresh seeds the run never saw. At every step it compares the true
distance with the model's: the reward head read on the belief after the frame
(posterior) and on the one-step prediction before it (prior, what the planner sees).
The table bins steps by true distance; a model whose predicted distance stops falling
below some value cannot steer the last stretch.

A second table asks what the planner asks: from the belief at random states (the mass at
rest or moving, after a few random actions), imagine ``--ahead`` steps of full force
straight toward the target and straight away from it, and compare the model's distances
with the simulator's. A model that gets the sign wrong (toward reads farther than away)
sends the planner the wrong way.

Reads the reward head directly, so RUN is an rssm run (what `agent train` makes).
"""

from __future__ import annotations

import argparse
import copy

import numpy as np
import torch

import worldlab
from worldlab.agents.online import load_config
from worldlab.agents.rollout import Filter
from worldlab.worlds import make_env


def probe(run: str, episodes: int, seed: int, steps: int = 60) -> np.ndarray:
    """Rows of (true distance, posterior's distance, prior's distance), one per step."""
    model = worldlab.load(run)
    model.eval()
    size = load_config(run)["agent"]["online"]["size"]
    world = make_env("worldlab/Reach-v0", size=size)
    noise = np.random.default_rng(seed)
    rows = []
    for episode in range(episodes):
        obs, info = world.reset(seed=seed + episode)
        belief = Filter(model)
        state = belief.reset(obs)
        for _ in range(steps):
            offset, velocity = info["target"] - info["position"], info["velocity"]
            action = np.clip(4 * offset - 1.5 * velocity + noise.normal(0, 0.4, 2), -1, 1)
            action = action.astype(np.float32)
            with torch.no_grad():
                _, prior_reward, _ = model.step(state, torch.from_numpy(action)[None])
                obs, reward, _, _, info = world.step(action)
                state = belief.update(action, obs)
                posterior_reward = model.two_hot.mean(model.reward_head(state.features))
            rows.append((-reward, -float(posterior_reward), -float(prior_reward)))
    return np.array(rows)


def push_test(
    run: str, episodes: int, seed: int, ahead: int = 4, checks=(3, 15, 30)
) -> dict[str, np.ndarray]:
    """True and imagined distances after ``1..ahead`` steps of full force toward / away.

    Returns ``{"toward": [N, ahead, 2], "away": [N, ahead, 2]}`` (last axis: true, model)
    and ``"wall"``: ``[N]`` how far the mass is from the nearest wall at the start.
    """
    model = worldlab.load(run)
    model.eval()
    size = load_config(run)["agent"]["online"]["size"]
    world = make_env("worldlab/Reach-v0", size=size)
    noise = np.random.default_rng(seed)
    out = {"toward": [], "away": [], "wall": []}
    for episode in range(episodes):
        obs, info = world.reset(seed=seed + episode)
        belief = Filter(model)
        state = belief.reset(obs)
        for step in range(max(checks) + 1):
            if step in checks:
                offset = info["target"] - info["position"]
                direction = (offset / max(np.linalg.norm(offset), 1e-6)).astype(np.float32)
                position = info["position"]
                out["wall"].append(min(position.min(), 1 - position.max()))
                for name, force in (("toward", direction), ("away", -direction)):
                    simulator, imagined, rows = copy.deepcopy(world.unwrapped), state, []
                    for _ in range(ahead):
                        _, reward, _, _, _ = simulator.step(force)
                        with torch.no_grad():
                            imagined, model_reward, _ = model.step(
                                imagined, torch.from_numpy(force)[None]
                            )
                        rows.append((-reward, -float(model_reward)))
                    out[name].append(rows)
            action = noise.uniform(-1, 1, 2).astype(np.float32)
            obs, _, _, _, info = world.step(action)
            with torch.no_grad():
                state = belief.update(action, obs)
    return {name: np.array(rows) for name, rows in out.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="an `agent train mpc|dreamer --env reach` run")
    parser.add_argument("--episodes", type=int, default=40)
    parser.add_argument("--seed", type=int, default=3_000_000, help="first episode's seed")
    parser.add_argument("--ahead", type=int, default=4, help="imagined steps in the push test")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = probe(args.run, args.episodes, args.seed)
    print("| true distance | steps | posterior's distance | prior's distance (± s.d.) |")
    print("|---|---|---|---|")
    for low in np.arange(0.0, 0.24, 0.04):
        inside = (rows[:, 0] >= low) & (rows[:, 0] < low + 0.04)
        if inside.any():
            posterior, prior = rows[inside, 1], rows[inside, 2]
            print(
                f"| {low:.2f}–{low + 0.04:.2f} | {inside.sum()} | {posterior.mean():.3f} "
                f"| {prior.mean():.3f} ± {prior.std():.3f} |"
            )

    pushes = push_test(args.run, args.episodes, args.seed, args.ahead)
    toward, away = pushes["toward"], pushes["away"]
    print(f"\nPush test: {len(toward)} states, full force toward / away from the target")
    print("| steps ahead | toward: true | model | away: true | model | model's sign right |")
    print("|---|---|---|---|---|---|")
    for k in range(args.ahead):
        right = (toward[:, k, 1] < away[:, k, 1]).mean()
        print(
            f"| {k + 1} | {toward[:, k, 0].mean():.3f} | {toward[:, k, 1].mean():.3f} "
            f"| {away[:, k, 0].mean():.3f} | {away[:, k, 1].mean():.3f} | {right:.0%} |"
        )
    both = np.concatenate([toward, away])
    error = np.abs(both[..., 1] - both[..., 0]).mean()
    print(f"mean |model − true| distance, all imagined steps: {error:.3f}")
    right = toward[:, -1, 1] < away[:, -1, 1]
    edge = pushes["wall"] < 0.25
    print(
        f"sign right after {args.ahead} steps: {right[edge].mean():.0%} of {edge.sum()} states "
        f"with the mass within 0.25 of a wall, {right[~edge].mean():.0%} of {(~edge).sum()} others"
    )


if __name__ == "__main__":
    main()
