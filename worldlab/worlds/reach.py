"""Reach: a point mass steered by continuous 2-D actions to a target, seen from pixels.

A small, fully observable control task for planning and policy learning from
images. The mass lives in the unit box ``[0, 1]²`` (``y`` points up), feels the
clipped action as a force, is slowed by linear drag, and stops at the walls.
A target, placed anew each episode, is drawn as a red disc (or a ring:
``target_shape="ring"``); the mass as a cyan disc on a dark background (the ``flat``
skin; ``skin=`` draws it in other styles, ``worldlab.worlds.skins``, and ``controls()``
gives segmentation and depth maps).

Example::

    import gymnasium, worldlab
    env = gymnasium.make("worldlab/Reach-v0")
    obs, info = env.reset(seed=0)          # obs: [64, 64, 3] uint8
    obs, reward, terminated, truncated, info = env.step([1.0, 0.0])
"""

from __future__ import annotations

from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces

from worldlab.worlds import skins
from worldlab.worlds._draw import fill_circle

BACKGROUND = (18, 20, 30)
GRID = (30, 33, 46)
TARGET = (230, 70, 60)
AGENT = (70, 210, 240)


class ReachEnv(gymnasium.Env):
    """Drive a point mass to a target in the unit box; observe ``size × size`` RGB frames.

    Dynamics (semi-implicit Euler, ``DT`` seconds per step)::

        v <- v + (FORCE * clip(action, -1, 1) - DAMPING * v) * DT
        p <- p + v * DT

    Terminal speed is ``FORCE / DAMPING = 0.8`` units/s (0.08 per step), so from
    rest the mass crosses the box in about 22 steps at full action. The mass is a
    disc of radius ``AGENT_RADIUS``; its centre is clamped to
    ``[AGENT_RADIUS, 1 - AGENT_RADIUS]`` (so it is always fully visible) and the
    velocity component into a wall is zeroed.

    Episodes last ``max_steps`` steps and then truncate; they never terminate.
    The reward is ``-distance(agent, target)`` in world units.

    Args:
        size: side of the square frame in pixels.
        max_steps: steps before ``truncated=True``.
        success_radius: ``info["success"]`` is ``distance < success_radius``; the
            target disc is drawn with this radius (at least 3 pixels).
        min_target_distance: the target is sampled at least this far from the start.
        render_mode: ``None`` or ``"rgb_array"``; ``render()`` returns the frame either way.
        skin: how the world is drawn (``worldlab.worlds.skins.SKIN_NAMES``); never its physics.
        target_shape: ``"disc"`` (a filled disc, as large as the agent's) or ``"ring"``
            (the same disc with a hollow centre), so that the target differs from the agent
            in shape as well as colour: under a skin that turns hues, colour alone cannot
            tell the two apart (their hues sit half a turn apart).

    Action: ``Box(-1, 1, (2,), float32)``, the force ``(fx, fy)``; larger values are clipped.

    ``info`` (reset and step):
        ``state``: float32 ``[x, y, vx, vy, target_x, target_y]`` (world units, y up).
        ``distance``: agent-to-target distance. ``success``: ``distance < success_radius``.
        ``position``, ``velocity``, ``target``: float32 ``(2,)`` copies of the same values.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 15}

    DT = 0.1
    FORCE = 0.8
    DAMPING = 1.0
    AGENT_RADIUS = 0.05
    SPAWN_LOW, SPAWN_HIGH = 0.1, 0.9  # start and target are sampled in this square
    SEGMENT_CLASSES = ("background", "distractor", "target", "agent")  # controls()["seg"] ids
    SEGMENT_DEPTH = np.array([0, 85, 170, 255], np.uint8)  # per class: its drawing layer
    DISTRACTOR_CLASS, TARGET_CLASS, AGENT_CLASS = 1, 2, 3
    TARGET_SHAPES = {"disc": 0.0, "ring": 0.55}  # shape -> hole radius, share of the radius

    def __init__(
        self,
        size: int = 64,
        max_steps: int = 100,
        success_radius: float = 0.08,
        min_target_distance: float = 0.3,
        render_mode: str | None = None,
        skin: str = "flat",
        target_shape: str = "disc",
    ) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"unsupported render_mode {render_mode!r}")
        if target_shape not in self.TARGET_SHAPES:
            raise ValueError(
                f"unknown target_shape {target_shape!r}; choose one of "
                f"{', '.join(self.TARGET_SHAPES)}"
            )
        self.target_shape = target_shape
        self.size = int(size)
        self.max_steps = int(max_steps)
        self.success_radius = float(success_radius)
        self.min_target_distance = float(min_target_distance)
        self.render_mode = render_mode

        self.observation_space = spaces.Box(0, 255, (self.size, self.size, 3), np.uint8)
        self.action_space = spaces.Box(-1.0, 1.0, (2,), np.float32)

        self._background = self._make_background(self.size)
        self._pos = np.zeros(2, np.float64)
        self._vel = np.zeros(2, np.float64)
        self._target = np.zeros(2, np.float64)
        self._steps = 0
        self._skin_seed = 0  # seeds this episode's skin randomness (skins.skin_rng)
        self.set_skin(skin)

    # ------------------------------------------------------------------ gym API

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start a new episode: the mass at rest somewhere, the target at least
        ``min_target_distance`` away."""
        super().reset(seed=seed)
        self._skin_seed = seed if seed is not None else self._skin_seed + 1
        rng = self.np_random
        self._pos = rng.uniform(self.SPAWN_LOW, self.SPAWN_HIGH, size=2)
        self._vel = np.zeros(2, np.float64)
        # Rejection sampling; a bounded loop so a huge min_target_distance cannot hang.
        target = rng.uniform(self.SPAWN_LOW, self.SPAWN_HIGH, size=2)
        for _ in range(100):
            if np.linalg.norm(target - self._pos) >= self.min_target_distance:
                break
            target = rng.uniform(self.SPAWN_LOW, self.SPAWN_HIGH, size=2)
        self._set_target(target)
        self._steps = 0
        self._frame = self._draw()
        return self._frame, self._info()

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Apply the clipped force for one step; reward is ``-distance``."""
        force = np.clip(np.asarray(action, dtype=np.float64).reshape(2), -1.0, 1.0)
        self._vel = self._vel + (self.FORCE * force - self.DAMPING * self._vel) * self.DT
        self._pos = self._pos + self._vel * self.DT
        self._clamp_to_walls()
        self._steps += 1
        self._frame = self._draw()
        info = self._info()
        truncated = self._steps >= self.max_steps
        return self._frame, -info["distance"], False, truncated, info

    def render(self) -> np.ndarray:
        """A copy of the current frame, ``[size, size, 3] uint8``."""
        return self._frame.copy()

    # ------------------------------------------------------------ state access

    def set_state(
        self,
        position: Any,
        velocity: Any = (0.0, 0.0),
        target: Any | None = None,
    ) -> np.ndarray:
        """Place the mass (and optionally the target) directly; returns the new frame.

        Positions are clamped into the box as in ``step``. Meant for tests, demos
        and resetting to chosen start states; call after ``reset``.
        """
        self._pos = np.asarray(position, dtype=np.float64).reshape(2).copy()
        self._vel = np.asarray(velocity, dtype=np.float64).reshape(2).copy()
        self._clamp_to_walls()
        if target is not None:
            self._set_target(np.asarray(target, dtype=np.float64).reshape(2))
        self._frame = self._draw()
        return self._frame

    def set_skin(self, name: str) -> None:
        """Draw with skin ``name`` from now on, the current frame included; physics is
        untouched."""
        self._skin = skins.get_skin(name)
        self.skin = name
        self._paint_scene()
        self._frame = self._draw()

    def controls(self) -> dict[str, np.ndarray]:
        """Ground-truth control maps of the current frame (``worlds.control_maps``):
        ``seg [size, size] uint8`` ids of ``SEGMENT_CLASSES`` and ``depth [size, size]
        uint8``, the class's layer (0 background … 255 agent)."""
        seg = self._seg_scene.copy()
        fill_circle(seg, *self._to_pixels(self._pos), self._agent_radius, self.AGENT_CLASS)
        return {"seg": seg, "depth": self.SEGMENT_DEPTH[seg]}

    @property
    def state(self) -> np.ndarray:
        """Ground-truth state ``[x, y, vx, vy, target_x, target_y]`` as float32."""
        return np.concatenate([self._pos, self._vel, self._target]).astype(np.float32)

    # ------------------------------------------------------------------ helpers

    def _clamp_to_walls(self) -> None:
        lo, hi = self.AGENT_RADIUS, 1.0 - self.AGENT_RADIUS
        for axis in range(2):
            if self._pos[axis] < lo:
                self._pos[axis] = lo
                self._vel[axis] = max(self._vel[axis], 0.0)  # stop the motion into the wall
            elif self._pos[axis] > hi:
                self._pos[axis] = hi
                self._vel[axis] = min(self._vel[axis], 0.0)

    def _set_target(self, target: np.ndarray) -> None:
        self._target = np.clip(target, 0.0, 1.0).astype(np.float64)
        self._paint_scene()

    def _paint_scene(self) -> None:
        """Bake what is static within an episode (the skin's backdrop, the target) into the
        frame's and the segmentation's starting canvas, so a step only adds the agent."""
        look = skins.episode_look(self._skin, self._skin_seed)
        self.hue = look.hue_shift  # the objects' hue turn in this episode (collect records it)
        self._target_colour, self._agent_colour = (
            look.object_colour(TARGET),
            look.object_colour(AGENT),
        )
        self._scene, distractor = skins.backdrop(self._skin, self._background, self._skin_seed)
        self._seg_scene = distractor * np.uint8(self.DISTRACTOR_CLASS)
        centre, radius = self._to_pixels(self._target), max(self.success_radius * self.size, 3.0)
        hole = self.TARGET_SHAPES[self.target_shape] * radius
        fill_circle(self._scene, *centre, radius, self._target_colour, hole)
        fill_circle(self._seg_scene, *centre, radius, self.TARGET_CLASS, hole)

    def _to_pixels(self, point: np.ndarray) -> tuple[float, float]:
        return float(point[0]) * self.size, (1.0 - float(point[1])) * self.size

    def _draw(self) -> np.ndarray:
        frame = self._scene.copy()  # a fresh array each step: returned observations never alias
        fill_circle(frame, *self._to_pixels(self._pos), self._agent_radius, self._agent_colour)
        return frame

    @property
    def _agent_radius(self) -> float:
        return max(self.AGENT_RADIUS * self.size, 3.0)

    def _info(self) -> dict[str, Any]:
        distance = float(np.linalg.norm(self._pos - self._target))
        return {
            "state": self.state,
            "distance": distance,
            "success": distance < self.success_radius,
            "position": self._pos.astype(np.float32),
            "velocity": self._vel.astype(np.float32),
            "target": self._target.astype(np.float32),
        }

    @staticmethod
    def _make_background(size: int) -> np.ndarray:
        """Dark canvas with a faint quarter grid, so absolute position is readable."""
        canvas = np.empty((size, size, 3), np.uint8)
        canvas[:] = BACKGROUND
        for k in range(1, 4):
            line = int(round(k * size / 4))
            canvas[line, :] = GRID
            canvas[:, line] = GRID
        return canvas
