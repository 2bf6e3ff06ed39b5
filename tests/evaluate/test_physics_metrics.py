"""Physics metrics on ground truth and on deliberately broken "models": the truth scores
perfect (up to the reader's floor); each breakage is caught by the metric meant for it."""

import numpy as np

from worldlab.evaluate.physics.metrics import Truth, bootstrap_ci, score_rollouts
from worldlab.evaluate.physics.reader import read_balls
from worldlab.worlds._draw import fill_circle

SIZE, DT, G, T = 64, 1.0 / 15.0, 1.0, 16
COLOURS = np.array([[1.0, 0.27, 0.27], [0.27, 0.86, 0.27]])


def flights(windows=12, gravity=G, seed=0):
    """Two balls in free flight (no walls reached), ``[W, T, N, 2]`` positions and
    velocities under ``gravity`` (negative: flipped)."""
    rng = np.random.default_rng(seed)
    times = np.arange(T) * DT
    start = np.stack(
        [
            rng.uniform([0.2, 0.55], [0.3, 0.65], (windows, 2)),
            rng.uniform([0.65, 0.55], [0.75, 0.65], (windows, 2)),
        ],
        1,
    )  # [W, N, 2]
    v0 = rng.uniform([-0.1, 0.0], [0.1, 0.3], (windows, 2, 2))
    pos = start[:, None] + v0[:, None] * times[None, :, None, None]
    pos[..., 1] -= 0.5 * gravity * times[None, :, None] ** 2
    vel = np.repeat(v0[:, None], T, 1)
    vel[..., 1] -= gravity * times[None, :, None]
    return pos, vel


def draw(positions, radius=0.06):
    frames = np.zeros((len(positions), SIZE, SIZE, 3), np.uint8)
    for t, balls in enumerate(positions):
        for (x, y), colour in zip(balls, COLOURS, strict=True):
            if np.isfinite(x):
                fill_circle(
                    frames[t],
                    x * SIZE,
                    (1 - y) * SIZE,
                    radius * SIZE,
                    tuple(np.round(colour * 255).astype(int)),
                )
    return frames


def score(pred_positions, truth_pos, truth_vel, **draw_kwargs):
    truth = Truth(
        truth_pos,
        truth_vel,
        np.full(truth_pos.shape[:3], 0.06),
        np.zeros(truth_pos.shape[:3], bool),
        G,
        DT,
        SIZE,
    )
    readings = [read_balls(draw(p, **draw_kwargs), COLOURS) for p in pred_positions]
    return score_rollouts(readings, truth)


def test_the_truth_scores_perfect_up_to_the_readers_floor():
    pos, vel = flights()
    report = score(pos, pos, vel)["summary"]
    assert report["position_error"]["mean"] < 0.2 / SIZE
    assert report["velocity_error"]["mean"] < 0.1  # units/s, from sub-pixel centroids
    assert report["gravity_error"]["mean"] < 0.05 and report["gravity_error"]["rollouts"] == 12
    assert report["vanished"]["mean"] == 0 and report["extra_blobs"]["mean"] == 0
    assert report["size_error"]["mean"] < 0.05
    assert report["violation_rate"]["mean"] == 0


def test_a_model_that_freezes_is_caught_by_position_velocity_and_gravity():
    pos, vel = flights()
    frozen = np.repeat(pos[:, :1], T, 1)
    report = score(frozen, pos, vel)
    summary = report["summary"]
    error = report["per_horizon"]["position_error"]
    assert error[-1] > 10 * error[0] > 0  # grows with the horizon
    assert summary["velocity_error"]["mean"] > 0.3
    assert summary["gravity_error"]["mean"] > 0.9  # ĝ ≈ 0 against g = 1
    assert summary["violation_rate"]["mean"] == 1.0


def test_flipped_gravity_is_caught_by_the_parabola_fit():
    pos, vel = flights()
    flipped, _ = flights(gravity=-G)
    summary = score(flipped, pos, vel)["summary"]
    assert summary["gravity_error"]["mean"] > 1.5  # ĝ ≈ −g: |ĝ − g| / g ≈ 2
    assert summary["violations"]["gravity_error"] == 1.0


def test_teleports_vanishing_and_duplicates_each_count_as_violations():
    pos, vel = flights()
    teleported = pos.copy()
    teleported[:, 8:, 0, 0] += 0.2  # ball 0 jumps sideways at frame 8
    summary = score(teleported, pos, vel)["summary"]
    assert summary["violations"]["teleport"] == 1.0
    vanished = pos.copy()
    vanished[:, 5:, 1] = np.nan  # ball 1 is no longer drawn
    summary = score(vanished, pos, vel)["summary"]
    assert summary["violations"]["vanished"] == 1.0 and summary["vanished"]["mean"] > 0.2
    grown = score(pos, pos, vel, radius=0.09)["summary"]
    assert grown["size_error"]["mean"] > 0.4 and grown["violations"]["size_change"] == 1.0


def test_bootstrap_interval_covers_the_mean_and_shrinks_with_more_data():
    rng = np.random.default_rng(0)
    small = bootstrap_ci(rng.normal(1.0, 1.0, 20))
    large = bootstrap_ci(rng.normal(1.0, 1.0, 2000))
    assert abs(large[0] - 1.0) < 0.1 and large[1] < small[1]
    assert abs(large[1] - 1.96 / np.sqrt(2000)) < 0.01


def occluded_episode():
    """One ball crossing the occluder without gravity: frames, states ``[T, 1, 8]``."""
    from worldlab.worlds.bounce import BounceEnv

    env = BounceEnv(num_balls=1, gravity=0.0, radius_range=(0.05, 0.05), occluder=True, size=SIZE)
    frame, info = env.reset(seed=0)
    env.set_state(positions=[[0.2, 0.5]], velocities=[[0.6, 0.05]])
    frames, states = [env.render()], [env.set_state()["state"]]
    for _ in range(T - 1):
        frame, _, _, _, info = env.step(0)
        frames.append(frame)
        states.append(info["state"])
    return np.stack(frames), np.stack(states).reshape(T, 1, 8)


def occluded_score(frames, states):
    from worldlab.evaluate.physics.reader import hidden_by_occluder, occluder_columns

    bar = occluder_columns(SIZE, True)
    hidden = hidden_by_occluder(states[..., :2], states[..., 4], bar, SIZE)
    truth = Truth(states[None, ..., :2], states[None, ..., 2:4], states[None, ..., 4],
                  hidden[None], 0.0, DT, SIZE)  # fmt: skip
    return score_rollouts([read_balls(frames, states[0, :, 5:8], bar)], truth)["summary"]


def test_object_permanence_rewards_reappearing_and_catches_vanishing_or_see_through():
    frames, states = occluded_episode()
    colour = tuple(np.round(states[0, 0, 5:8] * 255).astype(int))
    summary = occluded_score(frames, states)
    assert summary["reappearance"] == {"rate": 1.0, "events": 1}
    assert summary["violation_rate"]["mean"] == 0
    gone = frames.copy()
    from worldlab.evaluate.physics.reader import hidden_by_occluder, occluder_columns

    hidden = hidden_by_occluder(states[..., :2], states[..., 4], occluder_columns(SIZE, True), SIZE)
    first_hidden = int(np.argmax(hidden[:, 0]))
    gone[first_hidden:] = np.where(gone[first_hidden:] == colour, 0, gone[first_hidden:])
    summary = occluded_score(gone, states)  # the ball never comes back out
    assert summary["reappearance"]["rate"] == 0.0 and summary["violations"]["vanished"] == 1
    see_through = frames.copy()
    for t in np.flatnonzero(hidden[:, 0]):  # drawn on top of the bar while behind it
        x, y, r = states[t, 0, 0], states[t, 0, 1], states[t, 0, 4]
        fill_circle(see_through[t], x * SIZE, (1 - y) * SIZE, r * SIZE, colour)
    summary = occluded_score(see_through, states)
    assert summary["violations"]["drawn_over_occluder"] == 1.0


def test_a_ball_wider_than_the_occluder_is_one_ball_not_a_duplicate():
    frame = np.zeros((SIZE, SIZE, 3), np.uint8)
    fill_circle(frame, 32, 32, 14, (255, 70, 70))  # 28 px wide, the bar is 16
    frame[:, 24:40] = 128
    readings = read_balls(frame[None], np.array([[1.0, 70 / 255, 70 / 255]]), (24, 40))
    assert readings.extra_blobs.tolist() == [0] and readings.seen[0, 0]


def test_gravity_fits_skip_frames_beside_a_bounce():
    # A ball falling onto the floor and bouncing back: the truth's own parabolae give g.
    from worldlab.worlds.bounce import BounceEnv

    env = BounceEnv(num_balls=1, radius_range=(0.06, 0.06), size=SIZE)
    env.reset(seed=0)
    env.set_state(positions=[[0.5, 0.25]], velocities=[[0.0, -0.5]])
    frames, states = [env.render()], [env.set_state()["state"]]
    for _ in range(2 * T - 1):
        frame, _, _, _, info = env.step(0)
        frames.append(frame)
        states.append(info["state"])
    states = np.stack(states).reshape(2 * T, 1, 8)
    truth = Truth(states[None, ..., :2], states[None, ..., 2:4], states[None, ..., 4],
                  np.zeros((1, 2 * T, 1), bool), G, DT, SIZE)  # fmt: skip
    assert truth.impulses().sum() >= 1  # it does bounce
    summary = score_rollouts([read_balls(np.stack(frames), states[0, :, 5:8])], truth)["summary"]
    assert summary["gravity_error"]["rollouts"] == 1 and summary["gravity_error"]["mean"] < 0.25
    assert summary["violation_rate"]["mean"] == 0
