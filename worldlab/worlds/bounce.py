"""Bounce: rigid balls in a box under gravity, with an optional occluder and a pushable ball.

The base world of the physical-consistency benchmarks, so the physics is exact wherever it
can be and its remaining errors are measured. The world is the unit box ``[0, 1]²``, ``y``
up (flipped when rendering, so gravity points down on screen). An env step lasts ``dt``
seconds (``DT = 1/15`` unless given), split into substeps so that no pair closes by more
than half the smallest radius per substep (``MIN_SUBSTEPS`` to ``MAX_SUBSTEPS``). Each
substep:

* Flight: kick–drift–kick leapfrog, the symmetric composition of the two semi-implicit
  (symplectic) Euler steps. Plain kick–drift Euler loses ``g²h²/2`` per unit mass every
  substep, a drift that bounces never give back; leapfrog is exact under uniform gravity.
* Ball–ball: elastic impulse along the line of centres, mass ``π r²``. Relative motion is
  linear under uniform gravity, so the time since first contact is solved exactly, the
  impulse uses the contact normal and each ball moves by ``Δv · t`` as if it had bounced
  on time: momentum and energy are conserved exactly. Overlap left by multi-ball contacts
  is split mass-weighted along the line of centres (centre of mass, hence potential
  energy, unchanged). Pair and wall passes alternate until nothing moves (at most
  ``CONTACT_PASSES``), walls last, so containment is exact.
* Walls: elastic reflection mirroring the overshoot; under gravity the vertical rebound
  speed is then set from ``½v² + g y``, so wall bounces conserve energy exactly too.

Measured without actions (20 seeds × 1000 steps): max relative energy drift 3.6e-15
(3 balls) and 5.8e-15 (6 balls) at ``gravity=0``; 2.0e-14 (3), 1.2e-14 (6) at
``gravity=1``; 1.8e-14 (6) at ``gravity=5``. Tests assert 1e-9 (no gravity) and 1e-6
(gravity). Max interpenetration 6e-17 world units (also 15 and 25 balls with pushes;
``OVERLAP_TOLERANCE = 1e-4`` is asserted); centre ± radius never leaves ``[0, 1]``.

Actions (``Discrete(5)``: 0 noop, 1 left, 2 right, 3 up, 4 down) add ``PUSH_SPEED`` to
ball 0's velocity when ``controllable``; after a push every ball's speed is clipped to
``MAX_SPEED`` so that pushing forever cannot blow up. That clip is the only thing that
breaks energy conservation, and it happens only on steps with a push.

Reward: +1.0 for each other ball that ball 0 collides with during the step (a pair counts
once per step). Episodes never terminate; they truncate after ``max_steps`` steps.

Drawing: ``skin=`` (``worldlab.worlds.skins``) restyles the frames without touching the
physics; ``controls()`` gives the current frame's segmentation and depth maps.

Named distributions of the initial state (in- and out-of-distribution speeds, radii and
gravity; phyworld's scenarios) live in ``worldlab.worlds.bounce_splits``.

Example::

    import gymnasium, worldlab
    env = gymnasium.make("worldlab/Bounce-v0", num_balls=4, occluder=True)
    obs, info = env.reset(seed=0)          # obs: [64, 64, 3] uint8
    obs, reward, terminated, truncated, info = env.step(2)   # push ball 0 right
"""

from __future__ import annotations

import colorsys
import math
from collections.abc import Sequence
from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces

from worldlab.worlds import skins
from worldlab.worlds._draw import fill_circle, fill_rect
from worldlab.worlds.bounce_splits import LAYOUTS, parse_ranges, sample_ranges

DEFAULT_COLOURS = (
    (255, 70, 70), (70, 220, 70), (80, 130, 255), (255, 220, 40),
    (235, 70, 235), (50, 225, 235), (255, 150, 40), (170, 100, 255),
)  # fmt: skip
OCCLUDER_COLOUR = (128, 128, 128)
DEFAULT_OCCLUDER = (0.375, 0.625)  # wider than the largest default ball (diameter 0.2)
PUSHES = ((0.0, 0.0), (-1.0, 0.0), (1.0, 0.0), (0.0, 1.0), (0.0, -1.0))  # per action


class BounceEnv(gymnasium.Env):
    """Balls bouncing in the unit box under gravity; observe ``size × size`` RGB frames.

    Args:
        num_balls: number of balls (ball 0 is the controllable one).
        gravity: downward acceleration in world units/s²; 0 disables it.
        speed_range: ``(lo, hi)`` initial speed in units/s; directions are uniform.
            This and every other range may also be a list of ``(lo, hi)`` pairs: their
            union (a pair is picked with probability proportional to its width, then a
            value uniformly inside it; see ``bounce_splits.sample_ranges``).
        radius_range: ``(lo, hi)`` radius in world units; mass is ``π r²``.
        occluder: ``False``; ``True`` for a bar over ``DEFAULT_OCCLUDER``; or ``(x0, x1)``
            in world units. The bar spans the full height, is drawn in grey in front of
            the balls and is snapped to whole pixel columns.
        controllable: whether actions push ball 0 (if not, they are accepted and ignored).
        colours: ``num_balls`` RGB triples, integers in 0–255 or floats in [0, 1];
            ``None`` for distinct bright colours.
        size: side of the square frame in pixels.
        max_steps: steps before ``truncated=True``.
        render_mode: ``None`` or ``"rgb_array"``; ``render()`` returns the frame either way.
        dt: seconds per step (phyworld's scenarios use its frame time, 0.1).
        gravity_range: ``None``, or a range to draw gravity from at every reset, replacing
            ``gravity`` (the drawn value is ``env.gravity`` and ``info["gravity"]``).
        layout: ``"random"`` (anywhere without overlap, any direction) or one of
            ``bounce_splits.LAYOUTS``, phyworld's placements (their ball count is fixed).
        skin: how the world is drawn (``worldlab.worlds.skins.SKIN_NAMES``); never its
            physics. ``info["colours"]`` stays the balls' own colours under every skin.

    ``info`` (reset and step):
        ``state``: float32 ``[num_balls * 8]``, per ball ``[x, y, vx, vy, radius, r, g, b]``.
        ``positions``, ``velocities`` ``[N, 2]``; ``radii`` ``[N]``; ``colours`` ``[N, 3]``
        in [0, 1]; ``visible`` ``[N]`` bool, False when the ball lies wholly behind the
        occluder (then none of its pixels show); ``energy``: kinetic + potential
        (``m g y``, floor at ``y = 0``); ``events``: this step's dicts, in order, each
        pair or (ball, wall) at most once per step: ``{"type": "wall", "ball": i,
        "wall": "left"|"right"|"bottom"|"top"}``, ``{"type": "collision", "balls": (i, j)}``,
        ``{"type": "occlusion_start", "ball": i}``, ``{"type": "occlusion_end", "ball": i}``;
        ``gravity``: this episode's gravity.

    ``set_state(positions, velocities)`` places the balls by hand (tests, benchmarks).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 15}

    DT = 1.0 / 15.0
    PUSH_SPEED = 0.3  # units/s added per push
    MAX_SPEED = 2.0  # units/s, applied to every ball after a push only
    MIN_SUBSTEPS, MAX_SUBSTEPS = 4, 64
    CONTACT_PASSES = 4  # rounds of pair-then-wall resolution per substep, at most
    OVERLAP_TOLERANCE = 1e-4  # world units of interpenetration the tests allow
    # controls()["seg"] ids: balls from 7 on share the last ball class.
    SEGMENT_CLASSES = (
        "background", "distractor", "occluder", *(f"ball {i}" for i in range(7)), "ball 7+",
    )  # fmt: skip
    SEGMENT_DEPTH = np.array([0, 85, 255] + [170] * 8, np.uint8)  # per class: drawing layer
    DISTRACTOR_CLASS, OCCLUDER_CLASS, FIRST_BALL_CLASS = 1, 2, 3

    def __init__(
        self,
        num_balls: int = 3,
        gravity: float = 1.0,
        speed_range: tuple[float, float] = (0.2, 0.6),
        radius_range: tuple[float, float] = (0.05, 0.1),
        occluder: bool | tuple[float, float] = False,
        controllable: bool = True,
        colours: Sequence[Sequence[float]] | None = None,
        size: int = 64,
        max_steps: int = 1000,
        render_mode: str | None = None,
        dt: float = DT,
        gravity_range: Any = None,
        layout: str = "random",
        skin: str = "flat",
    ) -> None:
        if num_balls < 1:
            raise ValueError(f"num_balls must be >= 1, got {num_balls}")
        self._radius_ranges = parse_ranges(radius_range, "radius_range")
        if not all(0 < lo <= hi < 0.5 for lo, hi in self._radius_ranges):
            raise ValueError(f"radius_range must satisfy 0 < lo <= hi < 0.5, got {radius_range}")
        self._speed_ranges = parse_ranges(speed_range, "speed_range")
        if not all(0 <= lo <= hi for lo, hi in self._speed_ranges):
            raise ValueError(f"speed_range must satisfy 0 <= lo <= hi, got {speed_range}")
        self._gravity_ranges = None
        if gravity_range is not None:
            self._gravity_ranges = parse_ranges(gravity_range, "gravity_range")
            if not all(0 <= lo <= hi for lo, hi in self._gravity_ranges):
                raise ValueError(f"gravity_range must satisfy 0 <= lo <= hi, got {gravity_range}")
        if gravity < 0 or size < 1 or max_steps < 1:
            raise ValueError("gravity must be >= 0, size and max_steps >= 1")
        if not dt > 0:
            raise ValueError(f"dt must be > 0 seconds, got {dt}")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        _check_layout(layout, num_balls)
        self.num_balls, self.gravity, self.size = int(num_balls), float(gravity), int(size)
        self.dt, self.layout = float(dt), layout
        self.speed_range, self.radius_range, self.gravity_range = (
            None if ranges is None else ranges[0] if len(ranges) == 1 else ranges
            for ranges in (self._speed_ranges, self._radius_ranges, self._gravity_ranges)
        )  # a single pair stays the (lo, hi) it always was
        if self.dt != self.DT:
            self.metadata = {**self.metadata, "render_fps": 1.0 / self.dt}
        self.controllable, self.max_steps, self.render_mode = controllable, max_steps, render_mode
        self._colours = _parse_colours(colours, self.num_balls)  # [N, 3] floats in [0, 1]
        self._colours_u8 = [tuple(c) for c in np.round(self._colours * 255).astype(int).tolist()]
        self.occluder: tuple[float, float] | None = None
        self._bar_px = (0, 0)
        if occluder is not False and occluder is not None:
            x0, x1 = DEFAULT_OCCLUDER if occluder is True else map(float, occluder)
            if not 0 <= x0 < x1 <= 1:
                raise ValueError(f"occluder must be (x0, x1) in [0, 1], x0 < x1, got {occluder}")
            self.occluder = (x0, x1)
            self._bar_px = (round(x0 * self.size), round(x1 * self.size))
        self.observation_space = spaces.Box(0, 255, (self.size, self.size, 3), np.uint8)
        self.action_space = spaces.Discrete(5)
        # Physics state as lists of Python floats: scalar maths beats numpy calls at N ~ 3.
        self._x, self._y, self._vx, self._vy, self._r, self._m = ([] for _ in range(6))
        self._visible: list[bool] = []
        self._frame = np.zeros(self.observation_space.shape, np.uint8)
        self._steps = 0
        self._background = np.zeros(self.observation_space.shape, np.uint8)  # the flat look
        last_ball_class = len(self.SEGMENT_CLASSES) - 1
        self._ball_classes = [
            min(self.FIRST_BALL_CLASS + i, last_ball_class) for i in range(self.num_balls)
        ]
        self._skin_seed = 0  # seeds this episode's skin randomness (skins.skin_rng)
        self.set_skin(skin)

    # ------------------------------------------------------------------ gym API

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Sample balls' radii, then place them (``layout``) with their speeds; draw gravity
        last when ``gravity_range`` is set."""
        super().reset(seed=seed)
        self._skin_seed = seed if seed is not None else self._skin_seed + 1
        self._paint_scene()
        self._recolour()  # a skin's hue_spread turns the objects anew each episode
        rng, n = self.np_random, self.num_balls
        radii = sample_ranges(rng, self._radius_ranges, n).tolist()
        if self.layout == "random":
            positions, velocities = self._random_layout(rng, radii)
        else:
            speeds = sample_ranges(rng, self._speed_ranges, n)
            positions, velocities = LAYOUTS[self.layout].place(rng, radii, speeds, self.dt)
        if self._gravity_ranges is not None:
            self.gravity = float(sample_ranges(rng, self._gravity_ranges, 1)[0])
        self._x, self._y = positions[:, 0].tolist(), positions[:, 1].tolist()
        self._vx, self._vy = velocities[:, 0].tolist(), velocities[:, 1].tolist()
        self._r = radii
        self._m = [math.pi * r * r for r in radii]
        self._steps = 0
        self._visible = self._compute_visible()
        self._frame = self._draw()
        return self._frame.copy(), self._info([])

    def _random_layout(self, rng: np.random.Generator, radii: list[float]):
        """Non-overlapping positions, then uniform directions at speeds from ``speed_range``:
        ``([N, 2], [N, 2])``."""
        xs: list[float] = []
        ys: list[float] = []
        for r in radii:
            for _ in range(10_000):
                x, y = rng.uniform(r, 1.0 - r, size=2).tolist()
                placed = zip(xs, ys, radii, strict=False)  # the balls placed so far
                if all((x - u) ** 2 + (y - v) ** 2 > (r + q) ** 2 for u, v, q in placed):
                    break
            else:
                raise RuntimeError("could not place the balls; lower num_balls or radius_range")
            xs.append(x)
            ys.append(y)
        speeds = sample_ranges(rng, self._speed_ranges, self.num_balls)
        angles = rng.uniform(0.0, 2.0 * math.pi, size=self.num_balls)
        velocities = np.column_stack([speeds * np.cos(angles), speeds * np.sin(angles)])
        return np.column_stack([xs, ys]), velocities

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Push ball 0 (if controllable), advance ``dt`` seconds and render."""
        if not self._x:
            raise RuntimeError("call reset() before step()")
        action = int(action)
        if not 0 <= action < 5:
            raise ValueError(f"action must be in 0..4, got {action}")
        if self.controllable and action:
            ux, uy = PUSHES[action]
            self._vx[0] += ux * self.PUSH_SPEED
            self._vy[0] += uy * self.PUSH_SPEED
            self._clip_speeds()
        events: list[dict[str, Any]] = []
        seen: set[tuple] = set()  # events already reported this step
        n = self._num_substeps()
        for _ in range(n):
            self._substep(self.dt / n, events, seen)
        visible = self._compute_visible()
        for i, (was, now) in enumerate(zip(self._visible, visible, strict=True)):
            if was != now:
                events.append({"type": "occlusion_end" if now else "occlusion_start", "ball": i})
        self._visible = visible
        self._steps += 1
        self._frame = self._draw()
        reward = float(sum(1 for key in seen if key[0] == "collision" and key[1][0] == 0))
        truncated = self._steps >= self.max_steps
        return self._frame.copy(), reward, False, truncated, self._info(events)

    def render(self) -> np.ndarray:
        """A copy of the current frame, ``[size, size, 3] uint8``."""
        return self._frame.copy()

    # ------------------------------------------------------------------ extras

    def set_skin(self, name: str) -> None:
        """Draw with skin ``name`` from now on, the current frame included; physics is
        untouched."""
        self._skin = skins.get_skin(name)
        self.skin = name
        self._recolour()
        self._paint_scene()
        if self._x:
            self._frame = self._draw()

    def controls(self) -> dict[str, np.ndarray]:
        """Ground-truth control maps of the current frame (``worlds.control_maps``):
        ``seg [size, size] uint8`` ids of ``SEGMENT_CLASSES`` and ``depth [size, size]
        uint8``, the class's layer (background 0, distractors 85, balls 170, occluder 255:
        it is drawn in front of the balls)."""
        if not self._x:
            raise RuntimeError("call reset() before controls()")
        seg = self._paint(self._seg_scene.copy(), self._ball_classes, self.OCCLUDER_CLASS)
        return {"seg": seg, "depth": self.SEGMENT_DEPTH[seg]}

    @property
    def masses(self) -> np.ndarray:
        """Ball masses ``π r²``, ``[N]`` float64."""
        return np.array(self._m)

    def set_state(self, positions: Any = None, velocities: Any = None) -> dict[str, Any]:
        """Overwrite ball positions and/or velocities (``[N, 2]``, world units, y up).

        The new layout must keep every ball inside the box and free of overlaps.
        Visibility is recomputed silently (no occlusion events) and the frame redrawn.
        Returns the new ``info`` with no events.
        """
        if not self._x:
            raise RuntimeError("call reset() before set_state()")
        shape = (self.num_balls, 2)
        if positions is not None:
            p = np.asarray(positions, dtype=np.float64).reshape(shape)
            r = np.asarray(self._r)
            if np.any(p - r[:, None] < 0) or np.any(p + r[:, None] > 1):
                raise ValueError("every ball must lie inside the unit box")
            gap = np.linalg.norm(p[:, None] - p[None], axis=-1) - (r[:, None] + r[None])
            if np.any(gap[np.triu_indices(self.num_balls, 1)] < 0):
                raise ValueError("balls must not overlap")
            self._x, self._y = p[:, 0].tolist(), p[:, 1].tolist()
        if velocities is not None:
            v = np.asarray(velocities, dtype=np.float64).reshape(shape)
            self._vx, self._vy = v[:, 0].tolist(), v[:, 1].tolist()
        self._visible = self._compute_visible()
        self._frame = self._draw()
        return self._info([])

    def load_balls(
        self, positions: Any, velocities: Any, radii: Any, colours: Any
    ) -> dict[str, Any]:
        """Replace the balls by ``N`` given ones (``[N, 2]``, ``[N, 2]``, ``[N]``, ``[N, 3]``
        colours in [0, 1]), e.g. to re-simulate a recorded state; ``N`` must be
        ``num_balls``. Returns the new ``info`` with no events."""
        if not self._x:
            raise RuntimeError("call reset() before load_balls()")
        radii = np.asarray(radii, dtype=np.float64).reshape(self.num_balls)
        if np.any(radii <= 0) or np.any(radii >= 0.5):
            raise ValueError(f"radii must lie in (0, 0.5), got {radii.tolist()}")
        self._r = radii.tolist()
        self._m = [math.pi * r * r for r in self._r]
        self._colours = _parse_colours(np.asarray(colours, np.float64).tolist(), self.num_balls)
        self._colours_u8 = [tuple(c) for c in np.round(self._colours * 255).astype(int).tolist()]
        self._recolour()
        return self.set_state(positions, velocities)

    # ------------------------------------------------------------------ physics

    def _num_substeps(self) -> int:
        """Enough substeps that no pair closes by more than half the smallest radius."""
        vmax = max(map(math.hypot, self._vx, self._vy)) + self.gravity * self.dt
        n = math.ceil(2.0 * vmax * self.dt / (0.5 * min(self._r)))
        return min(max(n, self.MIN_SUBSTEPS), self.MAX_SUBSTEPS)

    def _clip_speeds(self) -> None:
        """Scale every ball down to ``MAX_SPEED`` (only called after a push)."""
        for i, (u, v) in enumerate(zip(self._vx, self._vy, strict=True)):
            speed = math.hypot(u, v)
            if speed > self.MAX_SPEED:
                self._vx[i], self._vy[i] = u * self.MAX_SPEED / speed, v * self.MAX_SPEED / speed

    def _substep(self, h: float, events: list, seen: set) -> None:
        """Fly, then alternate pair and wall passes; walls go last so containment is exact."""
        x, y, vx, vy, r = self._x, self._y, self._vx, self._vy, self._r
        n, drop, kick = len(x), 0.5 * self.gravity * h * h, self.gravity * h
        for i in range(n):  # leapfrog = exact parabola under uniform gravity
            x[i] += vx[i] * h
            y[i] += vy[i] * h - drop
            vy[i] -= kick
        for _ in range(self.CONTACT_PASSES):  # resolving one contact can create another
            moved = False
            for i in range(n - 1):
                for j in range(i + 1, n):
                    dx, dy, rs = x[j] - x[i], y[j] - y[i], r[i] + r[j]
                    d2 = dx * dx + dy * dy
                    if d2 < rs * rs:
                        self._collide(i, j, dx, dy, d2, rs, h, events, seen)
                        moved = True
            for i in range(n):
                ri = r[i]
                if not (ri <= x[i] <= 1.0 - ri and ri <= y[i] <= 1.0 - ri):
                    self._bounce_walls(i, events, seen)
                    moved = True
            if not moved:
                break

    def _collide(
        self, i: int, j: int, dx: float, dy: float, d2: float, rs: float, h: float,
        events: list, seen: set,
    ) -> None:  # fmt: skip
        """Resolve the overlapping pair ``i < j`` (``dx, dy`` = centre j − centre i)."""
        x, y, vx, vy, m = self._x, self._y, self._vx, self._vy, self._m
        dvx, dvy = vx[j] - vx[i], vy[j] - vy[i]
        closing = dx * dvx + dy * dvy
        if closing < 0.0:
            # Time since first touch: root of |d - dv t|² = rs², in a cancellation-free form.
            a, c = dvx * dvx + dvy * dvy, d2 - rs * rs
            t = c / (closing - math.sqrt(closing * closing - a * c))
            if t > h:  # overlapping before this substep (multi-ball contact): no rewind
                t = 0.0
            nx, ny = dx - dvx * t, dy - dvy * t  # separation at contact
            norm = math.hypot(nx, ny)
            nx, ny = nx / norm, ny / norm
            vn = dvx * nx + dvy * ny
            if vn < 0.0:
                k = 2.0 * vn / (m[i] + m[j])  # Δv_i = k m_j n, Δv_j = -k m_i n
                ix, iy, jx, jy = k * m[j] * nx, k * m[j] * ny, -k * m[i] * nx, -k * m[i] * ny
                vx[i], vy[i], vx[j], vy[j] = vx[i] + ix, vy[i] + iy, vx[j] + jx, vy[j] + jy
                # Replay the last t seconds with the new velocities (gravity cancels out).
                x[i], y[i], x[j], y[j] = x[i] + ix * t, y[i] + iy * t, x[j] + jx * t, y[j] + jy * t
                _report(events, seen, {"type": "collision", "balls": (i, j)})
        dx, dy = x[j] - x[i], y[j] - y[i]
        dist = math.hypot(dx, dy)
        if dist < rs:  # leftover overlap: split it mass-weighted (centre of mass stays put)
            nx, ny = (dx / dist, dy / dist) if dist > 0.0 else (1.0, 0.0)
            wi, wj = (rs - dist) * m[j] / (m[i] + m[j]), (rs - dist) * m[i] / (m[i] + m[j])
            x[i], y[i] = x[i] - wi * nx, y[i] - wi * ny
            x[j], y[j] = x[j] + wj * nx, y[j] + wj * ny

    def _bounce_walls(self, i: int, events: list, seen: set) -> None:
        """Reflect ball ``i`` off the walls it overshot, conserving its energy exactly."""
        x, y, vx, vy, g = self._x, self._y, self._vx, self._vy, self.gravity
        lo, hi = self._r[i], 1.0 - self._r[i]
        hits = []
        if x[i] < lo:
            x[i] = min(2.0 * lo - x[i], hi)
            if vx[i] < 0.0:
                vx[i] = -vx[i]
                hits.append("left")
        elif x[i] > hi:
            x[i] = max(2.0 * hi - x[i], lo)
            if vx[i] > 0.0:
                vx[i] = -vx[i]
                hits.append("right")
        if y[i] < lo:
            new_y, v2 = min(2.0 * lo - y[i], hi), vy[i] * vy[i]
            if v2 < 2.0 * g * (new_y - y[i]):  # too slow to climb that far: rise less
                new_y = max(lo, y[i] + v2 / (2.0 * g))
                deficit = 2.0 * g * (new_y - y[i]) - v2  # pushed under by a neighbour, too
                if deficit > 0.0:  # slow even to climb back to the floor: pay from vx
                    vx[i] = math.copysign(math.sqrt(max(vx[i] * vx[i] - deficit, 0.0)), vx[i])
            if vy[i] < 0.0:
                hits.append("bottom")
            vy[i] = math.sqrt(max(v2 - 2.0 * g * (new_y - y[i]), 0.0))  # ½v² + g y conserved
            y[i] = new_y
        elif y[i] > hi:
            new_y = max(2.0 * hi - y[i], lo)
            if vy[i] > 0.0:
                hits.append("top")
            vy[i] = -math.sqrt(vy[i] * vy[i] + 2.0 * g * (y[i] - new_y))
            y[i] = new_y
        for wall in hits:
            _report(events, seen, {"type": "wall", "ball": i, "wall": wall})

    # ------------------------------------------------------------------ observation

    def _compute_visible(self) -> list[bool]:
        """False for balls wholly inside the (pixel-snapped) occluder's columns."""
        if self.occluder is None:
            return [True] * self.num_balls
        b0, b1 = self._bar_px[0] / self.size, self._bar_px[1] / self.size
        return [not (x - r >= b0 and x + r <= b1) for x, r in zip(self._x, self._r, strict=True)]

    def _recolour(self) -> None:
        """The balls' and the occluder's colours under the skin (on a skin or colour change)."""
        look = skins.episode_look(self._skin, self._skin_seed)
        self.hue = look.hue_shift  # the objects' hue turn in this episode (collect records it)
        self._ball_colours = [look.object_colour(c) for c in self._colours_u8]
        self._occluder_colour = look.object_colour(OCCLUDER_COLOUR)

    def _paint_scene(self) -> None:
        """This episode's backdrop under the skin, and its segmentation (distractors)."""
        self._scene, distractor = skins.backdrop(self._skin, self._background, self._skin_seed)
        self._seg_scene = distractor * np.uint8(self.DISTRACTOR_CLASS)

    def _draw(self) -> np.ndarray:
        return self._paint(self._scene.copy(), self._ball_colours, self._occluder_colour)

    def _paint(self, canvas: np.ndarray, ball_values: list, occluder_value) -> np.ndarray:
        """Draw the balls, then the occluder in front, with these colours (or class ids)."""
        s = self.size
        for x, y, r, value in zip(self._x, self._y, self._r, ball_values, strict=True):
            fill_circle(canvas, x * s, (1.0 - y) * s, r * s, value)  # flip y: up is up
        if self.occluder is not None:
            fill_rect(canvas, self._bar_px[0], 0, self._bar_px[1], s, occluder_value)
        return canvas

    def _energy(self) -> float:
        g = self.gravity
        terms = zip(self._m, self._vx, self._vy, self._y, strict=True)
        return sum(m * (0.5 * (u * u + v * v) + g * y) for m, u, v, y in terms)

    def _info(self, events: list[dict[str, Any]]) -> dict[str, Any]:
        state = (self._x, self._y, self._vx, self._vy, self._r)
        rows = np.column_stack([np.array(state).T, self._colours])  # [N, 8] float64
        return {
            "state": rows.astype(np.float32).ravel(),
            "positions": rows[:, 0:2].copy(),
            "velocities": rows[:, 2:4].copy(),
            "radii": rows[:, 4].copy(),
            "colours": rows[:, 5:8].copy(),
            "visible": np.array(self._visible, dtype=bool),
            "events": events,
            "energy": float(self._energy()),
            "gravity": self.gravity,
        }


def _check_layout(layout: str, num_balls: int) -> None:
    """A known layout, given the number of balls it places."""
    if layout == "random":
        return
    if layout not in LAYOUTS:
        names = ", ".join(["random", *LAYOUTS])
        raise ValueError(f"layout must be one of {names}; got {layout!r}")
    if num_balls != LAYOUTS[layout].balls:
        raise ValueError(
            f"layout {layout!r} places {LAYOUTS[layout].balls} ball(s), got num_balls={num_balls}"
        )


def _report(events: list[dict[str, Any]], seen: set, event: dict[str, Any]) -> None:
    """Append ``event`` unless the same one was already reported this step."""
    key = tuple(event.values())
    if key not in seen:
        seen.add(key)
        events.append(event)


def _parse_colours(colours: Sequence[Sequence[float]] | None, n: int) -> np.ndarray:
    """``[n, 3]`` floats in [0, 1]: integer input is read as 0–255, float input as [0, 1]."""
    if colours is None:
        extra = [  # golden-ratio hues, bright and saturated, past the hand-picked ones
            tuple(255 * c for c in colorsys.hsv_to_rgb((0.13 + 0.618034 * k) % 1.0, 0.75, 1.0))
            for k in range(max(0, n - len(DEFAULT_COLOURS)))
        ]
        return np.array((list(DEFAULT_COLOURS) + extra)[:n], dtype=np.float64) / 255.0
    arr = np.asarray(colours)
    if arr.ndim != 2 or arr.shape[1] != 3 or arr.shape[0] < n:
        raise ValueError(f"colours must hold at least {n} RGB triples, got shape {arr.shape}")
    arr = arr[:n].astype(np.float64) / (1.0 if np.issubdtype(arr.dtype, np.floating) else 255.0)
    if np.any(arr < 0) or np.any(arr > 1):
        raise ValueError("colours must be integers in 0-255 or floats in [0, 1]")
    return arr
