"""Exploration policies for collecting data: ``(obs, action space) → action``.

All of them draw from the action space's generator, which ``collect`` and the online
loop re-seed at every episode start; that is also how a policy with memory notices a
new episode, so episode ``i`` stays a function of its own seed.

- ``random``: a uniform draw every step (white noise).
- ``sticky``: the previous action is kept with probability 0.75, else redrawn, so an
  action lasts long enough to show in the frames, as a person's would (Genie's video).
- ``brownian``: continuous actions drift as a clipped random walk; a body with inertia
  then reaches the speeds a planner will ask of it, which white noise never does
  (ctallec/world-models' "brownian" data). Discrete actions are sticky.
- ``expert``: a scripted expert that reads the world's true state
  (``worldlab.worlds.experts``: the platformer and reach have one), for expert video.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium
import numpy as np

from worldlab.errors import DatasetError

Policy = Callable[[np.ndarray, gymnasium.Space], Any]
POLICIES = ("random", "sticky", "brownian", "expert")


def random_policy(obs: np.ndarray, space: gymnasium.Space) -> Any:
    return space.sample()


class _EpisodeMemory:
    """Holds the last action and forgets it when the space is re-seeded (a new episode)."""

    def __init__(self) -> None:
        self._rng: Any = None
        self._action: Any = None

    def _new_episode(self, space: gymnasium.Space) -> bool:
        if space.np_random is self._rng:
            return False
        self._rng, self._action = space.np_random, space.sample()
        return True


class StickyRandomPolicy(_EpisodeMemory):
    """Keep the previous action with probability ``repeat``, else draw a uniform one
    (holds of about ``1 / (1 - repeat)`` steps)."""

    def __init__(self, repeat: float = 0.75):
        super().__init__()
        self.repeat = repeat

    def __call__(self, obs: np.ndarray, space: gymnasium.Space) -> Any:
        if not self._new_episode(space) and space.np_random.random() >= self.repeat:
            self._action = space.sample()
        return self._action


class BrownianPolicy(_EpisodeMemory):
    """Continuous actions follow ``a_t = clip(a_{t-1} + N(0, step²))``; discrete ones are
    redrawn with probability ``step``."""

    def __init__(self, step: float = 0.3):
        super().__init__()
        self.step = step

    def __call__(self, obs: np.ndarray, space: gymnasium.Space) -> Any:
        if self._new_episode(space):
            return self._action
        rng = space.np_random
        if isinstance(space, gymnasium.spaces.Discrete):
            if rng.random() < self.step:
                self._action = space.sample()
        else:
            noise = rng.normal(0.0, self.step, space.shape)
            self._action = np.clip(self._action + noise, space.low, space.high).astype(space.dtype)
        return self._action


def make_policy(name: str, env: gymnasium.Env | None = None) -> Policy:
    """The policy called ``name`` (one of ``POLICIES``); ``expert`` plays ``env``."""
    if name == "random":
        return random_policy
    if name == "sticky":
        return StickyRandomPolicy()
    if name == "brownian":
        return BrownianPolicy()
    if name == "expert":
        if env is None:
            raise DatasetError("the expert policy reads the world it plays; collect with it")
        from worldlab.worlds.experts import make_expert

        expert = make_expert(env.unwrapped.spec.id if env.unwrapped.spec else "")
        return lambda obs, space: expert(env)
    raise DatasetError(f"unknown policy '{name}': choose one of {', '.join(POLICIES)}")
