"""A look's clutter written into the segmentation control, where the simulator would put it.

A skin with ``distractors`` strews static shapes over the floor, placed at random per
episode. The control maps of a flat episode hold none, so a model steered by them draws
none either: re-rendered in ``distractors``, flat ``reach`` episodes kept a style distance
of 0.90 to the simulator's renders, where two sets of those renders sit 0.14 apart
(docs/transfer.md). Its seg branch did learn the ``distractor`` class, though. So the
data engine draws a layout as the simulator does (``skins.backdrop`` with the episode's
skin seed) and writes that class into the segmentation wherever it shows the
background; the objects stay on top, as the simulator draws them. The re-rendered
episode's recorded ``seg`` (and ``depth``, one drawing layer per class) then match its
new frames.

Only worlds whose backdrop is fixed to the frame take a layout: the platformer's scrolls
with its camera, so a layout fixed to the frame would be wrong there.
"""

from __future__ import annotations

import importlib

import numpy as np

from worldlab.worlds import BUILTIN_WORLDS
from worldlab.worlds.skins import backdrop, get_skin

DISTRACTOR, BACKGROUND = "distractor", "background"
SCROLLING_WORLDS = ("platformer",)  # backdrops that move with a camera


def has_clutter(style: str) -> bool:
    """Whether ``style`` strews distractor shapes."""
    return bool(get_skin(style).distractors)


def clutter_layout(style: str, size: tuple[int, int], seed: int) -> np.ndarray:
    """``[H, W] bool``: the pixels ``style``'s distractors cover in the episode whose skin
    seed is ``seed``, exactly as the simulator lays them out (all False without any)."""
    height, width = size
    _, mask = backdrop(get_skin(style), np.zeros((height, width, 3), np.uint8), seed)
    return mask


def world_layers(env_id: str) -> np.ndarray | None:
    """The drawing layer per segmentation class (``SEGMENT_DEPTH``) of the built-in world
    ``env_id`` when its backdrop is fixed to the frame and has a distractor class, else
    ``None``: no layout can be placed in its episodes."""
    for name, (world_id, entry_point, _) in BUILTIN_WORLDS.items():
        if world_id == env_id and name not in SCROLLING_WORLDS:
            module, _, attribute = entry_point.partition(":")
            world = getattr(importlib.import_module(module), attribute)
            if DISTRACTOR in world.SEGMENT_CLASSES:
                return np.asarray(world.SEGMENT_DEPTH)
    return None


def place_clutter(
    seg: np.ndarray,
    layout: np.ndarray,
    seg_classes: list[str],
    layers: np.ndarray,
    depth: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """``seg [T, H, W]`` with ``layout [H, W]`` drawn as the distractor class wherever a
    frame shows the background, and ``depth`` (if given) at that class's drawing layer
    there (``layers``: one per class, as ``world_layers`` gives). Returns new arrays."""
    distractor, background = seg_classes.index(DISTRACTOR), seg_classes.index(BACKGROUND)
    where = layout[None] & (seg == background)
    out = seg.copy()
    out[where] = distractor
    if depth is None:
        return out, None
    depth_out = depth.copy()
    depth_out[where] = layers[distractor]
    return out, depth_out


def layout_of(seg: np.ndarray, seg_classes: list[str]) -> np.ndarray:
    """``[H, W] bool``: the pixels an episode's ``seg [T, H, W]`` shows as distractor in any
    frame, its own layout (to re-render other episodes with the clutter where it stood)."""
    return (np.asarray(seg) == seg_classes.index(DISTRACTOR)).any(0)


def with_clutter(
    maps: dict[str, np.ndarray],
    layouts: list[np.ndarray],
    seg_classes: list[str],
    layers: np.ndarray,
) -> dict[str, np.ndarray]:
    """Batched ``maps`` (``seg [B, T, H, W]``, maybe ``depth``) with one layout per
    episode placed (``place_clutter``). Returns new maps."""
    seg, depth = maps["seg"], maps.get("depth")
    placed = [
        place_clutter(seg[i], layouts[i], seg_classes, layers, None if depth is None else depth[i])
        for i in range(len(seg))
    ]
    out = {**maps, "seg": np.stack([s for s, _ in placed])}
    if depth is not None:
        out["depth"] = np.stack([d for _, d in placed])
    return out


def placed_maps(
    maps: dict[str, np.ndarray] | None,
    style: str,
    env_id: str,
    seg_classes: list[str],
    seed: int = 0,
    references: np.ndarray | None = None,
) -> tuple[dict[str, np.ndarray] | None, bool]:
    """Batched recorded ``maps`` of ``env_id`` episodes with ``style``'s clutter placed:
    where ``references`` (their ``seg [B, T, H, W]``, the same episodes drawn in ``style``)
    have it, else laid out from skin seeds ``seed``, ``seed + 1``, …. Returns the maps and
    whether clutter was placed (not for a style without any, maps without ``seg``, or a
    world that takes none)."""
    if not maps or "seg" not in maps or not has_clutter(style):
        return maps, False
    layers = world_layers(env_id)
    if layers is None:
        return maps, False
    if references is not None:
        layouts = [layout_of(seg, seg_classes) for seg in references]
    else:
        size = maps["seg"].shape[-2:]
        layouts = [clutter_layout(style, size, seed + i) for i in range(len(maps["seg"]))]
    return with_clutter(maps, layouts, seg_classes, layers), True
