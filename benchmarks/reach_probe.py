"""How precisely a `reach` agent's world model knows the distance to the target.

    python benchmarks/reach_probe.py RUN [--episodes 40] [--seed 3000000]

Drives the mass onto the target with a scripted controller that knows the true state
(a noisy PD law), so that the episodes spend most of their steps within the success
radius (0.08), on fresh seeds the run never saw. At every step it compares the true
distance with the model's: the reward head read on the belief after the frame
(posterior) and on the one-step prediction before it (prior, what the planner sees).
The table bins steps by true distance; a model whose predicted distance stops falling
below some value cannot steer the last stretch.

Reads the reward head directly, so RUN is an rssm run (what `agent train` makes).
"""

from __future__ import annotations

import argparse

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="an `agent train mpc|dreamer --env reach` run")
    parser.add_argument("--episodes", type=int, default=40)
    parser.add_argument("--seed", type=int, default=3_000_000, help="first episode's seed")
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


if __name__ == "__main__":
    main()
