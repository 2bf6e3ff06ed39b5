"""Exploration policies (``worldlab.data.policies``) and collecting with them."""

import gymnasium
import numpy as np
import pytest

from worldlab.data import EpisodeDataset, collect
from worldlab.data.collect import run_episode
from worldlab.data.policies import BrownianPolicy, StickyRandomPolicy
from worldlab.errors import DatasetError
from worldlab.worlds import make_env


def actions_of(root):
    dataset = EpisodeDataset(root)
    return [dataset.episode(i)["action"][1:] for i in range(len(dataset))]


def test_sticky_actions_are_held_and_reproducible(tmp_path):
    kwargs = dict(episodes=3, max_steps=60, size=16, policy="sticky", seed=5, progress=False)
    collect("platformer", tmp_path / "a", **kwargs)
    collect("platformer", tmp_path / "b", **kwargs)
    first, second = actions_of(tmp_path / "a"), actions_of(tmp_path / "b")
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))
    actions = np.concatenate(first)
    changes = np.count_nonzero(np.diff(actions)) / (len(actions) - 1)
    assert changes < 0.4  # uniform random actions change at 5 of 6 steps
    assert len(np.unique(actions)) == 6


def test_sticky_policy_starts_each_episode_afresh():
    policy = StickyRandomPolicy(repeat=1.0)
    space = gymnasium.spaces.Discrete(6, seed=0)
    assert len({int(policy(None, space)) for _ in range(5)}) == 1  # held
    starts = set()
    for episode in range(20):
        space.seed(episode)  # what run_episode does at an episode start
        starts.add(int(policy(None, space)))
    assert len(starts) > 1


def test_unknown_policy_names_the_choices(tmp_path):
    with pytest.raises(DatasetError, match="random, sticky"):
        collect("platformer", tmp_path, episodes=1, policy="greedy", progress=False)


def test_brownian_collection_is_reproducible_per_episode_and_drifts():
    env = make_env("reach", size=16)
    policy = BrownianPolicy(step=0.3)
    first = run_episode(env, 5, 30, policy)["action"]
    run_episode(env, 6, 30, policy)
    again = run_episode(env, 5, 30, policy)["action"]
    np.testing.assert_array_equal(first, again)  # episode 5 does not depend on episode 6
    assert np.abs(first).max() <= 1.0
    white = run_episode(env, 5, 30)["action"]
    assert (
        np.abs(np.diff(first[1:], axis=0)).mean() < 0.5 * np.abs(np.diff(white[1:], axis=0)).mean()
    )
    discrete = make_env("bounce", size=16)
    actions = run_episode(discrete, 0, 30, BrownianPolicy(step=0.2))["action"][1:]
    assert (np.diff(actions) != 0).mean() < 0.5  # mostly repeats
