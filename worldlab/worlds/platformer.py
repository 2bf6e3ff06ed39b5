"""Platformer: a small side-scroller for latent-action learning and interactive play.

A character runs left and right, jumps between ground segments and floating
platforms, collects coins (+1 each) and dies in gaps (``terminated=True``). The
level is a grid of tiles (``EMPTY``, ``SOLID`` ground, one-way ``PLATFORM``)
generated from the reset seed, or built from an ASCII layout (``parse_layout``).
World units are tiles; ``x`` grows rightwards, ``y`` upwards from the screen's bottom.

Example::

    import gymnasium, worldlab
    env = gymnasium.make("worldlab/Platformer-v0")
    obs, info = env.reset(seed=0)          # obs: [64, 64, 3] uint8
    obs, reward, terminated, truncated, info = env.step(5)  # right + jump
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces

from worldlab.worlds import skins
from worldlab.worlds._draw import fill_circle, fill_rect

ACTION_MEANINGS = ("NOOP", "LEFT", "RIGHT", "JUMP", "LEFT_JUMP", "RIGHT_JUMP")
_DIRECTION = (0, -1, 1, 0, -1, 1)  # horizontal intent per action
_JUMPS = (False, False, False, True, True, True)

EMPTY, SOLID, PLATFORM = 0, 1, 2  # tile codes; platforms are one-way (land on top only)
VIEW_TILES = 12  # the screen shows VIEW_TILES × VIEW_TILES tiles; the world is this tall
GROUND_TOP = 2  # ground rows 0..1, so the ground surface is at y = 2

SKY_TOP, SKY_BOTTOM, CLOUD = (70, 120, 200), (170, 210, 245), (240, 245, 250)
DIRT = ((140, 90, 50), (120, 76, 42))  # alternating so scrolling is visible on flat ground
BRICK, GRASS = ((150, 150, 160), (115, 115, 128)), (70, 170, 60)
COIN, BODY, EYE = (250, 210, 40), (210, 40, 60), (255, 255, 255)


def parse_layout(rows: Sequence[str]) -> tuple[np.ndarray, np.ndarray, tuple[float, float] | None]:
    """Build a level from ASCII rows, top row first.

    ``#`` is a solid tile, ``=`` a one-way platform, ``o`` a coin, ``@`` the
    character's start (feet on the bottom of that cell), anything else empty.
    Rows (all of one width >= ``VIEW_TILES``) are padded with empty rows at the
    top up to ``VIEW_TILES``.

    Returns ``(tiles, coins, start)``: int8 tile codes ``[VIEW_TILES, width]``
    with row 0 at the bottom, float ``[n, 2]`` coin centres, and the ``(x, y)``
    of ``@`` or ``None``.
    """
    rows = list(rows)
    width = len(rows[0]) if rows else 0
    if len(rows) > VIEW_TILES or width < VIEW_TILES or any(len(r) != width for r in rows):
        raise ValueError(f"layout must be <= {VIEW_TILES} rows of equal width >= {VIEW_TILES}")
    rows = ["." * width] * (VIEW_TILES - len(rows)) + rows
    tiles = np.zeros((VIEW_TILES, width), np.int8)
    coins, start, codes = [], None, {"#": SOLID, "=": PLATFORM}
    for i, line in enumerate(rows):
        row = VIEW_TILES - 1 - i  # text goes top-down, the grid bottom-up
        for col, char in enumerate(line):
            if char in codes:
                tiles[row, col] = codes[char]
            elif char == "o":
                coins.append((col + 0.5, row + 0.5))
            elif char == "@":
                start = (col + 0.5, float(row))
    return tiles, np.asarray(coins, np.float64).reshape(-1, 2), start


class PlatformerEnv(gymnasium.Env):
    """Run, jump and collect coins in a procedurally generated side-scrolling level.

    Physics per step (tile units): ``vx`` moves towards ``direction * RUN_SPEED``
    by at most ``RUN_ACCEL``; a jump (only when standing on something) sets
    ``vy = JUMP_SPEED`` (3.6 tiles high, 24 steps of air); gravity ``GRAVITY``,
    capped at ``MAX_FALL``. The ``WIDTH × HEIGHT`` character collides with
    ``SOLID`` tiles on all sides and lands on ``PLATFORM`` tiles from above only.
    Falling below the screen terminates.

    Generated levels: a flat start, ground segments of 4-10 tiles with 2-3 tile
    gaps, platforms with tops at ``y = 5`` and ``y = 8``, coins on the ground, on
    platforms and over gaps; long enough for ``max_steps`` of running, walled at both ends.

    The camera follows the character, keeping it near a third of the screen width.

    Args:
        size: side of the square frame in pixels (``VIEW_TILES`` tiles across).
        max_steps: steps before ``truncated=True``.
        layout: optional ASCII level (see ``parse_layout``) used instead of the
            generated one, for tests and hand-made levels.
        render_mode: ``None`` or ``"rgb_array"``; ``render()`` returns the frame either way.
        skin: how the world is drawn (``worldlab.worlds.skins.SKIN_NAMES``), never its
            physics: a skin's backdrop replaces the sky and clouds and scrolls with the
            level; tiles, coins and the character take its colours.

    Actions: ``Discrete(6)``, meanings in ``ACTION_MEANINGS``: 0 noop, 1 left,
    2 right, 3 jump, 4 left+jump, 5 right+jump.

    ``info`` (reset and step):
        ``state``: float32 ``[x, y, vx, vy, on_ground, coins_collected, camera_x]``:
        ``x`` the character's horizontal centre, ``y`` its feet, ``vx, vy`` tiles
        per step, ``on_ground`` 0/1, ``coins_collected`` this episode, ``camera_x``
        the world x of the screen's left edge. ``coins``: coins collected so far;
        ``x``: horizontal progress; ``on_ground``; ``coins_total`` in the level.

    Attributes after ``reset``: ``tiles`` (the level grid) and ``coin_positions``.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 15}
    # controls()["seg"] ids, and per class its drawing layer (controls()["depth"])
    SEGMENT_CLASSES = ("background", "distractor", "ground", "platform", "coin", "character")
    SEGMENT_DEPTH = np.array([0, 85, 170, 170, 212, 255], np.uint8)
    DISTRACTOR_CLASS, GROUND_CLASS, PLATFORM_CLASS, COIN_CLASS, CHARACTER_CLASS = 1, 2, 3, 4, 5

    RUN_SPEED, RUN_ACCEL = 0.25, 0.125
    JUMP_SPEED, GRAVITY = 0.6, 0.05
    MAX_FALL = 0.8  # below one tile per step, so collisions cannot be tunnelled through
    WIDTH, HEIGHT = 0.75, 1.25
    COIN_RADIUS = 0.35

    def __init__(
        self,
        size: int = 64,
        max_steps: int = 500,
        layout: Sequence[str] | None = None,
        render_mode: str | None = None,
        skin: str = "flat",
    ) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"unsupported render_mode {render_mode!r}")
        self.size = int(size)
        self.max_steps = int(max_steps)
        self.layout = None if layout is None else tuple(layout)
        self.render_mode = render_mode
        self.scale = self.size / VIEW_TILES  # pixels per tile

        self.observation_space = spaces.Box(0, 255, (self.size, self.size, 3), np.uint8)
        self.action_space = spaces.Discrete(len(ACTION_MEANINGS))

        # Vertical sky gradient, computed once and broadcast across each level's width.
        t = np.linspace(0.0, 1.0, self.size)[:, None]
        self._sky = (np.array(SKY_TOP) * (1 - t) + np.array(SKY_BOTTOM) * t).astype(np.uint8)

        # Placeholders until reset() builds a level; tiles[row, col] has row 0 at the bottom.
        self.tiles = np.zeros((VIEW_TILES, VIEW_TILES), np.int8)
        self.coin_positions, self._collected = np.zeros((0, 2)), np.zeros(0, bool)
        self._x, self._y, self._vx, self._vy, self._camera = 2.5, float(GROUND_TOP), 0.0, 0.0, 0.0
        self._on_ground, self._facing, self._coins, self._steps = True, 1, 0, 0
        self._level_image = self._frame = np.zeros((self.size, self.size, 3), np.uint8)
        self._level_seg = np.zeros((self.size, self.size), np.uint8)
        self._skin_seed = 0  # seeds this episode's skin randomness (skins.skin_rng)
        self.set_skin(skin)

    # ------------------------------------------------------------------ gym API

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Build a new level (from the seed, or the fixed layout) and start at its left."""
        super().reset(seed=seed)
        self._skin_seed = seed if seed is not None else self._skin_seed + 1
        level = parse_layout(self.layout) if self.layout else (*self._generate_level(), None)
        self.tiles, self.coin_positions, start = level
        self._x, self._y = start if start is not None else (2.5, float(GROUND_TOP))
        self._vx = self._vy = 0.0
        self._facing, self._coins, self._steps = 1, 0, 0
        self._on_ground = self._supported()
        self._collected = np.zeros(len(self.coin_positions), bool)
        order = np.argsort(self.coin_positions[:, 0], kind="stable")
        self.coin_positions = self.coin_positions[order]  # by x: coins in view are one slice
        self._paint_level()
        self._update_camera()
        self._frame = self._draw()
        return self._frame, self._info()

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Advance one step: run/jump, gravity, collisions, coins, camera, frame."""
        reward, terminated = self.advance(int(action))
        self._steps += 1
        self._update_camera()
        self._frame = self._draw()
        truncated = self._steps >= self.max_steps and not terminated
        return self._frame, float(reward), terminated, bool(truncated), self._info()

    def advance(self, action: int) -> tuple[int, bool]:
        """The physics of one step without drawing: ``(coins collected, fell out)``.

        With ``snapshot``/``restore`` around it, a scripted player can try moves ahead
        (``worldlab.worlds.experts``); ``step`` is this plus the camera and the frame."""
        direction = _DIRECTION[action]
        self._facing = direction or self._facing
        accel = direction * self.RUN_SPEED - self._vx
        self._vx += min(max(accel, -self.RUN_ACCEL), self.RUN_ACCEL)
        if _JUMPS[action] and self._on_ground:
            self._vy = self.JUMP_SPEED
        self._vy = max(self._vy - self.GRAVITY, -self.MAX_FALL)
        self._move_x()
        self._move_y()
        coins = self._collect_coins()
        return coins, bool(self._y + self.HEIGHT < 0.0)  # fell out of the screen's bottom

    def snapshot(self) -> tuple:
        """The character's state and the collected coins, for ``restore``."""
        body = (self._x, self._y, self._vx, self._vy, self._on_ground, self._facing, self._coins)
        return body, self._collected.copy()

    def restore(self, snapshot: tuple) -> None:
        """Undo ``advance`` calls made since ``snapshot`` (the frame is not redrawn)."""
        body, collected = snapshot
        self._x, self._y, self._vx, self._vy, self._on_ground, self._facing, self._coins = body
        self._collected = collected.copy()

    def render(self) -> np.ndarray:
        """A copy of the current frame, ``[size, size, 3] uint8``."""
        return self._frame.copy()

    def set_skin(self, name: str) -> None:
        """Draw with skin ``name`` from now on, the current frame included; physics is
        untouched."""
        self._skin = skins.get_skin(name)
        self.skin = name
        self._paint_level()
        self._frame = self._draw()

    def controls(self) -> dict[str, np.ndarray]:
        """Ground-truth control maps of the current frame (``worlds.control_maps``):
        ``seg [size, size] uint8`` ids of ``SEGMENT_CLASSES`` and ``depth [size, size]
        uint8``, the class's layer (0 background … 255 character)."""
        seg = self._paint_frame(self._level_seg, self.COIN_CLASS, self.CHARACTER_CLASS, None)
        return {"seg": seg, "depth": self.SEGMENT_DEPTH[seg]}

    @property
    def state(self) -> np.ndarray:
        """``[x, y, vx, vy, on_ground, coins_collected, camera_x]`` as float32."""
        values = (self._x, self._y, self._vx, self._vy, self._on_ground, self._coins, self._camera)
        return np.array(values, np.float32)

    # ---------------------------------------------------------------- physics

    def tile(self, col: int, row: int) -> int:
        """The tile code at ``(col, row)``: walls beyond the level's ends, open below and above."""
        if col < 0 or col >= self.tiles.shape[1]:
            return SOLID  # the level's ends are walls
        if row < 0 or row >= VIEW_TILES:
            return EMPTY  # open below (gaps) and above (sky)
        return int(self.tiles[row, col])

    @staticmethod
    def _span(lo: float, length: float) -> range:
        """Tile indices overlapped by ``[lo, lo + length)`` (touching edges excluded)."""
        return range(int(np.floor(lo + 1e-6)), int(np.floor(lo + length - 1e-6)) + 1)

    def _cols_spanned(self) -> range:
        return self._span(self._x - self.WIDTH / 2, self.WIDTH)

    def _supported(self) -> bool:
        """Whether the feet rest exactly on top of a solid tile or platform."""
        row = int(round(self._y))
        on_edge = abs(self._y - row) < 1e-6
        return on_edge and any(self.tile(col, row - 1) != EMPTY for col in self._cols_spanned())

    def _move_x(self) -> None:
        half, forward = self.WIDTH / 2, self._vx > 0
        self._x += self._vx
        # Speeds are below one tile per step, so only the leading column can be hit.
        col = int(np.floor(self._x + half - 1e-6 if forward else self._x - half))
        rows = self._span(self._y, self.HEIGHT)
        if self._vx and any(self.tile(col, row) == SOLID for row in rows):
            self._x, self._vx = (col - half if forward else col + 1 + half), 0.0

    def _move_y(self) -> None:
        previous_y = self._y
        self._y += self._vy
        self._on_ground = False
        if self._vy < 0:
            row = int(np.floor(self._y))
            # One-way platforms only catch feet that were at or above their top last step.
            above = previous_y >= row + 1 - 1e-6
            hit = [self.tile(col, row) for col in self._cols_spanned()]
            if SOLID in hit or (above and PLATFORM in hit):
                self._y, self._vy, self._on_ground = float(row + 1), 0.0, True
        elif self._vy > 0:
            row = int(np.floor(self._y + self.HEIGHT - 1e-6))
            if any(self.tile(col, row) == SOLID for col in self._cols_spanned()):
                self._y, self._vy = row - self.HEIGHT, 0.0  # bumped a ceiling

    def _collect_coins(self) -> int:
        cx, cy = self.coin_positions[:, 0], self.coin_positions[:, 1]
        hit = (
            (np.abs(cx - self._x) < self.WIDTH / 2 + self.COIN_RADIUS)
            & (np.abs(cy - (self._y + self.HEIGHT / 2)) < self.HEIGHT / 2 + self.COIN_RADIUS)
            & ~self._collected
        )
        self._collected |= hit
        self._coins += int(hit.sum())
        return int(hit.sum())

    def _update_camera(self) -> None:
        max_camera = self.tiles.shape[1] - VIEW_TILES
        self._camera = float(np.clip(self._x - VIEW_TILES / 3, 0.0, max_camera))

    # ---------------------------------------------------------------- level

    def _generate_level(self) -> tuple[np.ndarray, np.ndarray]:
        """Ground segments with gaps, floating platforms and coins, all from ``np_random``."""
        rng = self.np_random
        width = int(np.ceil(self.max_steps * self.RUN_SPEED)) + 2 * VIEW_TILES + 8
        tiles = np.zeros((VIEW_TILES, width), np.int8)
        coins: list[tuple[float, float]] = []
        tiles[:GROUND_TOP, :8] = SOLID  # a safe, flat start
        x = 8
        while x < width - VIEW_TILES:
            gap = int(rng.integers(2, 4))
            if rng.random() < 0.4:  # coins along the jump arc over the gap
                coins.append((x + gap / 2, GROUND_TOP + 2.5))
            x += gap
            length = int(rng.integers(4, 11))
            tiles[:GROUND_TOP, x : x + length] = SOLID
            if rng.random() < 0.5:
                n = int(rng.integers(1, 4))
                start = x + int(rng.integers(0, max(length - n, 0) + 1))
                coins.extend((start + i + 0.5, GROUND_TOP + 0.5) for i in range(n))
            if rng.random() < 0.6:  # a low platform, reachable from the ground
                p_len = int(rng.integers(3, 6))
                p_x = x + int(rng.integers(-1, max(length - 2, 0)))
                tiles[4, p_x : p_x + p_len] = PLATFORM  # top at y = 5
                if rng.random() < 0.6:
                    coins.extend((p_x + i + 0.5, 5.5) for i in range(p_len))
                if rng.random() < 0.35:  # a high platform stepping off the low one
                    h_x = p_x + p_len - 1
                    h_len = int(rng.integers(3, 5))
                    tiles[7, h_x : h_x + h_len] = PLATFORM  # top at y = 8
                    coins.extend((h_x + i + 0.5, 8.5) for i in range(1, h_len))
            x += length
        tiles[:GROUND_TOP, x:] = SOLID  # flat run-out to the right wall
        coins_array = np.asarray(coins, np.float64).reshape(-1, 2)
        # A platform near the end may run past the level: drop the coins beyond its edge.
        coins_array = coins_array[coins_array[:, 0] < width]
        # Drop coins that a later platform buried inside a tile.
        free = tiles[coins_array[:, 1].astype(int), coins_array[:, 0].astype(int)] == EMPTY
        return tiles, coins_array[free]

    # ---------------------------------------------------------------- drawing

    def _paint_level(self) -> None:
        """Pre-render what is static within an episode, once: the level image (the skin's
        backdrop, or the sky and clouds; the tiles) and its segmentation."""
        s = self.scale
        cols = self.tiles.shape[1]
        look = skins.episode_look(self._skin, self._skin_seed)
        self.hue = look.hue_shift  # the objects' hue turn in this episode (collect records it)
        colour = look.object_colour
        self._colours = {"coin": colour(COIN), "body": colour(BODY), "eye": colour(EYE)}
        sky = np.ascontiguousarray(
            np.broadcast_to(self._sky[:, None, :], (self.size, int(np.ceil(cols * s)), 3))
        )
        for cloud_x in np.arange(3.0, cols, 9.0):  # fixed decoration, a motion cue in the sky
            cx, cy = (cloud_x + (cloud_x * 7) % 4) * s, (1.5 + (cloud_x % 2)) * s
            for dx, r in ((-0.6, 0.5), (0.0, 0.7), (0.6, 0.5)):
                fill_circle(sky, cx + dx * s, cy, r * s, CLOUD)
        image, distractor = skins.backdrop(self._skin, sky, self._skin_seed)
        seg = distractor * np.uint8(self.DISTRACTOR_CLASS)
        for row, col in zip(*np.nonzero(self.tiles), strict=True):
            x0, y0 = col * s, (VIEW_TILES - 1 - row) * s
            is_ground = self.tiles[row, col] == SOLID
            colours = DIRT if is_ground else BRICK
            fill_rect(image, x0, y0, x0 + s, y0 + s, colour(colours[(row + col) % 2]))
            kind = self.GROUND_CLASS if is_ground else self.PLATFORM_CLASS
            fill_rect(seg, x0, y0, x0 + s, y0 + s, kind)
            if is_ground and self.tile(col, row + 1) != SOLID:  # grass on top
                fill_rect(image, x0, y0, x0 + s, y0 + max(s / 4, 1), colour(GRASS))
        self._level_image, self._level_seg = image, seg

    def _draw(self) -> np.ndarray:
        c = self._colours
        return self._paint_frame(self._level_image, c["coin"], c["body"], c["eye"])

    def _paint_frame(self, level: np.ndarray, coin, body, eye) -> np.ndarray:
        """The view of ``level`` (the level image, or its segmentation) with the coins not
        yet collected and the character drawn in ``coin`` and ``body`` (and its ``eye``,
        on the side it faces, unless ``None``)."""
        s = self.scale
        offset = int(round(self._camera * s))
        frame = level[:, offset : offset + self.size].copy()  # fresh array per step
        left = offset / s  # world x at the frame's left edge, aligned to the level image
        lo, hi = np.searchsorted(self.coin_positions[:, 0], [left - 1, left + VIEW_TILES + 1])
        visible = self.coin_positions[lo:hi][~self._collected[lo:hi]]
        for cx, cy in visible:
            fill_circle(frame, (cx - left) * s, (VIEW_TILES - cy) * s, self.COIN_RADIUS * s, coin)
        x0 = (self._x - self.WIDTH / 2 - left) * s
        y1 = (VIEW_TILES - self._y) * s
        y0 = y1 - self.HEIGHT * s
        fill_rect(frame, x0, y0, x0 + self.WIDTH * s, y1, body)
        if eye is not None:  # an eye on the facing side shows which way the character looks
            size = max(s * 0.25, 1.0)
            ex = x0 + (self.WIDTH * s - size if self._facing > 0 else 0.0)
            fill_rect(frame, ex, y0 + size, ex + size, y0 + 2 * size, eye)
        return frame

    def _info(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "coins": self._coins,
            "x": float(self._x),
            "on_ground": bool(self._on_ground),
            "coins_total": len(self.coin_positions),
        }
