"""Make any world observe ``[size, size, 3] uint8`` frames.

Built-in worlds render at any size themselves. Every other Gymnasium id is
wrapped: its ``render()`` (or, for MinAtar, its boolean channels) becomes the
observation, resized to ``size``; the original vector observation, when there
is one, is kept as ground truth in ``info["state"]``.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

import gymnasium
import numpy as np
from PIL import Image

from worldlab.errors import MissingExtraError, UnknownWorldError

# Suite → (module to import, extra to install, example id).
SUITES = {
    "classic": ("gymnasium", None, "CartPole-v1"),
    "box2d": ("Box2D", "box2d", "CarRacing-v3"),
    "atari": ("ale_py", "atari", "ALE/Pong-v5"),
    "minatar": ("minatar", "minatar", "MinAtar/Breakout-v1"),
}

# MinAtar channels are drawn with fixed, distinguishable colours.
_MINATAR_PALETTE = np.array(
    [
        [230, 25, 75],
        [60, 180, 75],
        [255, 225, 25],
        [0, 130, 200],
        [245, 130, 48],
        [145, 30, 180],
        [70, 240, 240],
        [240, 50, 230],
        [210, 245, 60],
        [250, 190, 190],
    ],
    dtype=np.uint8,
)


def resolve_env_id(name: str) -> str:
    """Map a short name (``bounce``) to its Gymnasium id; other names pass through."""
    from worldlab.worlds import BUILTIN_WORLDS

    if name in BUILTIN_WORLDS:
        return BUILTIN_WORLDS[name][0]
    return name


def suites_status() -> dict[str, bool]:
    """Which optional suites are importable here."""
    return {
        suite: importlib.util.find_spec(module) is not None
        for suite, (module, _, _) in SUITES.items()
    }


def _require(suite: str, env_id: str):
    module, extra, _ = SUITES[suite]
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise MissingExtraError(
            f"'{env_id}' needs the {suite} suite, which is not installed ({error}). "
            f"Install it with: pip install 'worldlab[{extra}]'"
        ) from None


def make_env(name: str, size: int = 64, **kwargs: Any) -> gymnasium.Env:
    """Create a world whose observations are ``[size, size, 3] uint8`` frames.

    ``name`` is a short name (``bounce``, ``reach``, ``platformer``), a worldlab
    id, an Atari id (``ALE/Pong-v5``), a MinAtar id (``MinAtar/Breakout-v1``) or
    any Gymnasium id that supports ``render_mode="rgb_array"``. Extra keyword
    arguments go to the environment's constructor.
    """
    env_id = resolve_env_id(name)
    if env_id.startswith("worldlab/"):
        return _gym_make(env_id, size=size, **kwargs)
    if env_id.startswith("ALE/"):
        gymnasium.register_envs(_require("atari", env_id))
        # v5 ids already use the customary frame skip of 4 and sticky actions.
        return PixelObservation(_gym_make(env_id, **kwargs), size, source="obs")
    if env_id.startswith("MinAtar/"):
        _require("minatar", env_id)
        if env_id not in gymnasium.registry:  # register once: re-registering warns
            importlib.import_module("minatar.gym").register_envs()
        return MinAtarPixels(_gym_make(env_id, **kwargs), size)
    return PixelObservation(
        _gym_make(env_id, render_mode="rgb_array", **kwargs), size, source="render"
    )


def _gym_make(env_id: str, **kwargs: Any) -> gymnasium.Env:
    try:
        return gymnasium.make(env_id, **kwargs)
    except gymnasium.error.DependencyNotInstalled as error:
        extra = "box2d" if "box2d" in str(error).lower() else None
        hint = f"pip install 'worldlab[{extra}]'" if extra else "install the package it names"
        raise MissingExtraError(
            f"'{env_id}' needs a package that is not installed: {error}. Install it with: {hint}"
        ) from None
    except (
        gymnasium.error.NameNotFound,
        gymnasium.error.NamespaceNotFound,
        gymnasium.error.VersionNotFound,
        gymnasium.error.Error,
    ) as error:
        from worldlab.worlds import BUILTIN_WORLDS

        raise UnknownWorldError(
            f"unknown environment '{env_id}' ({error}). Built-in worlds: "
            f"{', '.join(BUILTIN_WORLDS)}; or any installed Gymnasium id such as CartPole-v1. "
            "Run `worldlab envs` to see what is available."
        ) from None


def resize_frame(frame: np.ndarray, size: int) -> np.ndarray:
    """Resize ``[H, W, 3] uint8`` to ``[size, size, 3]``: area-average down, bilinear up."""
    if frame.shape[0] == size and frame.shape[1] == size:
        return np.ascontiguousarray(frame)
    shrinking = frame.shape[0] > size or frame.shape[1] > size
    method = Image.Resampling.BOX if shrinking else Image.Resampling.BILINEAR
    return np.asarray(Image.fromarray(frame).resize((size, size), method))


class PixelObservation(gymnasium.Wrapper):
    """Observe resized RGB frames; keep a vector observation as ``info["state"]``."""

    def __init__(self, env: gymnasium.Env, size: int, source: str):
        super().__init__(env)
        self.size, self.source = size, source
        self.observation_space = gymnasium.spaces.Box(0, 255, (size, size, 3), np.uint8)
        inner = env.observation_space
        self._has_state = isinstance(inner, gymnasium.spaces.Box) and len(inner.shape) == 1

    def _frame(self, obs) -> np.ndarray:
        frame = obs if self.source == "obs" else self.env.render()
        self._last = resize_frame(np.asarray(frame, dtype=np.uint8), self.size)
        return self._last

    def _info(self, obs, info: dict) -> dict:
        if self._has_state:
            info = dict(info, state=np.asarray(obs, dtype=np.float32))
        return info

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        return self._frame(obs), self._info(obs, info)

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        return self._frame(obs), reward, terminated, truncated, self._info(obs, info)

    def render(self):
        return self._last.copy()


class MinAtarPixels(gymnasium.ObservationWrapper):
    """Draw MinAtar's ``[10, 10, C]`` boolean channels as coloured ``[size, size, 3]`` frames."""

    def __init__(self, env: gymnasium.Env, size: int):
        super().__init__(env)
        self.size = size
        self.observation_space = gymnasium.spaces.Box(0, 255, (size, size, 3), np.uint8)

    def observation(self, observation) -> np.ndarray:
        channels = np.asarray(observation, dtype=bool)
        palette = _MINATAR_PALETTE[np.arange(channels.shape[-1]) % len(_MINATAR_PALETTE)]
        # Where channels overlap, the highest channel index wins (drawn last).
        last_on = channels.shape[-1] - 1 - np.argmax(channels[..., ::-1], -1)
        index = np.where(channels.any(-1), last_on, -1)
        grid = np.where(index[..., None] >= 0, palette[np.maximum(index, 0)], 0).astype(np.uint8)
        self._last = resize_frame_nearest(grid, self.size)
        return self._last

    def render(self):
        return self._last.copy()


def resize_frame_nearest(frame: np.ndarray, size: int) -> np.ndarray:
    """Nearest-neighbour resize, for grid worlds whose cells must stay crisp."""
    rows = (np.arange(size) * frame.shape[0]) // size
    cols = (np.arange(size) * frame.shape[1]) // size
    return np.ascontiguousarray(frame[rows][:, cols])
