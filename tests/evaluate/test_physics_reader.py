"""The state reader, checked on ground truth: real frames give back the true state."""

import numpy as np
import pytest

from worldlab.evaluate.physics.reader import (
    hidden_by_occluder,
    occluder_columns,
    read_balls,
)
from worldlab.worlds.bounce import BounceEnv


def _episode(size=64, steps=60, **kwargs):
    env = BounceEnv(size=size, **kwargs)
    frame, info = env.reset(seed=3)
    frames, states = [frame], [info["state"]]
    for _ in range(steps):
        frame, _, _, _, info = env.step(0)
        frames.append(frame)
        states.append(info["state"])
    n = env.num_balls
    return np.stack(frames), np.stack(states).reshape(len(states), n, 8)


@pytest.mark.parametrize("size", [32, 64])
def test_real_frames_give_back_the_true_centres_and_radii(size):
    frames, states = _episode(size, num_balls=3, radius_range=(0.06, 0.12))
    readings = read_balls(frames, states[0, :, 5:8])
    assert readings.seen.all() and readings.extra_blobs.sum() == 0
    inner = ~readings.clipped
    error = np.linalg.norm(readings.positions - states[..., :2], axis=-1)[inner]
    # A disc rasterised on pixel centres: its centroid is within a fraction of a pixel.
    assert error.max() < 0.35 / size and error.mean() < 0.15 / size
    radius_error = np.abs(readings.radii - states[..., 4])[inner]
    assert radius_error.mean() < 0.2 / size


def test_the_occluder_hides_and_clips_but_nothing_is_missing():
    kwargs = dict(num_balls=2, radius_range=(0.05, 0.06), occluder=True, gravity=0.0)
    frames, states = _episode(64, 200, **kwargs)
    bar = occluder_columns(64, True)
    readings = read_balls(frames, states[0, :, 5:8], occluder=bar)
    hidden = hidden_by_occluder(states[..., :2], states[..., 4], bar, 64)
    assert hidden.any(), "the test episode should pass behind the bar"
    assert not readings.seen[hidden].any()  # hidden balls are not seen ...
    unseen = ~hidden & ~readings.seen  # ... the rest are, but for a sliver beside the bar
    x, r = states[..., 0], states[..., 4]
    beside = np.minimum(np.abs(x - r - bar[0] / 64), np.abs(x + r - bar[1] / 64)) < 1.5 / 64
    assert beside[unseen].all() and unseen.sum() <= 0.05 * (~hidden).sum()
    unclipped = readings.seen & ~readings.clipped
    error = np.linalg.norm(readings.positions - states[..., :2], axis=-1)[unclipped]
    assert error.max() < 0.35 / 64
    assert readings.extra_blobs.sum() == 0


def test_a_vanished_ball_a_duplicate_and_a_stray_blob_are_noticed():
    frames, states = _episode(64, 5, num_balls=2, radius_range=(0.08, 0.08), gravity=0.0)
    colours = states[0, :, 5:8]
    broken = frames.copy()
    ball0 = np.abs(broken[1].astype(int) - np.round(colours[0] * 255)).sum(-1) == 0
    broken[1][ball0] = 0  # ball 0 vanishes in frame 1
    broken[2, 2:6, 2:6] = np.round(colours[1] * 255)  # a second copy of ball 1's colour
    broken[3, 58:62, 58:62] = (255, 255, 255)  # a white blob nobody drew
    readings = read_balls(broken, colours)
    assert not readings.seen[1, 0] and readings.seen[1, 1]
    assert readings.extra_blobs.tolist() == [0, 0, 1, 1, 0, 0]
