"""Collision realism: do two balls meet when, where and how the truth says they do?

A true collision is a frame ``t`` at which both balls of a pair change velocity beyond
what gravity explains (``Truth.kicks``), by changes of momentum (``m ∝ r²``) that cancel
(no wall pushed one of them at the same time), while their centres are within contact
distance plus one frame of relative motion: the impact happened between frames ``t − 1``
and ``t``. It is scored when the real frames show both balls from ``t − 3`` to ``t + 2``
and those frames lie inside the scored clip (the last context frame, then the horizon).
For each scored collision:

* ``collision_timing``: the prediction's closest approach of the pair nearest to ``t``
  (within ``±SEARCH`` frames) falls within ``±TIMING_FRAMES`` of the truth's closest
  approach, at the truth's distance ``±CONTACT_TOLERANCE_PX`` (balls that pass through
  each other come far closer; balls that miss each other stay further apart). The share
  of collisions hit.
* ``velocity_after_error``: ``|v̂ − v|`` just after the impact (finite difference of
  frames ``t → t + 2``), units/s, mean over the pair. This and the two below are measured
  only where the prediction draws both balls unclipped (away from the bar and the frame
  edge) from ``t − 3`` to ``t + 2``.
* ``momentum_error`` and ``energy_error``: the change of the pair's total momentum
  ``Σ m v`` and kinetic energy ``Σ ½ m |v|²`` across the impact (velocities ``t − 3 → t −
  1`` before, ``t → t + 2`` after), against the true change (gravity's share over those
  frames; zero for an elastic impact without gravity). Masses ``m ∝ r²`` (the drawn
  radius for the prediction, the true one for the truth). Relative to the true ``Σ m |v|``
  and kinetic energy before the impact.

Over every horizon frame with two or more balls, ``interpenetration`` is the share of
pairs (both seen, neither touching the bar or the frame edge) whose drawn centres are
closer than their true radii allow, by more than ``CONTACT_TOLERANCE_PX``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from worldlab.evaluate.physics.metrics import Truth

TIMING_FRAMES = 2  # a predicted collision within ±2 frames of the true one is on time
SEARCH = 4  # frames either side of the true impact searched for the closest approach
SPAN = 2  # frames each velocity is differenced over, before and after the impact
CONTACT_TOLERANCE_PX = 1.5  # pixels of centre distance the reader and the frame grid allow
MOMENTUM_TOLERANCE = 0.05  # a true collision: the pair's kicks cancel to within 5%
VELOCITY_TOLERANCE = 0.5  # velocity after an impact off by half the true speed: a violation


def _pairs(balls: int) -> list[tuple[int, int]]:
    return [(i, j) for i in range(balls) for j in range(i + 1, balls)]


def true_collisions(truth: Truth) -> list[tuple[int, int, int, int]]:
    """``(window, frame, i, j)`` of every true collision scored (see the module docstring)."""
    positions, velocities, radii = truth.positions, truth.velocities, truth.radii
    windows, steps, balls = radii.shape
    impulses, kicks = truth.impulses(), truth.kicks()
    shown = ~truth.hidden if truth.shown is None else truth.shown
    events = []
    for i, j in _pairs(balls):
        distance = np.linalg.norm(positions[:, :, i] - positions[:, :, j], axis=-1)
        relative = np.linalg.norm(velocities[:, :, i] - velocities[:, :, j], axis=-1)
        reach = radii[:, :, i] + radii[:, :, j] + relative * truth.dt + 1e-6
        # The pair exchanged momentum (m ∝ r²) and nothing else pushed: no wall at once.
        push_i = radii[:, :, i, None] ** 2 * kicks[:, :, i]
        push_j = radii[:, :, j, None] ** 2 * kicks[:, :, j]
        net = np.linalg.norm(push_i + push_j, axis=-1)
        gross = np.linalg.norm(push_i, axis=-1) + np.linalg.norm(push_j, axis=-1)
        exchanged = net <= MOMENTUM_TOLERANCE * gross
        hits = impulses[:, :, i] & impulses[:, :, j] & (distance <= reach) & exchanged
        for w, t in zip(*np.nonzero(hits), strict=True):
            span = slice(t - 1 - SPAN, t + SPAN + 1)
            if SPAN + 1 <= t <= steps - 1 - SPAN and shown[w, span][:, [i, j]].all():
                events.append((int(w), int(t), i, j))
    return events


def _closest(distance: np.ndarray, t: int) -> tuple[int | None, float]:
    """The frame and distance of the closest approach nearest to ``t``: of the local
    minima of ``distance`` within ``SEARCH`` frames of ``t``, the one nearest in time,
    then the closer (balls that bounce off the walls can meet again a few frames later).
    A frame counts as a minimum only when it and its neighbours were read (NaN: a ball not
    drawn): a ball that vanishes under the other leaves no closest approach behind."""
    lo, hi = max(t - SEARCH, 0), min(t + SEARCH + 1, len(distance))
    padded = np.concatenate([[np.inf], distance, [np.inf]])  # ends of the clip: no neighbour
    best: tuple[int, float, int] | None = None
    for u in range(lo, hi):
        before, d, after = padded[u], padded[u + 1], padded[u + 2]
        if np.isfinite(d) and d <= before and d <= after:  # False for a NaN neighbour
            key = (abs(u - t), d, u)
            best = key if best is None or key < best else best
    return (None, np.nan) if best is None else (best[2], float(best[1]))


def _exchange(
    positions: np.ndarray, masses: np.ndarray, t: int, dt: float
) -> tuple[np.ndarray, np.ndarray, float, float, float]:
    """Across an impact at ``t`` of one pair (``positions`` ``[T, 2, 2]``, ``masses``
    ``[2]``): velocities after ``[2, 2]``, the momentum change ``[2]``, the kinetic energy
    change, ``Σ m |v|`` and the kinetic energy before."""
    before = (positions[t - 1] - positions[t - 1 - SPAN]) / (SPAN * dt)
    after = (positions[t + SPAN] - positions[t]) / (SPAN * dt)
    momentum = (masses[:, None] * (after - before)).sum(0)
    energy_before = float((0.5 * masses * (before**2).sum(-1)).sum())
    energy_after = float((0.5 * masses * (after**2).sum(-1)).sum())
    scale = float((masses * np.linalg.norm(before, axis=-1)).sum())
    return after, momentum, energy_after - energy_before, scale, energy_before


def score_collisions(
    positions: np.ndarray, radii: np.ndarray, seen: np.ndarray, usable: np.ndarray, truth: Truth
) -> tuple[dict[str, Any], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Collision realism of predicted readings (``[W, T, N, ...]``) against ``truth``.

    Returns the summary entries, per-window values ``[W]`` (NaN where a window has no
    scored collision or no pair to check) and per-window violation flags ``[W]``:
    ``missed_collision`` (a scored collision not hit in time), ``collision_velocity`` (the
    velocities after one off by over ``VELOCITY_TOLERANCE`` of the true speed) and
    ``interpenetration``.
    """
    windows, steps, balls = truth.radii.shape
    tolerance = CONTACT_TOLERANCE_PX / truth.size
    per_window = {
        name: [[] for _ in range(windows)]
        for name in ("collision_timing", "velocity_after_error", "momentum_error", "energy_error")
    }
    events = true_collisions(truth)
    bounced_wrong = np.zeros(windows, bool)
    for w, t, i, j in events:
        pair = [i, j]
        true_distance = np.linalg.norm(truth.positions[w, :, i] - truth.positions[w, :, j], axis=-1)
        with np.errstate(invalid="ignore"):
            drawn = np.linalg.norm(positions[w, :, i] - positions[w, :, j], axis=-1)
        drawn = np.where(seen[w, :, i] & seen[w, :, j], drawn, np.nan)
        true_frame, true_closest = _closest(true_distance, t)
        frame, closest = _closest(drawn, t)
        on_time = (
            frame is not None
            and true_frame is not None
            and abs(frame - true_frame) <= TIMING_FRAMES
            and abs(closest - true_closest) <= tolerance
        )
        per_window["collision_timing"][w].append(float(on_time))
        true_after, true_momentum, true_energy, scale, energy = _exchange(
            truth.positions[w][:, pair], truth.radii[w, t, pair] ** 2, t, truth.dt
        )
        span = slice(t - 1 - SPAN, t + SPAN + 1)
        if not usable[w, span][:, pair].all():
            continue  # a ball not drawn, or clipped (biased centre), around the impact
        drawn_radii = np.nanmean(radii[w, span][:, pair], axis=0)
        after, momentum, energy_change, _, _ = _exchange(
            positions[w][:, pair], drawn_radii**2, t, truth.dt
        )
        error = np.linalg.norm(after - true_after, axis=-1).mean()
        per_window["velocity_after_error"][w].append(float(error))
        speed = np.linalg.norm(true_after, axis=-1).mean()
        bounced_wrong[w] |= bool(error > VELOCITY_TOLERANCE * max(speed, 1e-6))
        per_window["momentum_error"][w].append(
            float(np.linalg.norm(momentum - true_momentum) / max(scale, 1e-12))
        )
        per_window["energy_error"][w].append(
            float(abs(energy_change - true_energy) / max(energy, 1e-12))
        )
    values = {
        name: np.array([np.mean(v) if v else np.nan for v in lists])
        for name, lists in per_window.items()
    }
    missed = np.array([bool(v) and min(v) < 1.0 for v in per_window["collision_timing"]])

    # Interpenetration: drawn centres closer than the true radii allow.
    overlaps = np.zeros(windows)
    checked = np.zeros(windows)
    for i, j in _pairs(balls):
        both = usable[:, 1:, i] & usable[:, 1:, j]
        with np.errstate(invalid="ignore"):
            drawn = np.linalg.norm(positions[:, 1:, i] - positions[:, 1:, j], axis=-1)
            contact = truth.radii[:, 1:, i] + truth.radii[:, 1:, j]
            overlapping = both & (drawn < contact - tolerance)
        overlaps += overlapping.sum(1)
        checked += both.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        values["interpenetration"] = np.where(checked > 0, overlaps / checked, np.nan)
    flags = {
        "missed_collision": missed,
        "collision_velocity": bounced_wrong,
        "interpenetration": overlaps > 0,
    }
    summary = {"collisions": len(events)}
    return summary, values, flags
