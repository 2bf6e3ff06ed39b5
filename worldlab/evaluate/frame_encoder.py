"""The offline feature extractor behind ``FD/KID (worldlab encoder)``: a tiny conv
autoencoder trained once on a dataset's real frames (deterministic seed), cached per
dataset, whose bottleneck features rank models on that dataset. Not comparable with
published FID/FVD, and labelled so wherever it is reported.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


def to_images(frames: np.ndarray, size: tuple[int, int], low: float) -> torch.Tensor:
    """uint8 ``[M, H, W, 3]`` → float32 ``[M, 3, *size]`` in ``[low, 1]``, resized bilinearly."""
    images = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float() / 255
    height, width = images.shape[-2:]
    if (height, width) != size:
        shrinking = size[0] < height or size[1] < width  # antialias changes nothing upwards
        images = F.interpolate(
            images.contiguous(),
            size=size,
            mode="bilinear",
            antialias=shrinking,
            align_corners=False,
        )
    return images.clamp(0, 1) * (1 - low) + low


FRAME_BATCH = 32  # frames per forward pass
ENCODER_SIZE = 64  # frames are resized to 64×64 for the encoder, whatever their size
ENCODER_FEATURES = 32
ENCODER_STEPS = 300
ENCODER_BATCH = 32
ENCODER_MAX_FRAMES = 1024  # training frames kept in memory at 64×64: 48 MiB
ENCODER_LR = 2e-3
ENCODER_SEED = 0
ENCODER_VERSION = 1  # bump when the network or its training changes: old caches are ignored
ENCODER_NOTE = (
    "bottleneck features of a small autoencoder trained on these real frames: ranks models "
    "on this dataset, not comparable with published FID/FVD"
)


class FrameAutoencoder(nn.Module):
    """Three stride-2 convs (8, 16, 32 channels) to a ``ENCODER_FEATURES``-d bottleneck,
    three transposed convs back; small enough to train in seconds on one CPU core.

    ``encode``: float ``[B, 3, 64, 64]`` in [0, 1] → ``[B, ENCODER_FEATURES]``.
    """

    def __init__(self, features: int = ENCODER_FEATURES):
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Conv2d(3, 8, 4, 2, 1), nn.SiLU(),
            nn.Conv2d(8, 16, 4, 2, 1), nn.SiLU(),
            nn.Conv2d(16, 32, 4, 2, 1), nn.SiLU(),
            nn.Flatten(), nn.Linear(32 * 8 * 8, features),
        )  # fmt: skip
        self.decoder = nn.Sequential(
            nn.Linear(features, 32 * 8 * 8), nn.Unflatten(1, (32, 8, 8)), nn.SiLU(),
            nn.ConvTranspose2d(32, 16, 4, 2, 1), nn.SiLU(),
            nn.ConvTranspose2d(16, 8, 4, 2, 1), nn.SiLU(),
            nn.ConvTranspose2d(8, 3, 4, 2, 1), nn.Sigmoid(),
        )  # fmt: skip

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        return self.encoder(images)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(images))


def _encoder_images(frames: np.ndarray) -> torch.Tensor:
    return to_images(frames, (ENCODER_SIZE, ENCODER_SIZE), 0.0)


def train_frame_encoder(
    frames: np.ndarray, steps: int = ENCODER_STEPS, seed: int = ENCODER_SEED
) -> FrameAutoencoder:
    """Train the autoencoder on uint8 frames ``[M, H, W, 3]`` by pixel MSE; same frames and
    seed give the same weights. At most ``ENCODER_MAX_FRAMES`` of them, evenly spaced, are
    used (resized once); the global torch RNG is left as it was."""
    chosen = np.linspace(0, len(frames) - 1, min(len(frames), ENCODER_MAX_FRAMES)).round()
    images = _encoder_images(frames[chosen.astype(np.int64)])
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = FrameAutoencoder()
    optimizer = torch.optim.Adam(model.parameters(), lr=ENCODER_LR)
    for _ in range(steps):
        batch = images[torch.randint(len(images), (ENCODER_BATCH,), generator=generator)]
        loss = F.mse_loss(model(batch), batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return model.eval()


def encoder_features(model: FrameAutoencoder, frames: np.ndarray) -> np.ndarray:
    """Bottleneck features ``[M, ENCODER_FEATURES]`` (float64) of uint8 frames ``[M, H, W, 3]``."""
    with torch.inference_mode():
        rows = [
            model.encode(_encoder_images(frames[i : i + FRAME_BATCH])).double().numpy()
            for i in range(0, len(frames), FRAME_BATCH)
        ]
    return np.concatenate(rows)


def _dataset_digest(frames: np.ndarray, key: str | None, steps: int) -> str:
    """Cache key: the caller's dataset name if given, else a hash of the real frames, and
    what else decides the weights (version, steps, seed)."""
    recipe = f"v{ENCODER_VERSION}:steps={steps}:seed={ENCODER_SEED}:{list(frames.shape)}:"
    digest = hashlib.sha256(recipe.encode())
    digest.update(key.encode() if key is not None else np.ascontiguousarray(frames).data)
    return digest.hexdigest()[:16]


def _weights_bytes(model: nn.Module) -> bytes:
    from safetensors.torch import save

    return save({name: tensor.contiguous() for name, tensor in model.state_dict().items()})


def _read_cached(cache: Path) -> tuple[FrameAutoencoder, bytes] | None:
    """The encoder stored in ``cache``, or None when it is missing or cannot be read."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    if not cache.is_file():
        return None
    data = cache.read_bytes()
    model = FrameAutoencoder()
    try:
        model.load_state_dict(load(data))
    except (SafetensorError, RuntimeError, KeyError):
        return None  # damaged or from another network: train again and overwrite it
    return model.eval(), data


def load_or_train_encoder(
    frames: np.ndarray,
    encoder_dir: str | Path | None = None,
    key: str | None = None,
    steps: int | None = None,
) -> tuple[FrameAutoencoder, dict]:
    """The encoder for these real frames ``[M, H, W, 3]`` and a record of it.

    With ``encoder_dir``, the weights are cached there as
    ``frame_encoder_v{VERSION}_{digest}.safetensors``, the digest taken from ``key`` (e.g.
    the dataset's name) or else from the frames themselves; a later call with the same
    key loads them instead of training. Without it, the encoder is trained in memory each
    time (same frames, same weights). ``steps`` defaults to ``ENCODER_STEPS``.
    """
    from worldlab.data.episode import atomic_write_bytes
    from worldlab.paths import output_dir

    steps = steps or ENCODER_STEPS
    cache = None
    if encoder_dir is not None:
        name = f"frame_encoder_v{ENCODER_VERSION}_{_dataset_digest(frames, key, steps)}"
        cache = output_dir(encoder_dir, "encoder cache") / f"{name}.safetensors"
    cached = _read_cached(cache) if cache is not None else None
    if cached is not None:
        return cached[0], _encoder_record(cache, cached[1], steps, trained=False)
    model = train_frame_encoder(frames, steps=steps)
    data = _weights_bytes(model)
    if cache is not None:
        atomic_write_bytes(cache, lambda file: file.write(data))
    return model, _encoder_record(cache, data, steps, trained=True)


def _encoder_record(cache: Path | None, data: bytes, steps: int, trained: bool) -> dict:
    return {
        "path": str(cache) if cache is not None else None,
        "sha256": hashlib.sha256(data).hexdigest(),
        "trained_now": trained,
        "steps": steps,
        "seed": ENCODER_SEED,
    }
