"""Tests for the Bounce world: Gymnasium API, determinism, physics invariants, occluder, speed."""

from __future__ import annotations

import time

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import worldlab  # noqa: F401  (registers worldlab/Bounce-v0)
from worldlab.worlds.bounce import BounceEnv

ENERGY_RTOL_NO_GRAVITY = 1e-9  # stated in the bounce.py docstring
ENERGY_RTOL_GRAVITY = 1e-6
OVERLAP_TOL = BounceEnv.OVERLAP_TOLERANCE


def one_ball(**kwargs) -> BounceEnv:
    """A single uncontrolled ball without gravity, reset; place it with ``set_state``."""
    env = BounceEnv(**{"num_balls": 1, "gravity": 0.0, "controllable": False, **kwargs})
    env.reset(seed=0)
    return env


@pytest.mark.filterwarnings("ignore:.*alternative render modes")
def test_check_env_unwrapped():
    check_env(BounceEnv())
    check_env(BounceEnv(num_balls=5, occluder=True, render_mode="rgb_array"))
    check_env(gymnasium.make("worldlab/Bounce-v0", render_mode="rgb_array").unwrapped)


@pytest.mark.filterwarnings("ignore:.*different from the unwrapped")
def test_check_env_made():
    check_env(gymnasium.make("worldlab/Bounce-v0", render_mode="rgb_array", occluder=(0.1, 0.4)))


def test_observation_and_size():
    env = gymnasium.make("worldlab/Bounce-v0", size=32, render_mode="rgb_array")
    obs, info = env.reset(seed=3)
    assert env.observation_space.shape == (32, 32, 3)
    assert obs.dtype == np.uint8 and obs.shape == (32, 32, 3)
    assert env.observation_space.contains(obs)
    frame = env.render()
    np.testing.assert_array_equal(frame, obs)
    frame[:] = 7  # render() hands out a copy
    np.testing.assert_array_equal(env.render(), obs)
    obs, reward, terminated, truncated, info = env.step(0)
    assert obs.shape == (32, 32, 3) and isinstance(reward, float)
    assert terminated is False and truncated is False


def test_rendering_flips_y_and_background_is_black():
    env = one_ball(size=64)
    env.set_state(positions=[[0.5, 0.85]])
    frame = env.render()
    lit = np.argwhere(frame.any(axis=-1))
    assert len(lit) > 0 and lit[:, 0].max() < 32  # high y is drawn near the top
    assert not frame[-10:].any()  # black elsewhere


def test_info_layout():
    env = BounceEnv(num_balls=4, colours=[(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)])
    _, info = env.reset(seed=1)
    assert info["state"].dtype == np.float32 and info["state"].shape == (32,)
    state = info["state"].reshape(4, 8)
    np.testing.assert_allclose(state[:, 0:2], info["positions"], rtol=1e-6)
    np.testing.assert_allclose(state[:, 2:4], info["velocities"], rtol=1e-6)
    np.testing.assert_allclose(state[:, 4], info["radii"], rtol=1e-6)
    np.testing.assert_allclose(state[:, 5:8], info["colours"])
    np.testing.assert_array_equal(info["colours"][1], [0.0, 1.0, 0.0])
    assert info["visible"].dtype == bool and info["visible"].all()
    assert info["events"] == [] and isinstance(info["energy"], float)
    lo, hi = env.radius_range
    assert np.all((info["radii"] >= lo) & (info["radii"] <= hi))
    speeds = np.linalg.norm(info["velocities"], axis=1)
    assert np.all((speeds >= env.speed_range[0] - 1e-12) & (speeds <= env.speed_range[1] + 1e-12))


def test_determinism_under_seed():
    actions = np.random.default_rng(0).integers(0, 5, 300)
    runs = []
    for _ in range(2):
        env = gymnasium.make("worldlab/Bounce-v0", num_balls=5, occluder=True)
        obs, info = env.reset(seed=42)
        frames, states = [obs], [info["state"]]
        for a in actions:
            obs, _, _, _, info = env.step(a)
            frames.append(obs)
            states.append(info["state"])
        runs.append((np.stack(frames), np.stack(states)))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    _, other = gymnasium.make("worldlab/Bounce-v0", num_balls=5).reset(seed=43)
    assert not np.array_equal(other["state"], runs[0][1][0])


@pytest.mark.parametrize(
    ("gravity", "rtol"), [(0.0, ENERGY_RTOL_NO_GRAVITY), (1.0, ENERGY_RTOL_GRAVITY)]
)
@pytest.mark.parametrize("num_balls", [3, 6])
def test_energy_conserved_without_actions(gravity, rtol, num_balls):
    for seed in range(3):
        env = BounceEnv(num_balls=num_balls, gravity=gravity)
        _, info = env.reset(seed=seed)
        energy0, collisions = info["energy"], 0
        for _ in range(1000):
            _, _, _, _, info = env.step(0)
            collisions += sum(e["type"] == "collision" for e in info["events"])
            assert abs(info["energy"] - energy0) <= rtol * abs(energy0)
        assert collisions > 0  # the run did exercise ball-ball collisions


@pytest.mark.parametrize("gravity", [0.0, 1.0, 5.0])
@pytest.mark.parametrize("actions", [False, True])
def test_inside_box_and_no_interpenetration(gravity, actions):
    env = BounceEnv(num_balls=6, gravity=gravity)
    _, info = env.reset(seed=7)
    rng = np.random.default_rng(0)
    upper = np.triu_indices(6, 1)
    for _ in range(1000):
        _, _, _, _, info = env.step(int(rng.integers(5)) if actions else 0)
        p, r = info["positions"], info["radii"]
        assert np.all(p - r[:, None] >= -1e-12) and np.all(p + r[:, None] <= 1 + 1e-12)
        gaps = np.linalg.norm(p[:, None] - p[None], axis=-1) - (r[:, None] + r[None])
        assert gaps[upper].min() >= -OVERLAP_TOL
        if actions:  # pushes are capped: energy stays below every ball at MAX_SPEED and y = 1
            assert info["energy"] <= env.masses.sum() * (0.5 * BounceEnv.MAX_SPEED**2 + gravity)


def test_momentum_conserved_in_collisions():
    env = BounceEnv(num_balls=2, gravity=0.0, controllable=False)
    env.reset(seed=0)
    masses = env.masses
    info = env.set_state([[0.3, 0.5], [0.7, 0.55]], [[0.4, 0.05], [-0.3, -0.02]])
    momentum0 = masses @ info["velocities"]
    kinetic0 = 0.5 * masses @ (info["velocities"] ** 2).sum(axis=1)
    collided = False
    for _ in range(8):  # they meet after ~0.4 s and are still far from the walls at 0.53 s
        _, _, _, _, info = env.step(0)
        assert not any(e["type"] == "wall" for e in info["events"])
        collided |= any(e["type"] == "collision" for e in info["events"])
        np.testing.assert_allclose(masses @ info["velocities"], momentum0, atol=1e-14)
    kinetic = 0.5 * masses @ (info["velocities"] ** 2).sum(axis=1)
    assert collided and np.isclose(kinetic, kinetic0, rtol=1e-12, atol=0)


@pytest.mark.parametrize("radius_range", [(0.08, 0.08), (0.05, 0.1)])
def test_head_on_collision_matches_1d_formula(radius_range):
    env = BounceEnv(num_balls=2, gravity=0.0, radius_range=radius_range, controllable=False)
    env.reset(seed=5)
    m1, m2 = env.masses
    v1, v2 = 0.5, -0.2
    env.set_state([[0.3, 0.5], [0.7, 0.5]], [[v1, 0.0], [v2, 0.0]])
    for _ in range(8):  # they meet after ~0.35 s, long before reaching a wall
        _, _, _, _, info = env.step(0)
    expected = [
        ((m1 - m2) * v1 + 2 * m2 * v2) / (m1 + m2),
        ((m2 - m1) * v2 + 2 * m1 * v1) / (m1 + m2),
    ]
    np.testing.assert_allclose(info["velocities"][:, 0], expected, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(info["velocities"][:, 1], 0.0, atol=1e-14)


def test_free_fall_is_exact_and_floor_bounce_keeps_energy():
    env = one_ball(gravity=1.0)
    info = env.set_state([[0.5, 0.9]], [[0.0, 0.0]])
    energy0 = info["energy"]
    for k in range(1, 11):  # well before reaching the floor
        _, _, _, _, info = env.step(0)
        t = k * BounceEnv.DT
        assert info["positions"][0, 1] == pytest.approx(0.9 - 0.5 * t * t, abs=1e-12)
        assert info["velocities"][0, 1] == pytest.approx(-t, abs=1e-12)
    heights, walls = [], []
    for _ in range(60):
        _, _, _, _, info = env.step(0)
        heights.append(info["positions"][0, 1])
        walls += [e["wall"] for e in info["events"] if e["type"] == "wall"]
    assert walls and set(walls) == {"bottom"}
    assert info["energy"] == pytest.approx(energy0, rel=1e-12)
    assert max(heights[10:]) > 0.85  # bounces back up to (near) its drop height


def test_actions_push_ball_zero_only_when_controllable():
    for controllable in (True, False):
        env = BounceEnv(num_balls=2, gravity=0.0, controllable=controllable)
        env.reset(seed=0)
        env.set_state([[0.3, 0.5], [0.8, 0.8]], [[0.0, 0.0], [0.0, 0.0]])
        push = BounceEnv.PUSH_SPEED if controllable else 0.0
        for action, expected in [(2, (push, 0)), (3, (push, push)), (1, (0, push)), (4, (0, 0))]:
            _, _, _, _, info = env.step(action)
            np.testing.assert_allclose(info["velocities"][0], expected, atol=1e-12)
            np.testing.assert_allclose(info["velocities"][1], 0.0, atol=1e-12)
    env = one_ball(controllable=True)
    for _ in range(30):  # pushing forever is capped
        _, _, _, _, info = env.step(2)
    assert np.linalg.norm(info["velocities"][0]) <= BounceEnv.MAX_SPEED + 1e-12


def test_reward_counts_collisions_of_ball_zero():
    env = BounceEnv(num_balls=3, gravity=0.0, controllable=False)
    env.reset(seed=0)
    env.set_state([[0.3, 0.5], [0.7, 0.5], [0.5, 0.15]], [[0.3, 0.0], [-0.3, 0.0], [0.0, 0.0]])
    rewards, collision_steps = [], []
    for _ in range(15):
        _, reward, _, _, info = env.step(0)
        rewards.append(reward)
        collision_steps.append(any(e["type"] == "collision" for e in info["events"]))
    assert sum(rewards) == 1.0 and rewards.index(1.0) == collision_steps.index(True)


def test_truncates_at_max_steps_and_never_terminates():
    env = BounceEnv(max_steps=5)
    env.reset(seed=0)
    flags = [env.step(0)[2:4] for _ in range(5)]
    assert flags == [(False, False)] * 4 + [(False, True)]


@pytest.mark.parametrize("occluder", [True, (0.3, 0.6)])
def test_occluder_hides_ball_and_fires_events(occluder):
    env = one_ball(occluder=occluder, colours=[(255, 0, 0)])
    x0, x1 = env.occluder
    r = env.unwrapped._r[0]
    assert x1 - x0 > 2 * r
    env.set_state([[x0 - r - 0.01, 0.5]], [[0.3, 0.0]])  # left of the bar, moving right
    kinds, hidden_frames, visible_frames = [], 0, 0
    for _ in range(int((x1 - x0 + 2 * r + 0.02) / (0.3 * BounceEnv.DT)) + 2):
        obs, _, _, _, info = env.step(0)
        kinds += [e["type"] for e in info["events"] if e["type"].startswith("occlusion")]
        red = np.any((obs[..., 0] == 255) & (obs[..., 1] == 0))
        if info["visible"][0]:
            visible_frames += 1
        else:
            hidden_frames += 1
            assert not red  # fully hidden: not a single ball pixel shows
    assert kinds == ["occlusion_start", "occlusion_end"]
    assert hidden_frames > 0 and visible_frames > 0 and info["visible"][0]
    assert np.all(obs[:, round(x0 * 64) : round(x1 * 64)] == 128)  # bar drawn in grey


def test_bad_arguments():
    with pytest.raises(ValueError):
        BounceEnv(radius_range=(0.2, 0.6))
    with pytest.raises(ValueError):
        BounceEnv(occluder=(0.6, 0.4))
    with pytest.raises(ValueError):
        BounceEnv(num_balls=2, colours=[(255, 0, 0)])
    env = BounceEnv(num_balls=2)
    env.reset(seed=0)
    with pytest.raises(ValueError):
        env.set_state([[0.5, 0.5], [0.52, 0.5]])  # overlapping
    with pytest.raises(ValueError):
        env.step(5)


def test_speed():
    env = gymnasium.make("worldlab/Bounce-v0")
    env.reset(seed=0)
    actions = np.random.default_rng(0).integers(0, 5, 3000).tolist()
    start = time.perf_counter()
    for a in actions:
        env.step(a)
    rate = len(actions) / (time.perf_counter() - start)
    assert rate >= 2000, f"{rate:.0f} steps/s"
