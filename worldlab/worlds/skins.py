"""Skins: how a built-in world is drawn, never how it moves.

A skin swaps the background (a pattern, lighting), recolours the objects and may scatter
static distractor shapes that are not objects of the world. For the same seed and actions,
states and rewards are identical under every skin; ``flat`` draws each world exactly as
it always looked. Data re-rendered in several styles (Cosmos-Transfer-style generation
from control maps) trains a policy on ``TRAIN_SKINS``; ``HELD_OUT_SKINS`` look unlike
all of them and only test whether it generalises to unseen styles.

``SKINS`` is ordered and append only: a skin's id (``skin_id``, stored per step in
datasets as ``style``) is its position and must never change.

Worlds with skins (``skin="..."``, ``set_skin``, ``controls()``): ``SKINNED_WORLDS``.

A mixed look, ``"SCENE/OBJECTS"`` (e.g. ``"noise/flat"``), draws the background and
distractors of skin SCENE with the object colours of skin OBJECTS. It probes which half of
a look a policy fails on; it has no id, so worlds draw it but datasets cannot record it.

Skin randomness (pattern offsets, noise, distractor placement) comes from ``skin_rng``,
and a ``hue_spread`` skin's per-episode hue turn from ``episode_look``; both are seeded
from the episode's reset seed and never from the world's ``np_random``, so drawing cannot
shift the physics' random stream.
"""

from __future__ import annotations

import colorsys
import zlib
from dataclasses import dataclass, replace

import numpy as np

from worldlab.errors import WorldlabError
from worldlab.worlds._draw import fill_circle, fill_rect

RGB = tuple[int, int, int]

SKINNED_WORLDS = ("bounce", "platformer", "reach")


@dataclass(frozen=True)
class Skin:
    """One look. Object colours are the world's own, edited in HSV, then lit by ``tint``."""

    pattern: str = "world"  # background: "world" (the world's own) or a key of PATTERNS
    colours: tuple[RGB, RGB] = ((0, 0, 0), (0, 0, 0))  # the pattern blends these two
    period: float = 0.25  # the pattern repeats this often, as a fraction of the frame side
    vignette: float = 0.0  # the background's corners are this much darker than its centre
    hue_shift: float = 0.0  # objects: turns of the colour wheel (~0.5 swaps red and cyan)
    hue_spread: float = 0.0  # objects: each episode turns a further uniform [0, this) turns
    saturation: float = 1.0  # objects: saturation × this, at most 1
    brightness: float = 1.0  # objects: value × this, at most 1
    tint: tuple[float, float, float] = (1.0, 1.0, 1.0)  # objects: light colour per channel
    distractors: int = 0  # static shapes on the floor that are not objects of the world

    def object_colour(self, rgb) -> RGB:
        """The colour an object of colour ``rgb`` (0–255) is drawn in under this skin."""
        hue, saturation, value = colorsys.rgb_to_hsv(*(float(c) / 255.0 for c in rgb))
        edited = colorsys.hsv_to_rgb(
            (hue + self.hue_shift) % 1.0,
            min(saturation * self.saturation, 1.0),
            min(value * self.brightness, 1.0),
        )
        return tuple(
            int(round(255.0 * min(c * t, 1.0))) for c, t in zip(edited, self.tint, strict=True)
        )


# fmt: off
SKINS: dict[str, Skin] = {  # append only: ids are positions, stored in datasets
    "flat": Skin(),
    "checker": Skin("checker", ((72, 86, 112), (40, 50, 70)), hue_shift=0.25),
    "dusk": Skin("gradient", ((150, 84, 60), (40, 24, 56)), vignette=0.6,  # warm, dim light
                 brightness=0.85, tint=(1.0, 0.8, 0.55)),
    "pastel": Skin("plain", ((236, 228, 214), (236, 228, 214)), saturation=0.5),
    "distractors": Skin(distractors=6),
    "noise": Skin("noise", ((44, 64, 30), (120, 136, 80)), hue_shift=0.88),
    "stripes": Skin("stripes", ((124, 46, 86), (66, 24, 58)), period=1 / 6, hue_shift=0.12),
    "night": Skin("grid", ((6, 4, 18), (110, 24, 150)), period=1 / 6,  # neon objects
                  saturation=1.6, brightness=1.3),
    # Object hues drawn anew each episode from the whole wheel, so that training data varies
    # hue apart from the scene (reach's agent and target differ only in hue, by half a turn).
    "sand": Skin("gradient", ((176, 156, 116), (116, 96, 66)), hue_spread=1.0),
    "slate": Skin(brightness=0.9, hue_spread=1.0),
    "forest": Skin("gradient", ((20, 58, 34), (8, 26, 16)), vignette=0.3, hue_spread=1.0),
}
# fmt: on
SKIN_NAMES = tuple(SKINS)
TRAIN_SKINS = ("flat", "checker", "dusk", "pastel", "distractors", "sand", "slate", "forest")
HELD_OUT_SKINS = ("noise", "stripes", "night")  # new textures and palettes: test only

# Muted, so they read as clutter next to the worlds' saturated objects.
DISTRACTOR_COLOURS = ((120, 120, 50), (70, 110, 110), (130, 90, 60), (120, 110, 150), (99, 99, 99))
_SKIN_STREAM = 0x5C1E  # keeps skin_rng(seed) apart from the physics' np_random(seed)


def skin_id(name: str) -> int:
    """The stable id of skin ``name`` (its position in ``SKINS``)."""
    get_skin(name)
    if name not in SKIN_NAMES:
        raise WorldlabError(
            f"{name!r} is a mixed look (SCENE/OBJECTS) and has no id: play or evaluate in "
            f"it, but collect, transfer and augment with one of {', '.join(SKIN_NAMES)}"
        )
    return SKIN_NAMES.index(name)


def skin_name(index: int) -> str:
    """The name of the skin whose id is ``index``."""
    if not 0 <= int(index) < len(SKIN_NAMES):
        raise WorldlabError(f"unknown skin id {index}: ids run from 0 to {len(SKIN_NAMES) - 1}")
    return SKIN_NAMES[int(index)]


def get_skin(name: str) -> Skin:
    """The skin called ``name``, or the mixed look ``"SCENE/OBJECTS"``; an unknown name is
    an error that lists the valid ones."""
    if name.count("/") == 1:
        scene, objects = (get_skin(part) for part in name.split("/"))
        return replace(
            scene,
            hue_shift=objects.hue_shift,
            hue_spread=objects.hue_spread,
            saturation=objects.saturation,
            brightness=objects.brightness,
            tint=objects.tint,
        )
    if name not in SKINS:
        raise WorldlabError(
            f"unknown skin {name!r}: choose one of {', '.join(SKIN_NAMES)} "
            f"(train: {', '.join(TRAIN_SKINS)}; held out: {', '.join(HELD_OUT_SKINS)}), "
            "or mix two as SCENE/OBJECTS"
        )
    return SKINS[name]


def skin_rng(seed: int) -> np.random.Generator:
    """The skin's own generator for an episode reset with ``seed``. A plain
    ``default_rng(seed)`` would replay the physics' draws: distractors on the start."""
    return np.random.default_rng([int(seed), _SKIN_STREAM])


def episode_look(skin: Skin, seed: int) -> Skin:
    """``skin`` as drawn in the episode reset with ``seed``: its ``hue_spread`` spent on a
    hue turn of its own, from a stream apart from ``skin_rng``'s (which the backdrop uses)
    and apart per skin (two skins played with one seed turn by different amounts)."""
    if not skin.hue_spread:
        return skin
    own = zlib.crc32(repr(skin).encode())  # stable across processes, unlike hash()
    turn = np.random.default_rng([int(seed), _SKIN_STREAM, own]).uniform(0.0, skin.hue_spread)
    return replace(skin, hue_shift=(skin.hue_shift + float(turn)) % 1.0, hue_spread=0.0)


def fixed_hue(name: str) -> float | None:
    """The objects' hue turn under skin ``name``, or ``None`` where each episode draws
    its own (a ``hue_spread`` skin)."""
    skin = get_skin(name)
    return None if skin.hue_spread else skin.hue_shift


def backdrop(skin: Skin, world_background: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """One episode's background under ``skin``, built once and copied every frame.

    ``world_background``: ``[H, W, 3] uint8``, the world's own (used by ``pattern="world"``);
    the frame side is H. A wider one (a side-scroller's whole level) gets the pattern at
    the same scale and ``skin.distractors`` per H × H of its width.
    Returns ``rgb [H, W, 3] uint8`` (a new array) and ``distractor [H, W] bool``, the pixels
    that distractor shapes cover.
    """
    height, width = world_background.shape[:2]
    distractor = np.zeros((height, width), bool)
    if skin.pattern == "world" and not skin.distractors and not skin.vignette:
        return world_background.copy(), distractor  # flat: no generator, no float maths
    rng = skin_rng(seed)
    if skin.pattern == "world":
        rgb = world_background.astype(np.float32)
    else:
        period = max(skin.period * height, 2.0)
        blend = PATTERNS[skin.pattern]((height, width), period, rng)[..., None]
        low, high = (np.array(c, np.float32) for c in skin.colours)
        rgb = low + blend * (high - low)
    for _ in range(skin.distractors * max(round(width / height), 1)):
        _draw_distractor(rgb, distractor, rng)
    if skin.vignette:
        ys, xs = np.indices((height, width), dtype=np.float32) + 0.5
        ys, xs = ys / (height / 2) - 1, xs / (width / 2) - 1  # -1 … 1 across each side
        rgb *= (1.0 - skin.vignette * (xs * xs + ys * ys) / 2)[..., None]
    return np.round(rgb).clip(0, 255).astype(np.uint8), distractor


def _draw_distractor(rgb: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> None:
    height, width = rgb.shape[:2]
    half = max(rng.uniform(0.04, 0.09) * height, 1.5)
    cx, cy = rng.uniform(0, 1, size=2) * (width, height)
    colour = DISTRACTOR_COLOURS[rng.integers(len(DISTRACTOR_COLOURS))]
    if rng.random() < 0.5:
        fill_circle(rgb, cx, cy, half, colour)
        fill_circle(mask, cx, cy, half, True)
    else:
        fill_rect(rgb, cx - half, cy - half, cx + half, cy + half, colour)
        fill_rect(mask, cx - half, cy - half, cx + half, cy + half, True)


# Patterns: ((H, W), period in pixels, rng) → [H, W] float32 blend of colours[0] → [1].
Shape = tuple[int, int]


def _plain(shape: Shape, period: float, rng: np.random.Generator) -> np.ndarray:
    return np.zeros(shape, np.float32)


def _checker(shape: Shape, period: float, rng: np.random.Generator) -> np.ndarray:
    ys, xs = np.indices(shape) + rng.integers(0, int(period), size=2)[:, None, None]
    cell = period / 2
    return ((xs // cell + ys // cell) % 2).astype(np.float32)


def _stripes(shape: Shape, period: float, rng: np.random.Generator) -> np.ndarray:
    ys, xs = np.indices(shape)
    return (((xs + ys + rng.uniform(0, period)) % period) < period / 2).astype(np.float32)


def _noise(shape: Shape, period: float, rng: np.random.Generator) -> np.ndarray:
    return rng.random(shape, np.float32)  # speckle: a fresh one each episode


def _grid(shape: Shape, period: float, rng: np.random.Generator) -> np.ndarray:
    ys, xs = np.indices(shape) + rng.integers(0, int(period), size=2)[:, None, None]
    return ((xs % int(period) == 0) | (ys % int(period) == 0)).astype(np.float32)


def _gradient(shape: Shape, period: float, rng: np.random.Generator) -> np.ndarray:
    column = np.linspace(0.0, 1.0, shape[0], dtype=np.float32)[:, None]  # top → bottom
    return np.broadcast_to(column, shape)


PATTERNS = {
    "plain": _plain,
    "checker": _checker,
    "stripes": _stripes,
    "noise": _noise,
    "grid": _grid,
    "gradient": _gradient,
}
