"""Scripted experts (``worldlab.worlds.experts``) and expert video."""

import numpy as np
import pytest

from worldlab.data import EpisodeDataset, collect
from worldlab.errors import DatasetError, WorldlabError
from worldlab.worlds import make_env
from worldlab.worlds.experts import RIGHT_JUMP, PlatformerExpert, ReachExpert, make_expert
from worldlab.worlds.platformer import PlatformerEnv

# A gap of three tiles after a run-up: running right alone falls into it.
GAP = [
    "............",
    "@...........",
    "#####...####",
    "#####...####",
]


def play(env, policy, steps=60):
    env.reset(seed=0)
    total = 0.0
    for _ in range(steps):
        _, reward, terminated, truncated, _ = env.step(policy(env))
        total += reward
        if terminated or truncated:
            return total, terminated
    return total, False


def test_the_expert_clears_a_gap_that_running_falls_into():
    env = PlatformerEnv(size=24, layout=GAP)
    assert play(env, lambda e: 2)[1]  # running right: falls
    assert not play(env, PlatformerExpert())[1]
    assert env.state[0] > 9  # past the gap


def test_trying_moves_ahead_leaves_the_world_as_it_was():
    env = PlatformerEnv(size=24, layout=GAP)
    env.reset(seed=0)
    before, frame = env.state.copy(), env.render()
    expert = PlatformerExpert()
    for _ in range(3):
        env.step(expert(env))
    state = env.state.copy()
    expert.survives(env, RIGHT_JUMP)
    np.testing.assert_array_equal(env.state, state)
    assert not np.array_equal(before, state)
    assert frame.shape == env.render().shape


def test_the_expert_plays_generated_levels_without_falling_and_collects_coins():
    env = make_env("platformer", size=16)
    expert = make_expert("worldlab/Platformer-v0")
    results = []
    for seed in range(5):
        env.reset(seed=100 + seed)
        total, fell = 0.0, False
        for _ in range(150):
            _, reward, fell, _, _ = env.step(expert(env))
            total += reward
            if fell:
                break
        results.append((total, fell))
    assert not any(fell for _, fell in results)
    assert sum(total for total, _ in results) >= 10  # random actions collect ~0 coins


def reach_success(policy, episodes=50, steps=50) -> float:
    """How often ``policy(env)`` ends a reach episode at the target (seeds 0..episodes-1)."""
    env = make_env("reach", size=16)
    ends = []
    for seed in range(episodes):
        env.reset(seed=seed)
        env.action_space.seed(seed)
        for _ in range(steps):
            _, _, _, _, info = env.step(policy(env))
        ends.append(info["success"])
    return float(np.mean(ends))


def test_the_reach_expert_ends_at_the_target_and_random_actions_do_not():
    expert = make_expert("worldlab/Reach-v0")
    assert isinstance(expert, ReachExpert)
    env = make_env("reach", size=16)
    env.reset(seed=0)
    action = expert(env)
    assert action.dtype == np.float32 and action.shape == (2,) and np.abs(action).max() <= 1
    assert reach_success(expert) >= 0.95  # measured: 1.0
    assert reach_success(lambda e: e.action_space.sample()) <= 0.1  # measured: 0.0
    with pytest.raises(WorldlabError, match="the reach expert plays reach"):
        expert(make_env("bounce", size=16))


def test_expert_video_is_collected_and_other_worlds_have_no_expert(tmp_path):
    collect("platformer", tmp_path / "expert", 2, max_steps=40, size=16, policy="expert",
            progress=False)  # fmt: skip
    dataset = EpisodeDataset(tmp_path / "expert")
    actions = np.concatenate([dataset.episode(i)["action"][1:] for i in range(2)])
    assert set(np.unique(actions)) <= {0, 2, 5} and (actions == 2).any()
    collect("reach", tmp_path / "reach", 2, max_steps=20, size=16, policy="expert",
            progress=False)  # fmt: skip
    forces = EpisodeDataset(tmp_path / "reach").episode(0)["action"]
    assert forces.dtype == np.float32 and forces.shape == (21, 2) and np.abs(forces).max() > 0.5
    with pytest.raises(WorldlabError, match="no scripted expert plays worldlab/Bounce-v0"):
        collect("bounce", tmp_path / "b", 1, size=16, policy="expert", progress=False)
    with pytest.raises(DatasetError, match="reads the world"):
        from worldlab.data.policies import make_policy

        make_policy("expert")
