"""Tests for the Reach world: Gymnasium API, determinism, reward, success, clipping, speed."""

from __future__ import annotations

import time

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import worldlab  # noqa: F401  (registers worldlab/Reach-v0)
from worldlab.worlds.reach import BACKGROUND, TARGET, ReachEnv


@pytest.mark.filterwarnings("ignore:.*alternative render modes")
def test_check_env_unwrapped():
    check_env(ReachEnv())
    check_env(ReachEnv(size=32, render_mode="rgb_array"))
    check_env(gymnasium.make("worldlab/Reach-v0", render_mode="rgb_array").unwrapped)


@pytest.mark.filterwarnings("ignore:.*different from the unwrapped")
def test_check_env_made():
    check_env(gymnasium.make("worldlab/Reach-v0"))


def test_observation_and_size():
    env = gymnasium.make("worldlab/Reach-v0", size=32)
    obs, info = env.reset(seed=3)
    assert env.observation_space.shape == (32, 32, 3)
    assert obs.dtype == np.uint8 and obs.shape == (32, 32, 3)
    assert env.observation_space.contains(obs)
    frame = env.render()
    np.testing.assert_array_equal(frame, obs)
    frame[:] = 7  # render() hands out a copy
    np.testing.assert_array_equal(env.render(), obs)
    state = info["state"]
    assert state.dtype == np.float32 and state.shape == (6,)
    obs, reward, terminated, truncated, info = env.step(np.zeros(2, np.float32))
    assert obs.shape == (32, 32, 3) and isinstance(reward, float)
    assert terminated is False and truncated is False


def test_determinism_under_seed():
    def rollout(seed: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
        env = ReachEnv()
        obs, info = env.reset(seed=seed)
        actions = np.random.default_rng(0).uniform(-1, 1, size=(50, 2)).astype(np.float32)
        frames, states = [obs], [info["state"]]
        for action in actions:
            obs, _, _, _, info = env.step(action)
            frames.append(obs)
            states.append(info["state"])
        return frames, states

    frames_a, states_a = rollout(7)
    frames_b, states_b = rollout(7)
    np.testing.assert_array_equal(np.stack(frames_a), np.stack(frames_b))
    np.testing.assert_array_equal(np.stack(states_a), np.stack(states_b))
    _, states_c = rollout(8)
    assert not np.array_equal(states_a[0], states_c[0])


def test_target_far_from_start_and_drawn():
    env = ReachEnv()
    for seed in range(20):
        obs, info = env.reset(seed=seed)
        assert info["distance"] >= env.min_target_distance
        x, y, vx, vy, tx, ty = info["state"]
        assert vx == 0 and vy == 0
        # The agent (cyan) and target (red) both appear at their pixel positions.
        assert obs[int((1 - y) * 64), int(x * 64)].tolist() == [70, 210, 240]
        assert obs[int((1 - ty) * 64), int(tx * 64)].tolist() == [230, 70, 60]


@pytest.mark.parametrize("size", [32, 64])
def test_a_ring_target_is_hollow_and_changes_nothing_else(size):
    disc, ring = ReachEnv(size=size), ReachEnv(size=size, target_shape="ring")
    disc.reset(seed=5)
    ring.reset(seed=5)
    disc.set_state((0.2, 0.2), target=(0.7, 0.6))  # apart: the agent covers no target pixel
    ring.set_state((0.2, 0.2), target=(0.7, 0.6))
    centre = int((1 - 0.6) * size), int(0.7 * size)
    frame_disc, frame_ring = disc.render(), ring.render()
    assert frame_disc[centre].tolist() == list(TARGET)
    assert frame_ring[centre].tolist() == list(BACKGROUND)  # the hole shows the floor
    seg_disc, seg_ring = disc.controls()["seg"], ring.controls()["seg"]
    assert seg_ring[centre] == 0 and seg_disc[centre] == ReachEnv.TARGET_CLASS
    target_disc, target_ring = (seg == ReachEnv.TARGET_CLASS for seg in (seg_disc, seg_ring))
    assert target_ring.sum() >= 0.5 * target_disc.sum()  # still plain to see
    assert not (target_ring & ~target_disc).any()  # and inside the disc's outline
    same = ~target_disc  # every pixel off the target is drawn alike, so is the agent
    np.testing.assert_array_equal(frame_disc[same], frame_ring[same])
    for _ in range(10):  # physics is untouched
        _, reward_disc, *_ = disc.step([1.0, 0.5])
        _, reward_ring, *_ = ring.step([1.0, 0.5])
        assert reward_disc == reward_ring


def test_an_unknown_target_shape_names_the_choices():
    with pytest.raises(ValueError, match="target_shape 'star'.*disc, ring"):
        ReachEnv(target_shape="star")


def test_reward_is_negative_distance():
    env = ReachEnv()
    env.reset(seed=0)
    rng = np.random.default_rng(1)
    for _ in range(30):
        _, reward, _, _, info = env.step(rng.uniform(-1, 1, size=2))
        x, y, _, _, tx, ty = info["state"].astype(np.float64)
        assert reward == pytest.approx(-np.hypot(x - tx, y - ty), abs=1e-6)
        assert reward == -info["distance"]
        assert info["success"] == (info["distance"] < env.success_radius)


def test_proportional_controller_reaches_target():
    env = ReachEnv()
    for seed in range(5):
        _, info = env.reset(seed=seed)
        reached = False
        for _ in range(100):
            x, y, vx, vy, tx, ty = info["state"]
            action = np.clip(8.0 * np.array([tx - x, ty - y]) - 4.0 * np.array([vx, vy]), -1, 1)
            _, reward, _, _, info = env.step(action.astype(np.float32))
            if info["success"]:
                reached = True
                break
        assert reached, f"seed {seed}: P-controller did not reach the target"
        assert reward > -env.success_radius


def test_set_state_at_target_is_success():
    env = ReachEnv()
    env.reset(seed=0)
    env.set_state(position=[0.3, 0.6], target=[0.3, 0.6])
    _, reward, _, _, info = env.step([0.0, 0.0])
    assert info["success"] and reward == pytest.approx(0.0, abs=1e-9)


def test_crossing_time_with_full_action():
    env = ReachEnv()
    env.reset(seed=0)
    env.set_state(position=[0.0, 0.5], target=[0.5, 0.5])
    info = {"state": env.state}
    steps = 0
    while info["state"][0] < 1.0 - env.AGENT_RADIUS and steps < 100:
        _, _, _, _, info = env.step([1.0, 0.0])
        steps += 1
    assert 15 <= steps <= 30  # the box is crossed in ~20-30 steps at full action


def test_walls_stop_the_mass():
    env = ReachEnv()
    env.reset(seed=0)
    for _ in range(60):
        _, _, _, _, info = env.step([-1.0, 1.0])
    x, y, vx, vy = info["state"][:4]
    assert x == pytest.approx(env.AGENT_RADIUS) and y == pytest.approx(1 - env.AGENT_RADIUS)
    assert vx == 0.0 and vy == 0.0


def test_actions_are_clipped():
    a, b = ReachEnv(), ReachEnv()
    a.reset(seed=4)
    b.reset(seed=4)
    for _ in range(10):
        obs_a, _, _, _, info_a = a.step(np.array([5.0, -3.0], np.float32))
        obs_b, _, _, _, info_b = b.step(np.array([1.0, -1.0], np.float32))
    np.testing.assert_array_equal(info_a["state"], info_b["state"])
    np.testing.assert_array_equal(obs_a, obs_b)


def test_truncates_after_max_steps_never_terminates():
    env = gymnasium.make("worldlab/Reach-v0")
    env.reset(seed=0)
    for step in range(1, 101):
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        assert not terminated
        assert truncated == (step == 100)
    short = ReachEnv(max_steps=5)
    short.reset(seed=0)
    assert [short.step([0, 0])[3] for _ in range(5)] == [False] * 4 + [True]


def test_speed():
    env = ReachEnv()
    env.reset(seed=0)
    actions = np.random.default_rng(0).uniform(-1, 1, size=(3000, 2)).astype(np.float32)
    start = time.perf_counter()
    for action in actions:
        _, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            env.reset()
    steps_per_second = len(actions) / (time.perf_counter() - start)
    assert steps_per_second >= 2000, f"{steps_per_second:.0f} steps/s"
