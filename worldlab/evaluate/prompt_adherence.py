"""Prompt adherence on ``bounce``: read a generated world back into its caption's words.

A text-conditioned model ("text2world") makes a ``bounce`` world from a caption such as
"three balls: a small red one, …; strong gravity". Whether it did is read off the pixels
alone: the physics reader (``physics.reader``) needs the true colours from the state, a
generated world has none. ``read_scene`` turns one episode's frames into the describer's
attributes (``worldlab.worlds.captions.describe_bounce``: the same keys, words and
thresholds), ``score`` compares a reading with a caption's attributes and ``adherence``
averages over episodes, beside two chance baselines.

Reading, step by step (each choice made for model frames: blurry, off-colour, speckled):

1. Ball pixels are saturated or bright (HSV value ≥ ``VALUE_MIN`` and saturation ≥
   ``SATURATION_MIN``, or value ≥ ``WHITE_MIN``): the black background and the grey bar
   are neither, whatever the balls' colours, so no palette is needed.
2. Blobs are the 4-connected components of those pixels with at least ``min_pixels``
   pixels (smaller ones are noise specks). A blob's *core* is its pixels at least
   ``CORE_SHARE`` as bright as its brightest: on a blurred disc a contour near half the
   peak stays near the drawn edge, so the core's area and centroid are the disc's (just
   under half, as a small disc's rim pixels see under half of it through the blur).
3. ``balls``: the most common number of blobs per frame. Balls that touch merge and the
   bar hides balls for a while, so one frame undercounts; the mode over frames does not.
4. ``colours``: in the frames showing exactly that many blobs ("clean" frames), each
   blob's colour name (``colour_name`` of its mean core colour); the episode's colours are
   the most common multiset over clean frames. ``radii``, ``sizes``: per ball of that
   multiset (same-coloured balls ordered by area), the mean core area over the clean frames
   where no blob touches the bar, as ``√(area/π)/S`` world units, in the describer's thirds
   of ``radius_range``. A mean, not a median: over sub-pixel positions, the pixel count of
   a rasterised disc averages exactly ``π r²``.
5. ``gravity``: blobs of consecutive clean frames are linked into tracks by nearest
   predicted centroid. Every stretch of a few frames of a track that stays clear
   of the frame's edges, the bar and the other balls, where ``x`` fits a line and ``y`` a
   parabola within ``FIT_RMS_MAX`` pixels and the parabola stays inside the box, is a free
   flight: ``g = −2 c₂ / dt²`` (``c₂`` of ``y`` per frame², ``y`` up, box widths, so the
   world's units/s²). The median over stretches, read as "no" below ``NO_GRAVITY_BELOW``,
   else as the describer's ``gravity_word`` ("weak", "normal", "strong"). A bounce or a
   collision inside a stretch bends the fit out of tolerance, and the median shrugs off
   the few that slip through. The longest stretch of ``FLIGHT_FRAMES`` that finds any
   flight is used: longer fits see gravity better over pixel noise, shorter ones fit
   between the bounces of crowded or strong-gravity scenes.
6. ``occluder``: columns that are grey (a small max − min channel, a middle value) in
   most pixels of the episode; the widest run of them is the bar (or give ``occluder=``
   as ``bounce`` takes it). Its columns hold no ball (it is drawn in front of them), so
   they are left out of step 1, and a blob beside them is *clipped*: its size is read
   where it is not, and no flight is fitted to it.

Whatever cannot be read is None: no ball, no colours or sizes; no free flight, no
gravity. ``fast`` (the balls' initial speeds) is not read.
"""

from __future__ import annotations

import inspect
from collections import Counter
from typing import Any, NamedTuple

import numpy as np

from worldlab.errors import WorldlabError
from worldlab.evaluate.metrics import mean_ci
from worldlab.evaluate.physics.reader import _components, occluder_columns
from worldlab.worlds.bounce import BounceEnv
from worldlab.worlds.bounce_splits import parse_ranges
from worldlab.worlds.captions import _third, colour_name, gravity_word  # the describer's own

VALUE_MIN = 0.3  # HSV value below which a pixel is background (blurred rims included)
SATURATION_MIN = 0.25  # captions.colour_name's own line between a hue and white/grey
WHITE_MIN = 0.8  # an unsaturated pixel this bright is a white ball, not the grey bar
CORE_SHARE = 0.4  # of a blob's peak value: its core (module docstring, 2)
GREY_VALUES = (0.25, 0.75)  # the bar (128, 128, 128) is value 0.5, saturation 0 ...
GREY_CHROMA = 0.15  # ... and its max − min channel stays small in noise, even where dim
BAR_SHARE = 0.6  # share of a column's pixels over the episode that are grey on a bar
FLIGHT_FRAMES = (8, 6, 5)  # frames per free-flight fit, the longest that finds a flight
FIT_RMS_MAX = 0.35  # pixels: a worse line/parabola fit has a bounce or a collision in it
NO_GRAVITY_BELOW = 0.15  # units/s²: a reading this small is noise around no gravity
RADIUS_RANGE = inspect.signature(BounceEnv).parameters["radius_range"].default
ATTRIBUTES = ("count", "colours", "sizes", "gravity", "occluder")  # what score() returns


class Blob(NamedTuple):
    frame: int
    x: float  # world units, y up (pixel centres at (col + ½)/S, 1 − (row + ½)/S)
    y: float
    area: int  # core pixels
    colour: str  # colour_name of the mean core colour
    clipped: bool  # touches the bar's columns or the ones beside them: maybe cut by it
    clear: bool  # not clipped and at least a pixel away from the frame's edges


def read_scene(
    frames: np.ndarray,
    occluder: Any = "auto",
    radius_range: Any = RADIUS_RANGE,
    dt: float = BounceEnv.DT,
    min_pixels: int = 3,
) -> dict[str, Any]:
    """The caption attributes one generated ``bounce`` episode shows.

    ``frames: [T, S, S, 3] uint8``. ``occluder``: ``"auto"`` to find the bar in the
    frames, else ``bounce``'s argument (False, True or ``(x0, x1)``). ``radius_range``
    (``(lo, hi)`` or a union) and ``dt`` are the world's, as the prompted world was made
    with: they set the size thirds and the time between frames. Returns the describer's
    keys: ``balls`` (int), ``colours``, ``sizes``, ``radii`` (per ball; None without a
    ball), ``gravity`` (units/s²) and ``gravity_word`` (None without a free flight),
    ``occluder`` (bool).
    """
    frames = np.asarray(frames)
    shape = frames.shape
    if len(shape) != 4 or shape[0] == 0 or shape[-1] != 3 or shape[1] != shape[2]:
        raise WorldlabError(
            f"read_scene takes one episode's frames [T, S, S, 3] uint8 (T >= 1), got shape "
            f"{list(shape)}; pass the frames of one episode at a time"
        )
    if frames.dtype != np.uint8:
        raise WorldlabError(
            f"read_scene takes uint8 frames (0-255), got {frames.dtype}; convert floats in "
            "[0, 1] with (frames * 255).round().astype(np.uint8)"
        )
    size = frames.shape[1]
    rgb = frames.astype(np.float32) / 255.0
    value = rgb.max(-1)
    chroma = value - rgb.min(-1)
    saturation = chroma / np.maximum(value, 1e-6)
    bar = _find_bar(chroma, value) if occluder == "auto" else occluder_columns(size, occluder)
    lit = (value >= VALUE_MIN) & ((saturation >= SATURATION_MIN) | (value >= WHITE_MIN))
    if bar is not None:
        lit[:, :, bar[0] : bar[1]] = False  # drawn over the balls: a noisy grey, never a ball
    blobs = [_frame_blobs(t, lit[t], value[t], rgb[t], bar, min_pixels) for t in range(len(frames))]
    counts = Counter(len(found) for found in blobs)
    balls = max(counts, key=lambda n: (counts[n], n))  # ties: merging only ever undercounts
    reading = {"balls": balls, "colours": None, "sizes": None, "radii": None}
    reading |= {"gravity": None, "gravity_word": None, "occluder": bar is not None}
    clean = [len(found) == balls and balls > 0 for found in blobs]
    if balls == 0:
        return reading | {"colours": [], "sizes": [], "radii": []}
    reading |= _balls(blobs, clean, size, radius_range)
    gravity = _gravity(blobs, clean, size, dt)
    if gravity is not None:
        reading["gravity"] = round(gravity, 4)
        reading["gravity_word"] = "no" if gravity < NO_GRAVITY_BELOW else gravity_word(gravity)
    return reading


def _find_bar(chroma: np.ndarray, value: np.ndarray) -> tuple[int, int] | None:
    """The widest run of grey columns ``[c0, c1)`` (at least two), or None."""
    grey = (chroma < GREY_CHROMA) & (value >= GREY_VALUES[0]) & (value <= GREY_VALUES[1])
    columns = np.concatenate([[False], grey.mean((0, 1)) >= BAR_SHARE, [False]])
    starts = np.flatnonzero(columns[1:] & ~columns[:-1])
    ends = np.flatnonzero(~columns[1:] & columns[:-1])
    if len(starts) == 0:
        return None
    widest = int(np.argmax(ends - starts))
    if ends[widest] - starts[widest] < 2:
        return None
    return int(starts[widest]), int(ends[widest])


def _frame_blobs(
    frame: int, lit: np.ndarray, value: np.ndarray, rgb: np.ndarray, bar, min_pixels: int
) -> list[Blob]:
    """The blobs of frame ``frame`` (``[S, S]`` masks and values, ``[S, S, 3]`` colours)."""
    size = lit.shape[0]
    labels = _components(lit)
    keep = np.zeros(size, bool)
    keep[1:-1] = True  # rows/columns a pixel away from the frame's edges
    inner = keep[:, None] & keep[None, :]
    near_bar = np.zeros((size, size), bool)
    if bar is not None:
        near_bar[:, max(bar[0] - 1, 0) : bar[1] + 1] = True
    found = []
    for label in np.unique(labels[labels > 0]):
        blob = labels == label
        if blob.sum() < min_pixels:
            continue
        core = blob & (value >= CORE_SHARE * value[blob].max())
        rows, cols = np.nonzero(core)
        colour = colour_name(rgb[core].mean(0))
        x, y = (cols.mean() + 0.5) / size, 1.0 - (rows.mean() + 0.5) / size
        clipped = bool(near_bar[blob].any())
        found.append(
            Blob(frame, x, y, len(rows), colour, clipped, not clipped and bool(inner[blob].all()))
        )
    return found


def _balls(blobs: list[list[Blob]], clean: list[bool], size: int, radius_range) -> dict:
    """``colours``, ``radii`` and ``sizes`` from the clean frames (module docstring, 4)."""
    ranges = parse_ranges(radius_range, "radius_range")
    lo, hi = min(pair[0] for pair in ranges), max(pair[1] for pair in ranges)
    frames = [
        sorted(found, key=lambda b: (b.colour, b.area))
        for found, ok in zip(blobs, clean, strict=True)
        if ok
    ]
    multisets = Counter(tuple(b.colour for b in found) for found in frames)
    colours = max(multisets, key=multisets.get)
    frames = [found for found in frames if tuple(b.colour for b in found) == colours]
    unclipped = [found for found in frames if not any(b.clipped for b in found)]
    if unclipped:
        areas = np.array([[b.area for b in found] for found in unclipped], np.float64).mean(0)
    else:  # the bar cuts a ball in every frame: its largest piece is nearest the disc
        areas = np.array([[b.area for b in found] for found in frames], np.float64).max(0)
    radii = [float(np.sqrt(area / np.pi) / size) for area in areas]
    return {
        "colours": list(colours),
        "sizes": [_third(r, lo, hi, ("small", "medium", "large")) for r in radii],
        "radii": [round(r, 4) for r in radii],
    }


def _tracks(blobs: list[list[Blob]], clean: list[bool]) -> list[list[Blob]]:
    """Blobs of consecutive clean frames linked by nearest predicted centroid."""
    gate = 0.25  # world units per frame: faster than any ball the box lets gravity make
    tracks: list[list[Blob]] = []
    active: list[list[Blob]] = []
    for found, ok in zip(blobs, clean, strict=True):
        if not ok:
            active = []
            continue
        predicted = [
            (t[-1].x + (t[-1].x - t[-2].x), t[-1].y + (t[-1].y - t[-2].y)) if len(t) > 1
            else (t[-1].x, t[-1].y)
            for t in active
        ]  # fmt: skip
        pairs = sorted(
            (np.hypot(px - b.x, py - b.y), i, j)
            for i, (px, py) in enumerate(predicted)
            for j, b in enumerate(found)
        )
        taken_tracks, taken_blobs, linked = set(), set(), []
        for distance, i, j in pairs:
            if distance <= gate and i not in taken_tracks and j not in taken_blobs:
                taken_tracks.add(i)
                taken_blobs.add(j)
                active[i].append(found[j])
                linked.append(active[i])
        for j, blob in enumerate(found):
            if j not in taken_blobs:
                tracks.append([blob])
                linked.append(tracks[-1])
        active = linked
    return tracks


def _gravity(blobs: list[list[Blob]], clean: list[bool], size: int, dt: float) -> float | None:
    """Median free-flight gravity in units/s² (module docstring, 5), or None."""
    tracks = _tracks(blobs, clean)
    for frames in FLIGHT_FRAMES:  # longer fits see gravity better over pixel noise
        estimates = _flights(tracks, blobs, frames, size, dt)
        if estimates:
            return float(np.median(estimates))
    return None


def _flights(
    tracks: list[list[Blob]], blobs: list[list[Blob]], frames: int, size: int, dt: float
) -> list[float]:
    """The gravity of every free-flight stretch of ``frames`` frames, units/s²."""
    estimates = []
    steps = np.arange(frames, dtype=np.float64)
    line = np.vander(steps, 2)
    parabola = np.vander(steps, 3)
    for track in tracks:
        for start in range(len(track) - frames + 1):
            stretch = track[start : start + frames]
            if not all(b.clear for b in stretch) or _crowded(stretch, blobs, size):
                continue
            xs = np.array([b.x for b in stretch]) * size  # pixels
            ys = np.array([b.y for b in stretch]) * size
            x_fit, x_res, *_ = np.linalg.lstsq(line, xs, rcond=None)
            y_fit, y_res, *_ = np.linalg.lstsq(parabola, ys, rcond=None)
            rms = np.sqrt(np.concatenate([x_res, y_res]) / frames)
            if len(rms) < 2 or rms.max() > FIT_RMS_MAX:
                continue
            radius = np.sqrt(np.mean([b.area for b in stretch]) / np.pi)
            curve = np.polyval(y_fit, np.linspace(-0.5, frames - 0.5, 4 * frames))
            if curve.min() - radius < 0 or curve.max() + radius > size:
                continue  # the fitted flight would leave the box: a bounce was fitted over
            estimates.append(-2.0 * y_fit[0] / size / dt**2)
    return estimates


def _crowded(stretch: list[Blob], blobs: list[list[Blob]], size: int) -> bool:
    """Whether another blob comes within two pixels of the stretch's ball (a collision)."""
    for blob in stretch:
        reach = np.sqrt(blob.area / np.pi) + 2.0
        for other in blobs[blob.frame]:
            if other is blob:
                continue
            gap = np.hypot(other.x - blob.x, other.y - blob.y) * size
            if gap < reach + np.sqrt(other.area / np.pi):
                return True
    return False


# ------------------------------------------------------------------ scoring


def score(read: dict[str, Any], attributes: dict[str, Any]) -> dict[str, Any]:
    """How a reading (``read_scene``) matches a caption's attributes (``describe_bounce``).

    ``count``, ``gravity`` (the word) and ``occluder``: exact, bool. ``colours``: the
    share of the prompted colours found among the read ones, each read ball used once.
    ``sizes``: the share of prompted balls whose size the read ball paired with them has,
    pairing same colour and size first, then same colour, then same size. ``all``: every
    attribute right. Anything unread counts as wrong.
    """
    missing = [
        key for key in ("balls", "colours", "sizes", "gravity_word") if key not in attributes
    ]
    if missing:
        raise WorldlabError(
            f"score needs bounce caption attributes (captions.describe_bounce); {missing} "
            f"missing from {sorted(attributes)}: score episodes of a bounce dataset"
        )
    wanted = list(zip(attributes["colours"], attributes["sizes"], strict=True))
    got = list(zip(read.get("colours") or [], read.get("sizes") or [], strict=True))
    colours_found, sizes_right = _pair(wanted, got)
    share = 1.0 / len(wanted) if wanted else 0.0
    result = {
        "count": read.get("balls") == attributes["balls"],
        "colours": colours_found * share if wanted else float(not got),
        "sizes": sizes_right * share if wanted else float(not got),
        "gravity": read.get("gravity_word") is not None
        and read.get("gravity_word") == attributes["gravity_word"],
        "occluder": bool(read.get("occluder")) == bool(attributes.get("occluder", False)),
    }
    result["all"] = bool(
        result["count"] and result["colours"] == 1 and result["sizes"] == 1 and result["gravity"]
        and result["occluder"]
    )  # fmt: skip
    return result


def _pair(wanted: list[tuple[str, str]], got: list[tuple[str, str]]) -> tuple[int, int]:
    """Greedy pairing of prompted and read ``(colour, size)`` balls: how many colours
    match, and how many sizes (module ``score``)."""
    left = list(got)
    colours = sizes = 0
    unpaired = []
    for rule in (lambda w, g: w == g, lambda w, g: w[0] == g[0]):  # both, then colour
        unpaired = []
        for ball in wanted:
            match = next((g for g in left if rule(ball, g)), None)
            if match is None:
                unpaired.append(ball)
                continue
            left.remove(match)
            colours += 1
            sizes += ball[1] == match[1]
        wanted = unpaired
    for ball in unpaired:  # no colour left to match: pair by size alone
        match = next((g for g in left if g[1] == ball[1]), None)
        if match is not None:
            left.remove(match)
            sizes += 1
    return colours, sizes


# ------------------------------------------------------------------ adherence


def adherence(
    generated: list[np.ndarray],
    attributes: list[dict[str, Any]],
    seed: int = 0,
    permutations: int = 5,
    **read_kwargs: Any,
) -> dict[str, Any]:
    """Mean adherence of generated episodes to their prompts, with two chance baselines.

    ``generated[i]: [T, S, S, 3] uint8`` was made from the caption with ``attributes[i]``;
    ``read_kwargs`` go to ``read_scene`` (the world's ``radius_range``, ``dt``, …). Per
    attribute of ``score``: ``accuracy`` (mean over episodes) and ``ci95`` (its half-width,
    Student's t over episodes); ``shuffled``, the accuracy against another episode's prompt
    (``permutations`` random derangements, seeded by ``seed``): what a model ignoring its
    prompt but drawing from the prompts' distribution scores; ``majority``, the accuracy of
    always answering the prompts' most common value of that attribute (the modal ball
    count, colour multiset, ``(colour, size)`` multiset, gravity word, occluder; for
    ``all``, the most common whole prompt). Also ``episodes`` and every episode's
    ``readings``.
    """
    if len(generated) != len(attributes):
        raise WorldlabError(
            f"adherence needs one prompt's attributes per generated episode, got "
            f"{len(generated)} episodes and {len(attributes)} attribute records"
        )
    if not generated:
        raise WorldlabError("adherence got no generated episodes; generate some first")
    readings = [read_scene(frames, **read_kwargs) for frames in generated]
    keys = (*ATTRIBUTES, "all")
    own = np.array(
        [[score(r, a)[k] for k in keys] for r, a in zip(readings, attributes, strict=True)],
        np.float64,
    )
    rng = np.random.default_rng(seed)
    count = len(readings)
    shuffled = np.full(len(keys), np.nan)
    if count > 1:
        rows = []
        for _ in range(permutations):
            order = rng.permutation(count)
            other = np.empty(count, int)
            other[order] = np.roll(order, -1)  # a random cycle: nobody keeps their own prompt
            rows += [
                [score(readings[i], attributes[other[i]])[k] for k in keys] for i in range(count)
            ]
        shuffled = np.array(rows, np.float64).mean(0)
    majority = _majority(attributes)
    means, half_widths = mean_ci(own)
    return {
        "episodes": count,
        "attributes": {
            key: {
                "accuracy": float(means[k]),
                "ci95": float(half_widths[k]),
                "shuffled": float(shuffled[k]),
                "majority": majority[key],
            }
            for k, key in enumerate(keys)
        },
        "readings": readings,
    }


def _majority(attributes: list[dict[str, Any]]) -> dict[str, float]:
    """Per attribute, the accuracy of always answering the prompts' most common value."""

    def modal(values: list) -> Any:
        counts = Counter(values)
        return max(counts, key=counts.get)

    def balls(pairs: tuple) -> dict[str, list]:
        return {"colours": [c for c, _ in pairs], "sizes": [s for _, s in pairs]}

    prompts = [
        {
            "balls": a["balls"],
            "colours": tuple(sorted(a["colours"])),
            "pairs": tuple(sorted(zip(a["colours"], a["sizes"], strict=True))),
            "gravity_word": a["gravity_word"],
            "occluder": bool(a.get("occluder", False)),
        }
        for a in attributes
    ]
    most = {key: modal([p[key] for p in prompts]) for key in prompts[0]}
    whole = modal([tuple(p.values()) for p in prompts])  # the most common prompt
    guesses = {
        "count": {"balls": most["balls"]},
        "colours": {"colours": list(most["colours"]), "sizes": ["?"] * len(most["colours"])},
        "sizes": balls(most["pairs"]),
        "gravity": {"gravity_word": most["gravity_word"]},
        "occluder": {"occluder": most["occluder"]},
        "all": {
            "balls": whole[0],
            **balls(whole[2]),
            "gravity_word": whole[3],
            "occluder": whole[4],
        },
    }
    return {
        key: float(np.mean([score(guess, a)[key] for a in attributes]))
        for key, guess in guesses.items()
    }
