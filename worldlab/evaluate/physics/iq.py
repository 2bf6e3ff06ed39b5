"""One physics score per row, normalised against GT′ as Physics-IQ normalises against
physical variance.

Physics-IQ (Motamed et al., 2025, google-deepmind/physics-IQ-benchmark) divides each of a
model's agreement scores by the agreement between two real takes of the same scene (the
"physical variance"), averages them and clips the result to [0, 100]: a model as
consistent with reality as reality is with itself scores 100. Here the second take is GT′,
the simulator re-run from states perturbed by a hair (the ``simulator`` row), and each
component is a ratio capped at 1, so GT′ scores 100 by construction:

* an error ``e`` (lower is better) against GT′'s ``e₀``: ``min(e₀ / e, 1)``;
* a rate of success ``s`` (reappearance, collisions on time): ``min(s / s₀, 1)``;
* the violation rate ``v``: ``min((1 − v) / (1 − v₀), 1)``.

A component GT′ defines but the row does not (no ball was ever read, so no error could be
measured) counts 0: drawing nothing is not physics. Components GT′ leaves undefined (no
collision in these windows, no flight long enough to fit gravity) are left out. The score
is 100 × the mean component. It is comparable between rows of one evaluation, not with the
numbers of Physics-IQ's leaderboard (other scenes, other metrics).
"""

from __future__ import annotations

from typing import Any

REFERENCE = "simulator"
ERRORS = (
    "position_error",
    "velocity_error",
    "gravity_error",
    "size_error",
    "velocity_after_error",
    "energy_error",
)
SUCCESSES = (("reappearance", "rate"), ("collision_timing", "mean"))


def _ratio(numerator: float | None, denominator: float | None) -> float:
    if numerator is None or denominator is None:
        return 0.0
    if denominator <= 0:
        return 1.0
    return max(0.0, min(numerator / denominator, 1.0))


def components(summary: dict[str, Any], reference: dict[str, Any]) -> dict[str, float]:
    """Each component of one row's ``summary`` against the ``reference`` (GT′) summary."""
    parts: dict[str, float] = {}
    for key in ERRORS:
        best = reference.get(key, {}).get("mean")
        if best is None:
            continue
        error = summary.get(key, {}).get("mean")
        parts[key] = 0.0 if error is None else (1.0 if error <= best else best / error)
    for key, field in SUCCESSES:
        best = reference.get(key, {}).get(field)
        if best is None or best <= 0:
            continue
        parts[key] = _ratio(summary.get(key, {}).get(field), best)
    best = reference["violation_rate"]["mean"]
    if best is not None and best < 1.0:  # GT′ violating everywhere leaves nothing to compare
        rate = summary["violation_rate"]["mean"]
        parts["violation_rate"] = _ratio(None if rate is None else 1.0 - rate, 1.0 - best)
    return parts


def physics_iq(rows: dict[str, dict[str, Any]], reference: str = REFERENCE) -> dict[str, Any]:
    """``{row: {"score": 0–100, "components": {...}}}`` for physics-section ``rows``
    (``{name: score_rollouts(...) report}``), normalised against the ``reference`` row."""
    if reference not in rows:
        raise KeyError(f"no {reference!r} row to normalise against")
    base = rows[reference]["summary"]
    scores = {}
    for name, report in rows.items():
        parts = components(report["summary"], base)
        score = 100.0 * sum(parts.values()) / len(parts) if parts else None
        scores[name] = {
            "score": None if score is None else round(score, 2),
            "components": {key: round(value, 4) for key, value in parts.items()},
        }
    return scores
