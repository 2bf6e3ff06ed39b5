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
"""

from __future__ import annotations

from collections.abc import Callable

import gymnasium
import numpy as np

from worldlab.errors import WorldlabError
from worldlab.worlds.platformer import EMPTY, GROUND_TOP, PLATFORM, SOLID, PlatformerEnv

# An expert: the world (reset, about to step) → the action to take.
Expert = Callable[[gymnasium.Env], int]

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


EXPERTS: dict[str, Callable[[], Expert]] = {"worldlab/Platformer-v0": PlatformerExpert}


def make_expert(env_id: str) -> Expert:
    """A fresh expert for the world ``env_id`` (a worldlab id)."""
    if env_id not in EXPERTS:
        names = ", ".join(EXPERTS)
        raise WorldlabError(
            f"no scripted expert plays {env_id}; experts exist for {names}. For another "
            "world, import recorded expert video with `worldlab data import-video`"
        )
    return EXPERTS[env_id]()
