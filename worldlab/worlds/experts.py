"""Scripted experts: players that read a world's true state and play it well.

Their episodes, recorded without actions (``worldlab collect --policy expert
--drop-actions``), are the expert video that behaviour is learned from
(``worldlab agent train latent-bc``); with actions, they are the oracle's labels.

- ``platformer``: runs right and jumps before ledges and walls and onto low platforms
  (their coins), pressing jump only when it takes effect, so a label names what made
  the motion (in the air the button changes nothing). Before committing to
  a move it tries it ahead with the world's own physics (``PlatformerEnv.advance``,
  undone with ``restore``), followed by its own rule, and takes another move if the
  character would fall into a gap within ``horizon`` steps. Over 200 generated levels of
  150 steps: 7.8 coins, no falls, never stuck (running right alone falls in every level;
  uniform random actions collect 0.02 coins).
- ``reach``: a PD controller on the true state, ``clip(kp · (target − position) − kd ·
  velocity, −1, 1)``, a float32 force ``(2,)``. Over 50 seeded episodes of 50 steps
  (seeds 0–49): at the target at the end of all 50, first there after 11.5 steps
  (median; 15 at most), never leaving it; uniform random actions end at the target in
  none of the same 50 (measured in ``tests/worlds/test_experts.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium
import numpy as np

from worldlab.errors import WorldlabError
from worldlab.worlds.platformer import EMPTY, GROUND_TOP, PLATFORM, SOLID, PlatformerEnv
from worldlab.worlds.reach import ReachEnv

# An expert: the world (reset, about to step) → the action to take (an int for discrete
# actions, a float32 array for continuous ones).
Expert = Callable[[gymnasium.Env], Any]

RIGHT, RIGHT_JUMP, NOOP = 2, 5, 0
LOW_PLATFORM_ROW = 4  # the tiles whose tops are at y = 5


class PlatformerExpert:
    """Run right, jump at ledges, walls and low platforms, never into a fall."""

    def __init__(self, horizon: int = 40, jump_delays: tuple[int, ...] = (2, 4, 6, 8, 10, 14, 18)):
        self.horizon = horizon
        self.jump_delays = jump_delays

    def __call__(self, env: gymnasium.Env) -> int:
        world = env.unwrapped
        if not isinstance(world, PlatformerEnv):
            raise WorldlabError(f"the platformer expert plays the platformer, not {world!r}")
        x, y, _, _, on_ground = world.state[:5]
        if not on_ground:
            return RIGHT  # in the air the jump button does nothing, so it is not pressed
        preferred = self.rule(world, float(x), float(y))
        for action in (preferred, RIGHT + RIGHT_JUMP - preferred, NOOP):
            if self.survives(world, action):
                return action
        return preferred

    @staticmethod
    def rule(world: PlatformerEnv, x: float, y: float) -> int:
        """Jump when the ground ends just ahead, a wall is in the way, or a low platform
        starts just ahead of a character on the ground; else run."""
        row = int(round(y)) - 1  # the row the feet stand on
        front = x + world.WIDTH / 2
        ledge = world.tile(int(np.floor(front + 0.4)), row) == EMPTY
        body_rows = range(int(np.floor(y)), int(np.floor(y + world.HEIGHT)) + 1)
        wall = any(world.tile(int(np.floor(front + 0.3)), r) == SOLID for r in body_rows)
        ahead = (int(np.floor(front + 0.5)), int(np.floor(front + 1.0)))
        platform = (
            row == GROUND_TOP - 1
            and any(world.tile(col, LOW_PLATFORM_ROW) == PLATFORM for col in ahead)
            and world.tile(int(np.floor(x)), LOW_PLATFORM_ROW) != PLATFORM
        )
        return RIGHT_JUMP if ledge or wall or platform else RIGHT

    def survives(self, world: PlatformerEnv, action: int) -> bool:
        """Whether ``action``, then the rule (from the next step, or after running for a
        few steps and jumping), keeps the character out of the gaps for ``horizon`` steps."""
        for delay in (None, *self.jump_delays):
            opening = [action] + ([] if delay is None else [RIGHT] * delay + [RIGHT_JUMP])
            snapshot = world.snapshot()
            try:
                fell = self._falls(world, opening)
            finally:
                world.restore(snapshot)
            if not fell:
                return True
        return False

    def _falls(self, world: PlatformerEnv, opening: list[int]) -> bool:
        for step in range(self.horizon):
            if step < len(opening):
                action = opening[step]
            else:
                x, y, _, _, on_ground = world.state[:5]
                action = self.rule(world, float(x), float(y)) if on_ground else RIGHT
            if world.advance(action)[1]:
                return True
        return False


class ReachExpert:
    """Push toward the target, braked by the velocity: a PD controller on the true state.

    ``kp`` = 20 saturates the force until the mass is about 0.05 from the target; ``kd`` = 5
    brakes the approach (over 200 episodes, the slowest arrives in 17 steps; 27 without
    braking)."""

    def __init__(self, kp: float = 20.0, kd: float = 5.0):
        self.kp, self.kd = kp, kd

    def __call__(self, env: gymnasium.Env) -> np.ndarray:
        world = env.unwrapped
        if not isinstance(world, ReachEnv):
            raise WorldlabError(f"the reach expert plays reach, not {world!r}")
        x, y, vx, vy, target_x, target_y = world.state
        error = np.array([target_x - x, target_y - y])
        force = self.kp * error - self.kd * np.array([vx, vy])
        return np.clip(force, -1.0, 1.0).astype(np.float32)


EXPERTS: dict[str, Callable[[], Expert]] = {
    "worldlab/Platformer-v0": PlatformerExpert,
    "worldlab/Reach-v0": ReachExpert,
}


def make_expert(env_id: str) -> Expert:
    """A fresh expert for the world ``env_id`` (a worldlab id)."""
    if env_id not in EXPERTS:
        names = ", ".join(EXPERTS)
        raise WorldlabError(
            f"no scripted expert plays {env_id}; experts exist for {names}. For another "
            "world, import recorded expert video with `worldlab data import-video`"
        )
    return EXPERTS[env_id]()
