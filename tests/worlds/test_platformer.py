"""Tests for the Platformer world: Gymnasium API, levels, coins, gaps, jumping, camera, speed."""

from __future__ import annotations

import time

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import worldlab  # noqa: F401  (registers worldlab/Platformer-v0)
from worldlab.worlds.platformer import (
    ACTION_MEANINGS,
    PLATFORM,
    SOLID,
    VIEW_TILES,
    PlatformerEnv,
    parse_layout,
)

NOOP, LEFT, RIGHT, JUMP, LEFT_JUMP, RIGHT_JUMP = range(6)


def from_layout(*rows: str, **kwargs) -> tuple[PlatformerEnv, dict]:
    """An env on a hand-made level (bottom text row = bottom of the world), reset."""
    env = PlatformerEnv(layout=rows, **kwargs)
    _, info = env.reset(seed=0)
    return env, info


def run(env: PlatformerEnv, action: int, steps: int) -> tuple[float, bool, bool, dict]:
    """Repeat ``action``; stop early at the end of the episode. Returns summed reward."""
    total, terminated, truncated, info = 0.0, False, False, {}
    for _ in range(steps):
        _, reward, terminated, truncated, info = env.step(action)
        total += reward
        if terminated or truncated:
            break
    return total, terminated, truncated, info


@pytest.mark.filterwarnings("ignore:.*alternative render modes")
def test_check_env_unwrapped():
    check_env(PlatformerEnv())
    check_env(PlatformerEnv(size=32, max_steps=50, render_mode="rgb_array"))
    check_env(gymnasium.make("worldlab/Platformer-v0", render_mode="rgb_array").unwrapped)


@pytest.mark.filterwarnings("ignore:.*different from the unwrapped")
def test_check_env_made():
    check_env(gymnasium.make("worldlab/Platformer-v0"))


def test_action_meanings():
    assert ACTION_MEANINGS == ("NOOP", "LEFT", "RIGHT", "JUMP", "LEFT_JUMP", "RIGHT_JUMP")
    assert PlatformerEnv().action_space.n == len(ACTION_MEANINGS)


def test_observation_and_size():
    env = gymnasium.make("worldlab/Platformer-v0", size=32)
    obs, info = env.reset(seed=3)
    assert env.observation_space.shape == (32, 32, 3)
    assert obs.dtype == np.uint8 and obs.shape == (32, 32, 3)
    assert env.observation_space.contains(obs)
    frame = env.render()
    np.testing.assert_array_equal(frame, obs)
    frame[:] = 7  # render() hands out a copy
    np.testing.assert_array_equal(env.render(), obs)
    assert info["state"].dtype == np.float32 and info["state"].shape == (7,)
    assert info["coins"] == 0 and info["x"] == pytest.approx(info["state"][0])
    obs, reward, terminated, truncated, info = env.step(RIGHT)
    assert obs.shape == (32, 32, 3) and isinstance(reward, float)
    assert terminated is False and truncated is False


def test_determinism_under_seed():
    def rollout(seed: int) -> tuple[np.ndarray, np.ndarray]:
        env = PlatformerEnv()
        obs, info = env.reset(seed=seed)
        actions = np.random.default_rng(0).integers(0, 6, size=120)
        frames, states = [obs], [info["state"]]
        for action in actions:
            obs, _, terminated, truncated, info = env.step(int(action))
            frames.append(obs)
            states.append(info["state"])
            if terminated or truncated:
                break
        return np.stack(frames), np.stack(states)

    frames_a, states_a = rollout(5)
    frames_b, states_b = rollout(5)
    np.testing.assert_array_equal(frames_a, frames_b)
    np.testing.assert_array_equal(states_a, states_b)


def test_levels_depend_on_seed():
    env = PlatformerEnv()
    env.reset(seed=1)
    tiles_1, coins_1 = env.tiles.copy(), env.coin_positions.copy()
    env.reset(seed=2)
    assert not np.array_equal(env.tiles, tiles_1)
    env.reset(seed=1)
    np.testing.assert_array_equal(env.tiles, tiles_1)
    np.testing.assert_array_equal(env.coin_positions, coins_1)


@pytest.mark.parametrize("seed", range(5))
def test_generated_level_is_sane(seed):
    env = PlatformerEnv()
    _, info = env.reset(seed=seed)
    tiles = env.tiles
    assert tiles.shape[0] == VIEW_TILES
    assert tiles.shape[1] >= env.max_steps * env.RUN_SPEED + VIEW_TILES  # long enough
    assert (tiles[:2, :8] == SOLID).all()  # a safe start
    assert (tiles[0] == 0).any()  # there are gaps
    assert (tiles == PLATFORM).any() and info["coins_total"] > 10
    assert info["on_ground"] and info["state"][4] == 1.0
    # No coin is buried inside a tile.
    cols, rows = env.coin_positions[:, 0].astype(int), env.coin_positions[:, 1].astype(int)
    assert (tiles[rows, cols] == 0).all()


def test_coin_gives_reward_one():
    env, info = from_layout(
        "............",
        "@..o........",
        "############",
    )
    assert info["coins_total"] == 1
    rewards = [env.step(RIGHT)[1] for _ in range(20)]
    assert sum(rewards) == 1.0 and max(rewards) == 1.0
    assert env.step(RIGHT)[4]["coins"] == 1
    # The coin is gone: walking back over it gives nothing.
    total, *_ = run(env, LEFT, 20)
    assert total == 0.0


def test_coin_in_the_air_needs_a_jump():
    env, _ = from_layout(
        ".o..........",
        "............",
        ".@..........",
        "############",
    )
    assert run(env, NOOP, 10)[0] == 0.0
    total, *_ = run(env, JUMP, 30)
    assert total == 1.0


def test_falling_into_a_gap_terminates():
    env, _ = from_layout(
        "@...........",
        "###...######",
    )
    total, terminated, truncated, info = run(env, RIGHT, 60)
    assert terminated and not truncated
    assert info["state"][1] < 0  # below the bottom of the world


def test_jumping_a_gap_survives():
    env, _ = from_layout(
        "@...........",
        "###...######",
    )
    run(env, RIGHT, 4)
    run(env, RIGHT_JUMP, 1)
    _, terminated, _, info = run(env, RIGHT, 40)
    assert not terminated and info["on_ground"] and info["x"] > 6


def test_jump_only_from_ground():
    env, info = from_layout("@...........", "############")
    assert info["on_ground"]
    _, _, _, _, info = env.step(JUMP)
    vy = info["state"][3]
    assert vy == pytest.approx(env.JUMP_SPEED - env.GRAVITY) and not info["on_ground"]
    for _ in range(5):  # pressing jump in the air does nothing extra
        _, _, _, _, info = env.step(JUMP)
        assert info["state"][3] == pytest.approx(vy - env.GRAVITY)
        vy = info["state"][3]
    # Without jumping, it falls back and lands on the ground.
    _, _, _, info = run(env, NOOP, 40)
    assert info["on_ground"] and info["state"][1] == pytest.approx(1.0)


def test_platforms_are_one_way():
    env, _ = from_layout(
        "............",
        "..====......",
        "............",
        "...@........",
        "############",
    )
    run(env, JUMP, 1)  # up through the platform from below ...
    _, _, _, info = run(env, NOOP, 40)
    assert info["on_ground"] and info["state"][1] == pytest.approx(4.0)  # ... and onto it


def test_solid_walls_block_and_ceilings_bump():
    env, _ = from_layout(
        "@....#......",
        "############",
    )
    _, _, _, info = run(env, RIGHT, 30)
    assert info["x"] == pytest.approx(5 - env.WIDTH / 2)
    env, _ = from_layout(
        "...#........",
        "............",
        "...@........",
        "############",
    )
    _, _, _, _, info = env.step(JUMP)
    for _ in range(10):
        _, _, _, _, info = env.step(NOOP)
        assert info["state"][1] + env.HEIGHT <= 3.0 + 1e-6


def test_moving_right_and_left():
    env = PlatformerEnv()
    _, info = env.reset(seed=0)
    x0 = info["x"]
    _, _, _, info = run(env, RIGHT, 10)
    assert info["x"] > x0 + 1.5 and info["state"][2] == pytest.approx(env.RUN_SPEED)
    x1 = info["x"]
    _, _, _, info = run(env, LEFT, 5)
    assert info["x"] < x1
    _, _, _, info = run(env, NOOP, 5)
    assert info["state"][2] == 0.0


def test_actions_are_visible():
    env = PlatformerEnv()
    env.reset(seed=0)
    obs = {}
    for action in range(6):
        env.reset(seed=0)
        obs[action] = env.step(action)[0]
    # Left, right and jump each change the picture differently from doing nothing.
    for action in (LEFT, RIGHT, JUMP):
        assert not np.array_equal(obs[action], obs[NOOP])
    assert not np.array_equal(obs[LEFT], obs[RIGHT])


def test_camera_follows_character():
    env = PlatformerEnv()
    env.reset(seed=0)
    assert env.state[6] == 0.0
    env2, _ = from_layout("@" + "." * 39, "#" * 40)
    _, _, _, info = run(env2, RIGHT, 60)
    x, camera = info["state"][0], info["state"][6]
    assert camera == pytest.approx(x - VIEW_TILES / 3)


def test_truncation():
    env = PlatformerEnv(max_steps=25)
    env.reset(seed=0)
    for step in range(1, 26):
        _, _, terminated, truncated, _ = env.step(NOOP)
        assert not terminated and truncated == (step == 25)


def test_parse_layout():
    tiles, coins, start = parse_layout(["@..o..=.....", "############"])
    assert tiles.shape == (VIEW_TILES, 12)
    assert (tiles[0] == SOLID).all() and tiles[1, 6] == PLATFORM
    np.testing.assert_allclose(coins, [[3.5, 1.5]])
    assert start == (0.5, 1.0)
    with pytest.raises(ValueError):
        parse_layout(["@..", "###"])


def test_speed():
    env = PlatformerEnv()
    env.reset(seed=0)
    actions = np.random.default_rng(0).integers(0, 6, size=3000)
    start = time.perf_counter()
    for action in actions:
        _, _, terminated, truncated, _ = env.step(int(action))
        if terminated or truncated:
            env.reset()
    steps_per_second = len(actions) / (time.perf_counter() - start)
    assert steps_per_second >= 2000, f"{steps_per_second:.0f} steps/s"


@pytest.mark.parametrize("seed", [87, 449])
def test_levels_whose_last_platform_runs_past_the_edge_generate(seed):
    # These seeds once put coins beyond the level's last column (IndexError on reset).
    env = PlatformerEnv(size=32)
    env.reset(seed=seed)
    assert (env.coin_positions[:, 0] < env.tiles.shape[1]).all()
