"""Train an off-the-shelf stable-baselines3 agent entirely inside a world model's dream,
then evaluate it in the real world.

    pip install 'worldlab[sb3]'
    worldlab collect --env reach --episodes 200 --size 32 --out reach_data
    worldlab train rssm --data reach_data --out reach_model --preset tiny --steps 3000
    python examples/sb3_in_the_dream.py reach_model --data reach_data --steps 50000

The agent (PPO on the model's features) never touches the real world while it
learns: every observation, reward and episode end comes from the model. In the real
world the model filters the real frames and the agent reads its features, so the
policy sees the same kind of input in both places. The script prints the agent's real
return beside a random policy's on the same episode seeds.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

import worldlab
from worldlab.agents import SingleDreamEnv
from worldlab.agents.rollout import play_in_world
from worldlab.data import EpisodeDataset


def train_in_dream(
    run: Path,
    data: Path,
    steps: int,
    envs: int = 8,
    horizon: int = 50,
    seed: int = 0,
    eval_episodes: int = 10,
    progress: bool = True,
) -> dict:
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    model = worldlab.load(run)
    dataset = EpisodeDataset(data)

    def dream() -> SingleDreamEnv:
        return SingleDreamEnv(model, dataset, observation="features", max_steps=horizon, context=3)

    vec_env = make_vec_env(dream, n_envs=envs, seed=seed)
    agent = PPO("MlpPolicy", vec_env, n_steps=max(16, 256 // envs), batch_size=64, seed=seed)
    agent.learn(total_timesteps=steps, progress_bar=False)

    def ppo_policy(state):
        features = model.features(state).float().cpu().numpy()
        action, _ = agent.predict(features, deterministic=True)
        return torch.as_tensor(action)

    generator = np.random.default_rng(seed)

    def random_policy(state):
        spec = model.action_spec
        if spec.kind == "discrete":
            return torch.as_tensor([generator.integers(spec.n)])
        return torch.as_tensor(generator.uniform(-1, 1, (1, spec.dims)), dtype=torch.float32)

    results = {}
    for name, policy in (("ppo_in_dream", ppo_policy), ("random", random_policy)):
        torch.manual_seed(seed)
        results[name] = play_in_world(
            model, policy, episodes=eval_episodes, seed=10_000, progress=progress, label=name
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a trained world-model run with a reward head")
    parser.add_argument("--data", type=Path, required=True, help="start frames for dreams")
    parser.add_argument("--steps", type=int, default=50_000, help="PPO steps inside the dream")
    parser.add_argument("--episodes", type=int, default=10, help="real evaluation episodes")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    results = train_in_dream(
        args.run, args.data, args.steps, seed=args.seed, eval_episodes=args.episodes
    )
    for name, result in results.items():
        ci = result["return_ci"] or 0.0
        print(
            f"{name:>13}: real return {result['mean_return']:.2f} ± {ci:.2f}, "
            f"success {result['success_rate']:.0%} over {result['episodes']} episodes"
        )


if __name__ == "__main__":
    main()
