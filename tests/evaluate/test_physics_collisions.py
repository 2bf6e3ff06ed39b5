"""Collision realism on phyworld's head-on collisions: the truth scores perfect; balls that
pass through each other, stick together, collide late or freeze are each caught."""

import numpy as np
import pytest

from worldlab.evaluate.physics.collisions import true_collisions
from worldlab.evaluate.physics.metrics import Truth, score_rollouts
from worldlab.evaluate.physics.reader import read_balls
from worldlab.worlds.bounce import BounceEnv
from worldlab.worlds.bounce_splits import split_kwargs

SIZE, STEPS, EPISODES = 32, 32, 10


class PassThrough(BounceEnv):
    """Balls that ignore each other."""

    def _collide(self, *args, **kwargs):
        pass


class Sticky(BounceEnv):
    """A perfectly inelastic impact: both balls leave with the centre of mass's velocity."""

    def _collide(self, i, j, dx, dy, d2, rs, h, events, seen):
        m, vx, vy = self._m, self._vx, self._vy
        total = m[i] + m[j]
        vx[i] = vx[j] = (m[i] * vx[i] + m[j] * vx[j]) / total
        vy[i] = vy[j] = (m[i] * vy[i] + m[j] * vy[j]) / total
        distance = np.hypot(dx, dy)
        if distance < rs:  # push apart to touching
            shift = (rs - distance) / 2 / distance
            self._x[i], self._y[i] = self._x[i] - shift * dx, self._y[i] - shift * dy
            self._x[j], self._y[j] = self._x[j] + shift * dx, self._y[j] + shift * dy


def episodes(world=BounceEnv):
    kwargs = split_kwargs("phyworld_collision")
    kwargs.pop("max_steps")
    frames, states = [], []
    for seed in range(EPISODES):
        env = world(size=SIZE, max_steps=STEPS, **kwargs)
        frame, info = env.reset(seed=seed)
        clip, state = [frame], [info["state"]]
        for _ in range(STEPS - 1):
            frame, _, _, _, info = env.step(0)
            clip.append(frame)
            state.append(info["state"])
        frames.append(np.stack(clip))
        states.append(np.stack(state).reshape(STEPS, 2, 8))
    return np.stack(frames), np.stack(states)


@pytest.fixture(scope="module")
def truth_and_frames():
    frames, states = episodes()
    truth = Truth(states[..., :2], states[..., 2:4], states[..., 4],
                  np.zeros(states.shape[:3], bool), 0.0, 0.1, SIZE)  # fmt: skip
    return truth, frames, states


def score(frames, states, truth):
    readings = [read_balls(clip, states[w, 0, :, 5:8]) for w, clip in enumerate(frames)]
    return score_rollouts(readings, truth)["summary"]


def test_every_head_on_episode_has_a_scored_collision(truth_and_frames):
    truth, _, _ = truth_and_frames
    events = true_collisions(truth)
    assert {w for w, _, _, _ in events} == set(range(EPISODES))
    assert all((i, j) == (0, 1) for _, _, i, j in events)


def test_the_truth_collides_on_time_with_the_right_velocities(truth_and_frames):
    truth, frames, states = truth_and_frames
    summary = score(frames, states, truth)
    assert summary["collision_timing"]["mean"] == 1.0
    assert summary["collision_timing"]["events"] >= EPISODES
    assert summary["velocity_after_error"]["mean"] < 0.03  # units/s, from pixel centroids
    assert summary["momentum_error"]["mean"] < 0.2 and summary["energy_error"]["mean"] < 0.25
    assert summary["interpenetration"]["mean"] == 0
    assert summary["violation_rate"]["mean"] == 0


def test_balls_that_pass_through_each_other_are_caught(truth_and_frames):
    truth, _, states = truth_and_frames
    summary = score(episodes(PassThrough)[0], states, truth)
    assert summary["collision_timing"]["mean"] == 0
    assert summary["interpenetration"]["mean"] > 0.1
    assert summary["violations"]["interpenetration"] == 1.0
    assert summary["violations"]["missed_collision"] == 1.0


def test_balls_that_stick_lose_energy_and_leave_at_the_wrong_velocity(truth_and_frames):
    truth, frames, states = truth_and_frames
    right = score(frames, states, truth)
    summary = score(episodes(Sticky)[0], states, truth)
    assert summary["collision_timing"]["mean"] > 0.7  # they do meet on time ...
    assert summary["energy_error"]["mean"] > 2 * right["energy_error"]["mean"]  # ... but
    assert summary["velocity_after_error"]["mean"] > 5 * right["velocity_after_error"]["mean"]
    assert summary["violations"]["collision_velocity"] == 1.0


def test_late_or_frozen_collisions_miss_the_timing(truth_and_frames):
    truth, frames, states = truth_and_frames
    late = np.concatenate([np.repeat(frames[:, :1], 3, 1), frames[:, :-3]], 1)
    frozen = np.repeat(frames[:, :1], STEPS, 1)
    for broken in (late, frozen):
        summary = score(broken, states, truth)
        assert summary["collision_timing"]["mean"] < 0.2
        assert summary["violations"]["missed_collision"] == 1.0


def test_two_balls_bouncing_off_the_floor_side_by_side_is_not_a_collision():
    # Close enough to have touched within the frame, both kicked at frame 4: by the floor
    # (kicks in the same direction), not by each other (kicks that cancel).
    steps, r, dt = 8, 0.06, 0.1
    vy = np.where(np.arange(steps)[:, None] < 4, [-0.8, -1.2], [0.8, 1.2])  # [T, 2]
    velocities = np.stack([np.zeros_like(vy), vy], -1)[None]  # [1, T, 2, 2]
    positions = np.zeros_like(velocities)
    positions[..., 0] = [0.4, 0.53]
    positions[..., 1] = r + np.abs(np.arange(steps)[:, None] - 3.5) * dt * np.abs(vy)
    floor = Truth(positions, velocities, np.full((1, steps, 2), r),
                  np.zeros((1, steps, 2), bool), 0.0, dt, SIZE)  # fmt: skip
    assert floor.impulses()[0, 4].all()
    assert true_collisions(floor) == []
    swapped = velocities.copy()  # the same frame, but the balls trade vertical speeds
    swapped[0, 4:, :, 1] = [[-1.2, -0.8]]
    swapped[0, 4:, :, 0] = 0.0
    collided = Truth(positions, swapped, floor.radii, floor.hidden, 0.0, dt, SIZE)
    assert [(w, t) for w, t, _, _ in true_collisions(collided)] == [(0, 4)]


def test_a_ball_that_vanishes_at_the_impact_is_no_collision_on_time(truth_and_frames):
    truth, frames, states = truth_and_frames
    vanished = frames.copy()
    for w, t, _, j in true_collisions(truth):
        colour = np.round(states[w, 0, j, 5:8] * 255).astype(np.uint8)
        clip = vanished[w, t:]
        clip[(clip == colour).all(-1)] = 0  # ball j is not drawn from the impact on
    summary = score(vanished, states, truth)
    assert summary["collision_timing"]["mean"] < 0.2
    assert summary["violations"]["vanished"] == 1.0
