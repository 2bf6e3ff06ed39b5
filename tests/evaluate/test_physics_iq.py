"""The physics-IQ-style score: GT′ scores 100, a row is scored by its ratios to GT′."""

import pytest

from worldlab.evaluate.physics.iq import physics_iq


def summary(position, violation, timing=None, reappear=None):
    return {
        "summary": {
            "position_error": {"mean": position},
            "collision_timing": {"mean": timing},
            "reappearance": {"rate": reappear, "events": 0 if reappear is None else 3},
            "violation_rate": {"mean": violation},
        }
    }


def test_gt_prime_scores_100_and_errors_are_divided_into_it():
    rows = {
        "simulator": summary(0.01, 0.0, timing=1.0),
        "half": summary(0.02, 0.5, timing=0.5),
        "better": summary(0.005, 0.0, timing=1.0),
    }
    scores = physics_iq(rows)
    assert scores["simulator"]["score"] == 100.0
    assert scores["better"]["score"] == 100.0  # capped at GT′: noise cannot beat physics
    assert scores["half"]["components"] == {
        "position_error": 0.5, "collision_timing": 0.5, "violation_rate": 0.5,
    }  # fmt: skip
    assert scores["half"]["score"] == pytest.approx(50.0)


def test_a_row_that_draws_nothing_scores_zero_where_gt_prime_measured_something():
    rows = {"simulator": summary(0.01, 0.0), "blank": summary(None, 1.0)}
    scores = physics_iq(rows)
    assert scores["blank"]["score"] == 0.0
    # Undefined for GT′ too (no collision in these windows): left out, not counted as 0.
    assert "collision_timing" not in scores["blank"]["components"]


def test_a_missing_reference_row_is_named():
    with pytest.raises(KeyError, match="simulator"):
        physics_iq({"model": summary(0.1, 0.0)})
