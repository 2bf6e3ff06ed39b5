"""Physics metrics of one set of rollouts, from ball readings against the true state.

Every metric compares what the reader sees in predicted frames with the ground-truth
state of the same windows (``bounce`` records it). Per horizon step ``k`` (1 = one step
ahead) and window:

* ``position_error``: mean distance between read and true centres (world units, the box
  is 1 wide), over balls seen unclipped in both.
* ``velocity_error``: the same for velocities by finite difference of consecutive
  centres (units/s), leaving out ±1 frame around every true bounce or collision (where a
  finite difference straddles the impulse).
* ``vanished``: the share of balls the real frames show (the reader sees them there)
  that the prediction does not draw. ``extra_blobs``: blobs no ball explains, per frame.
* ``size_error``: ``|r̂ − r| / r``.
* Gravity consistency: a parabola fitted to every free-flight run of at least
  ``MIN_FLIGHT`` frames of a ball seen unclipped, away from true bounces (±1 frame),
  long enough to sag two pixels, ``ĝ = −2 c₂`` of ``y(t)`` and the
  spurious horizontal acceleration ``2 c₂`` of ``x(t)``; reported as ``|ĝ − g| / g``
  (``|ĝ|`` when ``g = 0``) and ``|a_x|``.
* Object permanence: of the balls that come out from behind the occluder inside the
  horizon, the share the prediction draws within ±2 frames of the true reappearance,
  within two radii of the right place.
* ``violation_rate``: the share of rollouts with any violation above its threshold
  (``THRESHOLDS``), the thresholds set so that the simulator re-run from slightly
  perturbed states (GT′) scores about 0; a ball drawn while the truth has it wholly
  behind the occluder is a violation too.
* Collision realism (``collisions.py``): whether each true ball–ball collision happens on
  time (±2 frames), the velocities after it, momentum and kinetic energy across it with
  ``m ∝ r²``, and the interpenetration rate; a missed collision, velocities after one off
  by over half the true speed, or any interpenetration is a violation.

Means come with 95% bootstrap intervals over windows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from worldlab.evaluate.physics.collisions import VELOCITY_TOLERANCE, score_collisions
from worldlab.evaluate.physics.reader import Readings

MIN_FLIGHT = 6  # frames of free flight for a parabola fit
EVENT_TOLERANCE = 1e-3  # units/s of velocity change beyond gravity that marks an impulse
# Per-rollout limits above which a rollout "violates physics" (see module docstring).
THRESHOLDS = {
    "vanished": 0.0,  # any ball the truth shows but the prediction lost
    "extra_blobs": 0.0,  # any hallucinated or duplicated ball
    "teleport": 2.0,  # a step that moves a ball over twice its true displacement + 1 px
    "size_change": 0.25,  # radius off the true one by over 25%
    "gravity_error": 0.5,  # |ĝ − g| / g over 50% on a free-flight run
    "drawn_over_occluder": 0,  # any ball drawn while the truth has it behind the bar
    "missed_collision": 0,  # a true collision not drawn within ±2 frames at contact distance
    "collision_velocity": VELOCITY_TOLERANCE,  # after an impact, × the true speed
    "interpenetration": 0,  # any frame with two balls drawn overlapping
}
COLLISION_KEYS = (  # per-window collision scores, in the summary with bootstrap intervals
    "collision_timing",
    "velocity_after_error",
    "momentum_error",
    "energy_error",
    "interpenetration",
)


@dataclass
class Truth:
    """Ground truth of ``W`` windows over ``T`` frames: the last context frame, then
    the horizon (arrays ``[W, T, N, ...]``)."""

    positions: np.ndarray  # [W, T, N, 2]
    velocities: np.ndarray  # [W, T, N, 2]
    radii: np.ndarray  # [W, T, N]
    hidden: np.ndarray  # [W, T, N] wholly behind the occluder
    gravity: float | np.ndarray  # units/s², one for all windows or one per window [W]
    dt: float
    size: int  # frame side in pixels
    # [W, T, N] what the real frames show (the reader sees it there); None: all not hidden.
    # A ball beside the bar can show too few pixels to read even when not wholly hidden.
    shown: np.ndarray | None = None

    def window_gravity(self) -> np.ndarray:
        """``[W]``: each window's gravity."""
        return np.broadcast_to(np.asarray(self.gravity, np.float64), (len(self.positions),))

    def kicks(self) -> np.ndarray:
        """``[W, T, N, 2]``: the velocity change from ``t − 1`` to ``t`` beyond gravity's
        (zero at ``t = 0``): what walls and other balls did."""
        change = np.diff(self.velocities, axis=1)
        change[..., 1] += self.window_gravity()[:, None, None] * self.dt
        return np.concatenate([np.zeros_like(change[:, :1]), change], axis=1)

    def impulses(self) -> np.ndarray:
        """``[W, T, N]``: True at frame ``t`` if the velocity changed between ``t − 1`` and
        ``t`` by more than gravity explains (a wall bounce or a collision)."""
        return np.linalg.norm(self.kicks(), axis=-1) > EVENT_TOLERANCE


def bootstrap_ci(values: np.ndarray, draws: int = 1000, seed: int = 0) -> tuple[float, float]:
    """Mean of finite ``values`` and the half-width of its 95% percentile bootstrap."""
    values = np.asarray(values, np.float64)
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return math.nan, math.nan
    if len(values) == 1:
        return float(values[0]), math.nan
    rng = np.random.default_rng(seed)
    means = rng.choice(values, (draws, len(values))).mean(1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(values.mean()), float((high - low) / 2)


def _nanmean(values: np.ndarray, axis) -> np.ndarray:
    counts = np.isfinite(values).sum(axis)
    sums = np.nansum(values, axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def _flight_fits(
    positions: np.ndarray, free: np.ndarray, dt: float, min_sag: float
) -> list[tuple[float, float]]:
    """``(ĝ, a_x)`` of every run of ≥ MIN_FLIGHT consecutive ``free`` frames (read, and
    not within a frame of a true impulse) of one ball's ``[T, 2]`` track whose expected
    sag ``g τ² / 8`` over its duration ``τ`` is at least ``min_sag`` (else pixel rounding,
    not gravity, decides the fit)."""
    fits, run = [], []
    for t in range(len(positions) + 1):
        if t < len(positions) and free[t]:
            run.append(t)
            continue
        duration = (len(run) - 1) * dt
        if len(run) >= MIN_FLIGHT and duration**2 / 8 >= min_sag:
            times = np.array(run) * dt
            cy = np.polyfit(times, positions[run, 1], 2)[0]
            cx = np.polyfit(times, positions[run, 0], 2)[0]
            fits.append((-2.0 * cy, 2.0 * cx))
        run = []
    return fits


def score_rollouts(readings: list[Readings], truth: Truth) -> dict[str, Any]:
    """Per-window and per-horizon physics scores of predicted frames read as ``readings``
    (one per window, over the same ``T`` frames as ``truth``)."""
    pos = np.stack([r.positions for r in readings])  # [W, T, N, 2]
    rad = np.stack([r.radii for r in readings])
    seen = np.stack([r.seen for r in readings])
    clipped = np.stack([r.clipped for r in readings])
    extra = np.stack([r.extra_blobs for r in readings]).astype(float)  # [W, T]
    usable = seen & ~clipped
    visible = ~truth.hidden if truth.shown is None else truth.shown
    impulses = truth.impulses()
    near_impulse = impulses.copy()
    near_impulse[:, 1:] |= impulses[:, :-1]
    near_impulse[:, :-1] |= impulses[:, 1:]

    distance = np.linalg.norm(pos - truth.positions, axis=-1)  # [W, T, N]
    position_error = _nanmean(np.where(usable & visible, distance, np.nan), 2)
    velocity = np.diff(pos, axis=1) / truth.dt
    true_velocity = np.diff(truth.positions, axis=1) / truth.dt
    pair_ok = usable[:, 1:] & usable[:, :-1] & visible[:, 1:] & ~near_impulse[:, 1:]
    speed_error = np.linalg.norm(velocity - true_velocity, axis=-1)
    velocity_error = _nanmean(np.where(pair_ok, speed_error, np.nan), 2)  # [W, T-1]
    with np.errstate(invalid="ignore"):
        lost = np.where(visible, ~seen, np.nan).astype(float)
    vanished = _nanmean(lost, 2)
    size_error = _nanmean(
        np.where(usable & visible, np.abs(rad - truth.radii) / truth.radii, np.nan), 2
    )
    # A teleport: a step that moves a ball much further than the truth does.
    true_step = np.linalg.norm(np.diff(truth.positions, axis=1), axis=-1)
    step = np.linalg.norm(np.diff(pos, axis=1), axis=-1)
    allowed = THRESHOLDS["teleport"] * true_step + 1.0 / truth.size
    teleport = np.where(pair_ok, step > allowed, False)

    gravities = truth.window_gravity()
    gravity_errors, horizontal = np.full(len(pos), np.nan), np.full(len(pos), np.nan)
    free = usable & visible & ~near_impulse
    for w in range(len(pos)):
        g = gravities[w]
        # The sag a fit needs: two pixels at this gravity (with none, any run of frames).
        min_sag = 2.0 / truth.size / g if g > 0 else 0.0
        fits = [
            fit
            for i in range(pos.shape[2])
            for fit in _flight_fits(pos[w, :, i], free[w, :, i], truth.dt, min_sag)
        ]
        if fits:
            g_hat = np.array([f[0] for f in fits])
            error = np.abs(g_hat - g) / g if g > 0 else np.abs(g_hat)
            gravity_errors[w] = float(error.max())
            horizontal[w] = float(np.abs([f[1] for f in fits]).max())

    reappear_hits, reappear_total = _permanence(pos, seen, truth)
    collisions, collision_values, collision_flags = score_collisions(pos, rad, seen, usable, truth)
    violations = {
        "drawn_over_occluder": (seen & truth.hidden)[:, 1:].any((1, 2)),
        "vanished": np.nan_to_num(vanished[:, 1:]).max(1) > THRESHOLDS["vanished"],
        "extra_blobs": extra[:, 1:].max(1) > THRESHOLDS["extra_blobs"],
        "teleport": teleport.any((1, 2)),
        "size_change": np.nan_to_num(size_error[:, 1:]).max(1) > THRESHOLDS["size_change"],
        "gravity_error": np.nan_to_num(gravity_errors) > THRESHOLDS["gravity_error"],
        **collision_flags,
    }
    any_violation = np.any(np.stack(list(violations.values())), axis=0)
    per_horizon = {
        "position_error": position_error[:, 1:],
        "velocity_error": velocity_error,
        "vanished": vanished[:, 1:],
        "extra_blobs": extra[:, 1:],
        "size_error": size_error[:, 1:],
    }
    report: dict[str, Any] = {"windows": len(pos), "per_horizon": {}, "summary": {}}
    for name, values in per_horizon.items():
        report["per_horizon"][name] = [_round(v) for v in _nanmean(values, 0)]
        mean, half = bootstrap_ci(_nanmean(values, 1))
        report["summary"][name] = {"mean": _round(mean), "ci": _round(half)}
    for name, values in (("gravity_error", gravity_errors), ("horizontal_accel", horizontal)):
        mean, half = bootstrap_ci(values)
        report["summary"][name] = {
            "mean": _round(mean),
            "ci": _round(half),
            "rollouts": int(np.isfinite(values).sum()),
        }
    for name in COLLISION_KEYS:
        mean, half = bootstrap_ci(collision_values[name])
        report["summary"][name] = {"mean": _round(mean), "ci": _round(half)}
    report["summary"]["collision_timing"]["events"] = collisions["collisions"]
    report["summary"]["reappearance"] = {
        "rate": _round(reappear_hits / reappear_total) if reappear_total else None,
        "events": reappear_total,
    }
    rate, half = bootstrap_ci(any_violation.astype(float))
    report["summary"]["violation_rate"] = {"mean": _round(rate), "ci": _round(half)}
    report["summary"]["violations"] = {
        name: _round(float(flags.mean())) for name, flags in violations.items()
    }
    return report


def _permanence(pos: np.ndarray, seen: np.ndarray, truth: Truth) -> tuple[int, int]:
    """Balls the truth shows again after the occluder, and how many the prediction draws
    within ±2 frames of that, within two radii of the true place."""
    hits = total = 0
    windows, steps, balls = truth.hidden.shape
    for w in range(windows):
        for i in range(balls):
            hidden = truth.hidden[w, :, i]
            for t in range(1, steps):
                if hidden[t - 1] and not hidden[t]:
                    total += 1
                    for u in range(max(t - 2, 1), min(t + 3, steps)):
                        if not seen[w, u, i]:
                            continue
                        near = np.linalg.norm(pos[w, u, i] - truth.positions[w, u, i])
                        if near <= 2 * truth.radii[w, u, i]:
                            hits += 1
                            break
    return hits, total


def _round(value: float | None, digits: int = 5) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(float(value), digits)
