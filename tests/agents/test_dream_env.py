import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

import worldlab
from worldlab.agents import DreamEnv, SingleDreamEnv
from worldlab.data import EpisodeDataset, collect
from worldlab.errors import WorldlabError
from worldlab.train import train

torch.set_num_threads(2)
STEPS = {"train.steps": 2, "train.batch_size": 2, "train.seq_len": 6}


def trained(tmp_path_factory, env, name):
    root = tmp_path_factory.mktemp(name)
    collect(env, root / "data", episodes=3, max_steps=20, size=32, progress=False)
    train("rssm", root / "data", root / "run", "tiny", STEPS, progress=False)
    return worldlab.load(root / "run"), EpisodeDataset(root / "data")


@pytest.fixture(scope="module")
def bounce(tmp_path_factory):
    return trained(tmp_path_factory, "bounce", "bounce")


def test_batch_shapes_and_dtypes(bounce):
    env = DreamEnv(*bounce, num_envs=3, max_steps=4)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (3, 32, 32, 3) and obs.dtype == np.uint8
    assert env.observation_space.contains(obs)
    obs, reward, terminated, truncated, _ = env.step(np.array([0, 1, 4]))
    assert obs.shape == (3, 32, 32, 3)
    assert reward.shape == (3,) and reward.dtype == np.float32
    assert terminated.shape == truncated.shape == (3,)
    assert env.render().shape == (3, 32, 32, 3)


def test_features_observation(bounce):
    model, data = bounce
    env = DreamEnv(model, data, num_envs=2, observation="features")
    obs, _ = env.reset(seed=0)
    assert obs.shape == (2, model.feature_dims) and obs.dtype == np.float32


def test_episodes_truncate_then_restart_on_the_next_step(bounce):
    env = DreamEnv(*bounce, num_envs=2, max_steps=2, continue_threshold=0.0)
    env.reset(seed=1)
    _, _, _, truncated, _ = env.step(np.array([0, 0]))
    assert not truncated.any()
    _, _, _, truncated, _ = env.step(np.array([0, 0]))
    assert truncated.all()
    _, reward, terminated, truncated, _ = env.step(np.array([2, 2]))  # the autoreset step
    assert (reward == 0).all() and not terminated.any() and not truncated.any()
    _, _, _, truncated, _ = env.step(np.array([0, 0]))
    assert not truncated.any()  # a fresh episode of 2 steps has taken 1


def test_same_seed_same_dream(bounce):
    env = DreamEnv(*bounce, num_envs=2)
    runs = []
    for _ in range(2):
        first, _ = env.reset(seed=7)
        second = env.step(np.array([1, 3]))[0]
        runs.append((first, second))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    np.testing.assert_array_equal(runs[0][1], runs[1][1])


def test_bad_actions_are_clear_errors(bounce):
    env = DreamEnv(*bounce, num_envs=2)
    with pytest.raises(WorldlabError, match="reset"):
        env.step(np.array([0, 0]))
    env.reset(seed=0)
    with pytest.raises(WorldlabError, match="not in"):
        env.step(np.array([0, 9]))


def test_single_env_view_passes_the_env_checker(bounce):
    env = SingleDreamEnv(*bounce, max_steps=5)
    check_env(env, skip_render_check=False)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (32, 32, 3)


def test_continuous_actions(tmp_path_factory):
    env = DreamEnv(*trained(tmp_path_factory, "reach", "reach"), num_envs=2)
    assert env.single_action_space.shape == (2,)
    env.reset(seed=0)
    obs, *_ = env.step(np.array([[0.5, -1.0], [1.0, 0.0]], np.float32))
    assert obs.shape == (2, 32, 32, 3)


def test_top_level_export():
    assert worldlab.DreamEnv is DreamEnv
