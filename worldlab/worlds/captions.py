"""Captions made from ground truth: what an episode of a built-in world shows, in words.

``describe(env, arrays)`` reads a just-collected episode (its arrays, and the world that
played it, still holding that episode's level or settings) and returns the structured
attributes with a ``caption`` made from them, or ``None`` for a world without a
describer. ``collect`` stores them beside the episodes (``captions.json``; see
docs/data-format.md); prompted generation and its adherence scores read them back.

- ``bounce``: ball count; each ball's colour name, size (small / medium / large: thirds
  of the world's radius range) and whether it starts fast (the top third of the speed
  range); gravity (none / weak / normal / strong); the occluder. "three balls: a small
  red one, a large blue one and a medium green one; strong gravity; one fast; an
  occluder".
- ``platformer``: the gaps, floating platforms and coins of the level. "a level with 7
  gaps, 5 floating platforms and 31 coins".
"""

from __future__ import annotations

import colorsys
from collections.abc import Callable
from typing import Any

import gymnasium
import numpy as np

NUMBERS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
HUES = (  # upper hue bound in degrees → name
    (15, "red"),
    (45, "orange"),
    (70, "yellow"),
    (165, "green"),
    (200, "cyan"),
    (255, "blue"),
    (290, "purple"),
    (345, "pink"),
    (360, "red"),
)


def number(count: int) -> str:
    return NUMBERS[count] if 0 <= count < len(NUMBERS) else str(count)


def counted(count: int, noun: str) -> str:
    """``counted(1, "gap")`` → "one gap", ``counted(7, "gap")`` → "seven gaps"."""
    return f"{number(count)} {noun}{'' if count == 1 else 's'}"


def colour_name(rgb: Any) -> str:
    """The name of an RGB colour (floats in [0, 1]): a hue name, or white/grey/black."""
    hue, saturation, value = colorsys.rgb_to_hsv(*(float(c) for c in rgb))
    if saturation < 0.25:
        return "white" if value > 0.8 else "black" if value < 0.2 else "grey"
    degrees = hue * 360
    return next(name for bound, name in HUES if degrees < bound)


def _third(value: float, lo: float, hi: float, words: tuple[str, str, str]) -> str:
    if hi <= lo:
        return words[1]
    position = (value - lo) / (hi - lo)
    return words[0] if position < 1 / 3 else words[2] if position > 2 / 3 else words[1]


def gravity_word(gravity: float) -> str:
    if gravity <= 0:
        return "no"
    return "weak" if gravity < 0.75 else "strong" if gravity > 1.5 else "normal"


def _join(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def describe_bounce(env: gymnasium.Env, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    world = env.unwrapped
    balls = arrays["state"][0].reshape(-1, 8)  # per ball [x, y, vx, vy, r, r, g, b]
    radius_lo = min(lo for lo, _ in world._radius_ranges)
    radius_hi = max(hi for _, hi in world._radius_ranges)
    speed_lo = min(lo for lo, _ in world._speed_ranges)
    speed_hi = max(hi for _, hi in world._speed_ranges)
    speeds = np.hypot(balls[:, 2], balls[:, 3])
    sizes = [_third(r, radius_lo, radius_hi, ("small", "medium", "large")) for r in balls[:, 4]]
    fast = [_third(s, speed_lo, speed_hi, ("slow", "medium", "fast")) == "fast" for s in speeds]
    attributes = {
        "balls": len(balls),
        "colours": [colour_name(rgb) for rgb in balls[:, 5:8]],
        "sizes": sizes,
        "radii": [round(float(r), 4) for r in balls[:, 4]],
        "speeds": [round(float(s), 4) for s in speeds],
        "fast": int(sum(fast)),
        "gravity": round(float(world.gravity), 4),
        "gravity_word": gravity_word(world.gravity),
        "occluder": world.occluder is not None,
    }
    each = [
        f"a {size} {colour} one" for size, colour in zip(sizes, attributes["colours"], strict=True)
    ]
    parts = [
        f"{counted(len(balls), 'ball')}: {_join(each)}",
        f"{attributes['gravity_word']} gravity",
    ]
    if attributes["fast"]:
        parts.append(f"{number(attributes['fast'])} fast")
    if attributes["occluder"]:
        parts.append("an occluder")
    attributes["caption"] = "; ".join(parts)
    return attributes


def _runs(mask: np.ndarray) -> int:
    """How many runs of True a 1-D mask holds."""
    mask = np.asarray(mask, bool)
    return int(np.count_nonzero(mask[1:] & ~mask[:-1]) + bool(mask[:1].any()))


def describe_platformer(env: gymnasium.Env, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    from worldlab.worlds.platformer import PLATFORM, SOLID

    world = env.unwrapped
    ground = (world.tiles[:2] == SOLID).any(0)
    platforms = sum(_runs(row == PLATFORM) for row in world.tiles)
    attributes = {
        "gaps": _runs(~ground),
        "platforms": platforms,
        "coins": len(world.coin_positions),
        "width": int(world.tiles.shape[1]),
    }
    attributes["caption"] = (
        f"a level with {counted(attributes['gaps'], 'gap')}, "
        f"{counted(platforms, 'floating platform')} and {counted(attributes['coins'], 'coin')}"
    )
    return attributes


DESCRIBERS: dict[str, Callable[[gymnasium.Env, dict], dict[str, Any]]] = {
    "worldlab/Bounce-v0": describe_bounce,
    "worldlab/Platformer-v0": describe_platformer,
}


def describe(env: gymnasium.Env, arrays: dict[str, np.ndarray]) -> dict[str, Any] | None:
    """Attributes and ``caption`` of the episode ``env`` just played, or None."""
    spec = env.unwrapped.spec
    describer = DESCRIBERS.get(spec.id if spec is not None else "")
    return None if describer is None else describer(env, arrays)
