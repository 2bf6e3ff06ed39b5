"""How precisely a `reach` agent's world model knows the distance to the target, now and ahead.

    python benchmarks/reach_probe.py RUN [--compare OTHER_RUN ...] [--episodes 40]

Drives the mass onto the target with a scripted controller that knows the true state
(a noisy PD law), so that the episodes spend most of their steps within the success
radius (0.08), on fresh seeds the run never saw. At every step it compares the true
distance with the model's: the reward head read on the belief after the frame
(posterior) and on the one-step prediction before it (prior, what the planner sees).
The table bins steps by true distance; a model whose predicted distance stops falling
below some value cannot steer the last stretch.

A second table asks whether the planner can trust what it imagines where it actually
goes: RUN's agent plays its own episodes, and from the belief at every other step the
model imagines the next 1–4 steps under the actions the agent then took; the table gives
the mean |imagined − true| distance by steps ahead, also for targets near a wall, and
for each ``--compare`` run's model on the same frames and actions.

Reads the reward head directly, so RUN is an rssm run (what `agent train` makes).
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

import worldlab
from worldlab.agents.rollout import Filter, to_env_action
from worldlab.agents.runs import load_agent, read_agent_settings
from worldlab.worlds import make_env


def probe(run: str, episodes: int, seed: int, steps: int = 60) -> np.ndarray:
    """Rows of (true distance, posterior's distance, prior's distance), one per step."""
    model = worldlab.load(run)
    model.eval()
    size = read_agent_settings(run).online.size
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


def imagination_on_policy(
    run: str, others: list[str], episodes: int, seed: int, ahead: int = 4
) -> dict[str, np.ndarray]:
    """How far the imagined distance drifts from the truth along the agent's own episodes.

    RUN's greedy agent plays ``episodes`` real episodes. Every model (RUN's and each of
    ``others``, filtering the same frames) then imagines ``1..ahead`` steps from its belief
    at every other step under the actions actually taken, and its distance (−reward) is
    compared with the one the world reached. Returns ``{run: [N, ahead] errors}`` and
    ``"near_wall"``: ``[N]`` whether the episode's target lies within 0.15 of a wall.
    """
    model, policy, on_start = load_agent(run)
    models = {run: model, **{name: worldlab.load(name).eval() for name in others}}
    world = make_env("worldlab/Reach-v0", size=read_agent_settings(run).online.size)
    errors: dict[str, list] = {name: [] for name in models}
    near_wall = []
    for episode in range(episodes):
        on_start()
        obs, info = world.reset(seed=seed + episode)
        target = info["target"]
        filters = {name: Filter(model) for name, model in models.items()}
        beliefs = {name: [belief.reset(obs)] for name, belief in filters.items()}
        actions, distances, done = [], [], False
        while not done:
            with torch.no_grad():
                action = to_env_action(models[run], policy(beliefs[run][-1]))
            obs, _, terminated, truncated, info = world.step(action)
            done = terminated or truncated
            actions.append(torch.as_tensor(np.asarray(action, np.float32))[None])
            distances.append(info["distance"])
            with torch.no_grad():
                for name, belief in filters.items():
                    beliefs[name].append(belief.update(action, obs))
        for t in range(0, len(actions) - ahead + 1, 2):
            near_wall.append(min(target.min(), 1 - target.max()) < 0.15)
            for name, model in models.items():
                state, row = beliefs[name][t], []
                for k in range(ahead):
                    with torch.no_grad():
                        state, reward, _ = model.step(state, actions[t + k])
                    row.append(abs(-float(reward) - distances[t + k]))
                errors[name].append(row)
    return {**{name: np.array(rows) for name, rows in errors.items()}, "near_wall": near_wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="an `agent train mpc|dreamer --env reach` run")
    parser.add_argument("--episodes", type=int, default=40)
    parser.add_argument("--seed", type=int, default=3_000_000, help="first episode's seed")
    parser.add_argument(
        "--compare", nargs="*", default=[], help="other reach runs whose imagination to score"
    )
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

    errors = imagination_on_policy(args.run, args.compare, args.episodes, args.seed)
    near = np.array(errors.pop("near_wall"))
    print(f"\nImagined vs true distance along {args.run}'s own episodes ({len(near)} starts):")
    print("| model | 1 step | 2 steps | 3 steps | 4 steps | 4 steps, target near a wall |")
    print("|---|---|---|---|---|---|")
    for name, error in errors.items():
        cells = " | ".join(f"{value:.3f}" for value in error.mean(0))
        print(f"| {name} | {cells} | {error[near, -1].mean():.3f} |")


if __name__ == "__main__":
    main()
