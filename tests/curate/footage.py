"""Synthetic footage for the curation tests: shots with known content, written as mp4."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

WIDTH, HEIGHT, FPS = 160, 96, 20


def moving_scene(
    seconds: float,
    background=(40, 90, 200),
    colour=(250, 220, 40),
    speed: float = 40.0,
    seed: int = 0,
    blur: float = 0.0,
    letterbox: int = 0,
    brightness: float = 1.0,
    static: bool = False,
    pan: float = 0.0,
) -> np.ndarray:
    """``[N, HEIGHT, WIDTH, 3]`` frames: a textured background with a ball and a square
    crossing it at ``speed`` pixels per second (nothing moves when ``static``); the
    camera pans across the background at ``pan`` pixels per second."""
    rng = np.random.default_rng(seed)
    texture = rng.integers(-30, 30, size=(HEIGHT // 8, WIDTH // 8, 3))
    texture = np.kron(texture, np.ones((8, 8, 1))).astype(np.int64)
    base = np.clip(np.array(background)[None, None] + texture, 0, 255).astype(np.uint8)
    frames = []
    for index in range(round(seconds * FPS)):
        shift = 0.0 if static else speed * index / FPS
        image = Image.fromarray(np.roll(base, -round(pan * index / FPS), axis=1))
        draw = ImageDraw.Draw(image)
        x = 20 + shift % (WIDTH - 40)
        y = HEIGHT / 2 + 20 * np.sin(shift / 25)
        draw.ellipse([x - 12, y - 12, x + 12, y + 12], fill=colour)
        square_x = WIDTH - 30 - (shift * 0.7) % (WIDTH - 50)
        draw.rectangle([square_x, 15, square_x + 16, 31], fill=(200, 30, 30))
        if blur:
            image = image.filter(ImageFilter.GaussianBlur(blur))
        frame = np.asarray(image).astype(np.float32) * brightness
        frame = np.clip(frame, 0, 255).astype(np.uint8)
        if letterbox:
            frame[:letterbox] = 0
            frame[-letterbox:] = 0
        frames.append(frame)
    return np.stack(frames)


def write_video(path: Path, frames: np.ndarray, fps: int = FPS) -> Path:
    import imageio_ffmpeg

    height, width = frames.shape[1:3]
    writer = imageio_ffmpeg.write_frames(
        str(path),
        (width, height),
        fps=fps,
        quality=9,
        macro_block_size=1,
        output_params=["-g", "10"],
    )
    writer.send(None)
    for frame in frames:
        writer.send(np.ascontiguousarray(frame))
    writer.close()
    return path
