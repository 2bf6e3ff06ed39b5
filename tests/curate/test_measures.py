"""The measures and decisions of curation, checked on frames whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest
from footage import moving_scene
from PIL import Image

from worldlab.curate.clips import border_box
from worldlab.curate.config import CurateConfig
from worldlab.curate.filters import failed_filters, kmeans, near_duplicates
from worldlab.curate.score import coherence, luma, measure, sharpness
from worldlab.data.import_video import square_frame
from worldlab.errors import WorldlabError


def as_clip(frames: np.ndarray) -> np.ndarray:
    """Source frames at 20 fps → a 64 × 64 clip at 10 fps, as curation stores it."""
    return np.stack([square_frame(Image.fromarray(f), 64) for f in frames[::2][:32]])


def test_sharpness_falls_with_blur():
    scores = [sharpness(luma(as_clip(moving_scene(2, blur=blur)))) for blur in (0, 1, 2, 4)]
    assert scores == sorted(scores, reverse=True)
    assert scores[0] > 1.0 > 0.7 > scores[2]  # the default threshold sits between
    assert sharpness(np.zeros((2, 16, 16))) == 0.0


def test_motion_and_coherence_on_known_motion():
    still, slow, fast = (
        measure(as_clip(moving_scene(3, speed=speed, static=speed == 0))) for speed in (0, 40, 600)
    )
    assert still["motion"] == 0.0 and still["coherence"] == pytest.approx(1.0)
    assert slow["motion"] > 0.002 and slow["coherence"] > 0.7
    assert fast["coherence"] < 0.4
    noise = np.random.default_rng(0).random((5, 32, 32))
    assert abs(coherence(noise)) < 0.1  # unrelated frames do not correlate


def test_brightness_is_mean_luma():
    grey = np.full((4, 8, 8, 3), 51, np.uint8)
    assert measure(grey)["brightness"] == pytest.approx(0.2, abs=1e-6)


def test_border_box_finds_letterbox_and_pillarbox_bars():
    frames = np.full((3, 40, 60, 3), 120, np.uint8)
    frames[:, :5] = frames[:, -7:] = 0
    frames[:, :, :4] = 0
    assert border_box(frames, 0.06) == (5, 33, 4, 60)
    assert border_box(np.zeros((2, 10, 10, 3), np.uint8), 0.06) == (0, 10, 0, 10)


def test_filters_report_every_failure_in_order():
    config = CurateConfig()
    dark_still = {"brightness": 0.01, "motion": 0.0, "coherence": 1.0, "sharpness": 0.1}
    assert failed_filters(dark_still, config) == ["too dark", "static", "blurry"]
    fine = {"brightness": 0.4, "motion": 0.01, "coherence": 0.8, "sharpness": 1.2}
    assert failed_filters(fine, config) == []


def test_near_duplicates_compare_across_shots_only():
    same = "ffff0000ffff0000"
    one_bit = "ffff0000ffff0001"
    far = "0000ffff0000ffff"
    groups = ["a", "b", "a", "c"]
    assert near_duplicates([same, one_bit, same, far], groups, 6) == {1: 0}


def test_kmeans_separates_two_blobs():
    rng = np.random.default_rng(0)
    points = np.concatenate([rng.normal(0, 0.1, (20, 3)), rng.normal(5, 0.1, (20, 3))])
    labels = kmeans(points, 2)
    assert len(set(labels[:20])) == 1 and len(set(labels[20:])) == 1
    assert labels[0] != labels[-1]


@pytest.mark.parametrize(
    "field, value", [("fps", 0), ("clip_length", 1), ("min_motion", 0.0), ("dedup_distance", 65)]
)
def test_bad_settings_name_the_flag(field, value):
    with pytest.raises(WorldlabError, match="--" + field.replace("_", "-")):
        CurateConfig(**{field: value})
