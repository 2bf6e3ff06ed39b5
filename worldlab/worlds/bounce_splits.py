"""Named distributions of ``bounce``'s initial states, for physics benchmarks after phyworld.

phyworld (Kang et al., ICML 2025, "How Far is Video Generation from World Model: A Physical
Law Perspective") trains a video model on balls whose speeds and radii lie in one range and
tests it on speeds and radii outside it. Here a *split* is a name for the ``BounceEnv``
keyword arguments of one such distribution: ``split_kwargs("ood_speed")`` is what
``collect(..., env_kwargs=...)`` and ``worldlab collect --split`` take. The module reads top
to bottom:

* Ranges: a range is ``(lo, hi)`` or a union ``[(lo, hi), ...]`` (``parse_ranges``,
  ``sample_ranges``); ``BounceEnv`` draws speeds, radii and gravity through them.
* phyworld: its units (``phyworld_units``) and the initial placements of its three scenarios
  (``LAYOUTS``), after ``id_ood_data/{one_ball_uniform_motion, one_ball_parabola,
  two_balls_collision}.py`` in github.com/phyworld/phyworld.
* ``SPLITS``: the names, with ``split_kwargs`` and ``describe_splits`` (a markdown table).

Kept free of imports from ``bounce.py``, which imports it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, NamedTuple

import numpy as np

from worldlab.errors import WorldlabError

Range = tuple[float, float]

# ------------------------------------------------------------------ ranges


def parse_ranges(value: Any, name: str) -> tuple[Range, ...]:
    """``(lo, hi)`` or a sequence of ``(lo, hi)`` pairs → a tuple of float pairs.

    Only the shape is checked here; the caller checks the bounds its quantity needs.
    """
    try:
        pairs = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        pairs = np.empty(0)
    if pairs.shape == (2,):
        pairs = pairs[None]
    if pairs.ndim != 2 or pairs.shape[0] == 0 or pairs.shape[1] != 2:
        raise ValueError(f"{name} must be (lo, hi) or a list of (lo, hi) pairs, got {value!r}")
    return tuple((float(lo), float(hi)) for lo, hi in pairs)


def sample_ranges(rng: np.random.Generator, ranges: tuple[Range, ...], n: int) -> np.ndarray:
    """``n`` values from the union of ``ranges``, ``[n]`` float64.

    Each value picks a pair with probability proportional to its width (equal chances when
    every pair is a single point), then a value uniformly inside it, so the union is sampled
    uniformly. A single pair makes exactly the one ``rng.uniform`` call bounce always made,
    so seeds keep their episodes.
    """
    if len(ranges) == 1:
        return rng.uniform(*ranges[0], size=n)
    lo, hi = np.array(ranges).T
    widths = hi - lo
    weights = widths / widths.sum() if widths.sum() > 0 else np.full(len(ranges), 1 / len(ranges))
    pick = rng.choice(len(ranges), size=n, p=weights)
    return rng.uniform(lo[pick], hi[pick])


# ------------------------------------------------------------------ phyworld

PHYWORLD_LENGTH_SCALE = 10.0  # phyworld's box is 10 units wide, bounce's is 1 (WORLD_SCALE)
PHYWORLD_FRAME_TIME = 0.1  # s between its frames: Box2D steps of 0.01 s, every 10th kept
PHYWORLD_CLIP_FRAMES = 32  # frames per video (NUM_FRAMES)
PHYWORLD_CONTEXT_FRAMES = 4  # frames the video model is conditioned on
FLIGHT_FRAMES = 24  # uniform motion, parabola: frames before the ball meets a wall (NUM_MIN_FRAMES)
PRE_COLLISION_FRAMES = 8  # collision: frames at least before contact (MIN_PRE_FRAMES) ...
POST_COLLISION_FRAMES = 8  # ... and after it, within the clip (MIN_POST_FRAMES)
MARGIN = 0.05  # phyworld's eps: the band along the top and bottom edges a ball starts out of


def phyworld_units(positions: Any, velocities: Any) -> tuple[np.ndarray, np.ndarray]:
    """Bounce's world units → phyworld's: positions ``[..., 2]`` and velocities ``[..., 2]``.

    Lengths scale by ``PHYWORLD_LENGTH_SCALE``; both worlds count time in seconds, so
    velocities (units/s) and accelerations (units/s²) scale by the same factor. Both put the
    origin at the bottom left with ``y`` up. Positions read off frames are per frame: a
    bounce world made with ``dt=PHYWORLD_FRAME_TIME`` steps exactly one phyworld frame.
    """
    scale = PHYWORLD_LENGTH_SCALE
    return np.asarray(positions, np.float64) * scale, np.asarray(velocities, np.float64) * scale


def bounce_units(positions: Any, velocities: Any) -> tuple[np.ndarray, np.ndarray]:
    """phyworld's units → bounce's world units: the inverse of ``phyworld_units``."""
    scale = PHYWORLD_LENGTH_SCALE
    return np.asarray(positions, np.float64) / scale, np.asarray(velocities, np.float64) / scale


class Layout(NamedTuple):
    """An initial placement: ``place(rng, radii, speeds, dt) -> (positions, velocities)``,
    ``[N, 2]`` each in world units, for exactly ``balls`` balls."""

    balls: int
    place: Callable[..., tuple[np.ndarray, np.ndarray]]


def _start_x(rng: np.random.Generator, radius: float, speed: float, dt: float) -> float:
    """A left-side start from which a ball moving right flies ``FLIGHT_FRAMES`` frames
    before touching the right wall (phyworld: before leaving the picture)."""
    max_x = 1.0 - (FLIGHT_FRAMES * speed * dt + radius)
    if max_x < radius:  # too fast to fly that long anywhere: start near the left wall
        max_x = radius + rng.uniform(0.0, 0.5 / PHYWORLD_LENGTH_SCALE)
    return rng.uniform(radius, max_x)


def _uniform_motion(rng, radii, speeds, dt) -> tuple[np.ndarray, np.ndarray]:
    """One ball moving right at any height (phyworld's direction ``right``)."""
    (radius,), (speed,) = radii, speeds
    x = _start_x(rng, radius, speed, dt)
    y = rng.uniform(radius + MARGIN, 1.0 - MARGIN - radius)
    return np.array([[x, y]]), np.array([[speed, 0.0]])


def _parabola(rng, radii, speeds, dt) -> tuple[np.ndarray, np.ndarray]:
    """One ball launched horizontally to the right from near the top."""
    (radius,), (speed,) = radii, speeds
    x = _start_x(rng, radius, speed, dt)
    top = 1.0 - MARGIN - radius
    y = rng.uniform(top - 1.0 / PHYWORLD_LENGTH_SCALE, top)
    return np.array([[x, y]]), np.array([[speed, 0.0]])


def _collision(rng, radii, speeds, dt) -> tuple[np.ndarray, np.ndarray]:
    """Two balls at one height, ball 0 moving right, ball 1 left, meeting head on.

    phyworld's general case: the centres start ``PRE_COLLISION_FRAMES`` to
    ``PHYWORLD_CLIP_FRAMES - POST_COLLISION_FRAMES`` frames of closing apart, as far as the
    box allows; where even the nearest of those does not fit (fast balls), as far apart as
    fits, so they meet sooner. (phyworld dropped such scenes and special-cased very unequal
    radii; neither is kept.)
    """
    (r0, r1), (v0, v1) = radii, speeds
    contact, closing = r0 + r1, (v0 + v1) * dt  # centre distance at contact; per frame
    widest = 1.0 - contact  # ball 0 touching the left wall, ball 1 the right one
    if widest < contact:
        raise RuntimeError("two balls this large cannot start apart; lower radius_range")
    far = min((PHYWORLD_CLIP_FRAMES - POST_COLLISION_FRAMES) * closing + contact, widest)
    near = min(PRE_COLLISION_FRAMES * closing + contact, far)
    distance = rng.uniform(near, far)
    x0 = rng.uniform(r0, 1.0 - r1 - distance)
    biggest = max(r0, r1)
    y = rng.uniform(biggest + MARGIN, 1.0 - MARGIN - biggest)
    return np.array([[x0, y], [x0 + distance, y]]), np.array([[v0, 0.0], [-v1, 0.0]])


LAYOUTS: dict[str, Layout] = {
    "phyworld_uniform": Layout(1, _uniform_motion),
    "phyworld_parabola": Layout(1, _parabola),
    "phyworld_collision": Layout(2, _collision),
}

# ------------------------------------------------------------------ splits

# In-distribution ranges, and out-of-distribution ones on both sides of them with a gap,
# in proportion to phyworld's (speed ID [1, 4], OOD [0, 0.8] ∪ [4.5, 6]; radius ID
# [0.7, 1.4], OOD [0.3, 0.6] ∪ [1.5, 2]).
ID_SPEED = (0.3, 1.0)  # units/s
ID_RADIUS = (0.06, 0.12)  # units: 4 to 8 pixels at 64×64
ID_GRAVITY = 1.0  # units/s²
OOD_SPEED = ((0.0, 0.2), (1.2, 1.5))
OOD_RADIUS = ((0.03, 0.045), (0.135, 0.17))
OOD_GRAVITY = ((0.2, 0.4), (2.5, 3.0))  # drawn per episode (gravity_range)
_ID = {
    "num_balls": 2,
    "gravity": ID_GRAVITY,
    "speed_range": ID_SPEED,
    "radius_range": ID_RADIUS,
    "controllable": False,
}

# phyworld's scenarios in bounce units: its numbers divided by PHYWORLD_LENGTH_SCALE.
_PHYWORLD = {
    "dt": PHYWORLD_FRAME_TIME,
    "max_steps": PHYWORLD_CLIP_FRAMES - 1,  # the reset frame plus 31 steps
    "speed_range": (0.1, 0.4),  # [1, 4]
    "radius_range": (0.07, 0.14),  # [0.7, 1.4]
    "controllable": False,
}


@dataclass(frozen=True)
class Split:
    """A named distribution: ``BounceEnv`` keyword arguments (read-only: ``split_kwargs``
    gives a copy to change) and what it tests."""

    kwargs: Mapping[str, Any]
    tests: str

    def __post_init__(self):
        object.__setattr__(self, "kwargs", MappingProxyType(dict(self.kwargs)))


SPLITS: dict[str, Split] = {
    "id": Split(_ID, "the training distribution"),
    "ood_speed": Split({**_ID, "speed_range": OOD_SPEED}, "speeds below and above the ID range"),
    "ood_radius": Split({**_ID, "radius_range": OOD_RADIUS}, "radii below and above the ID range"),
    "ood_gravity": Split(
        {**{k: v for k, v in _ID.items() if k != "gravity"}, "gravity_range": OOD_GRAVITY},
        "gravity weaker and stronger than ID, one value per episode",
    ),
    "ood_both": Split(
        {**_ID, "speed_range": OOD_SPEED, "radius_range": OOD_RADIUS},
        "speed and radius both out of range",
    ),
    "phyworld_uniform": Split(
        {**_PHYWORLD, "num_balls": 1, "gravity": 0.0, "layout": "phyworld_uniform"},
        "phyworld's uniform motion: constant velocity",
    ),
    "phyworld_parabola": Split(
        {**_PHYWORLD, "num_balls": 1, "gravity": 0.25, "layout": "phyworld_parabola"},
        "phyworld's parabola: g = 2.5 of its units/s²",
    ),
    "phyworld_collision": Split(
        {
            **_PHYWORLD,
            "num_balls": 2,
            "gravity": 0.0,
            "radius_range": (0.05, 0.15),  # phyworld's collision radii: [0.5, 1.5]
            "layout": "phyworld_collision",
        },
        "phyworld's collision: two balls meet head on",
    ),
}


def split_kwargs(name: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """``BounceEnv`` keyword arguments of split ``name``, ``overrides`` on top.

    Plain JSON values (lists, not tuples), as a dataset manifest stores them, so a rerun
    into the same dataset matches. A ``gravity`` override also drops the split's
    ``gravity_range``, which would otherwise replace it.
    """
    if name not in SPLITS:
        raise WorldlabError(
            f"unknown bounce split {name!r}: expected one of {', '.join(SPLITS)} "
            "(docs/physics.md lists their ranges)"
        )
    kwargs = _plain(SPLITS[name].kwargs)
    overrides = dict(overrides or {})
    if "gravity" in overrides and "gravity_range" not in overrides:
        kwargs.pop("gravity_range", None)
    return {**kwargs, **overrides}


def _plain(value: Any) -> Any:
    """Tuples → lists, recursively: what a round trip through JSON gives back."""
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def describe_splits() -> str:
    """A markdown table of every split's ranges, in bounce's world units."""
    lines = [
        "| split | balls | speed (units/s) | radius (units) | gravity (units/s²) | step (s) "
        "| layout | tests |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, split in SPLITS.items():
        kw = split.kwargs
        gravity = kw.get("gravity_range", kw.get("gravity"))
        cells = [
            f"`{name}`",
            str(kw["num_balls"]),
            _format_ranges(kw["speed_range"]),
            _format_ranges(kw["radius_range"]),
            _format_ranges(gravity) if "gravity_range" in kw else f"{gravity:g}",
            f"{kw['dt']:g}" if "dt" in kw else "1/15",
            kw.get("layout", "random"),
            split.tests,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _format_ranges(value: Any) -> str:
    """``(0.3, 1.0)`` → ``0.3–1``; a union joins its pairs with ``∪``."""
    return " ∪ ".join(f"{lo:g}–{hi:g}" for lo, hi in parse_ranges(value, "range"))
