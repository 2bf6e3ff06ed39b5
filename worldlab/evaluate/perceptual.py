"""Perceptual metrics of imagined frames against real ones: FVD, FID, LPIPS and an offline FD/KID.

FVD, FID and LPIPS need pretrained detectors whose weights worldlab never downloads: the
user supplies each as a TorchScript file (``torch.jit.save``), through the ``weights``
argument or an environment variable; without one the metric is skipped with a message
saying what to supply. docs/metrics.md says how to export the files. Each file, loaded on
the CPU, is called as ``module(x)`` (LPIPS: ``module(x, y)``) and must keep this contract:

- FVD, ``WORLDLAB_I3D``: clips ``[N, 3, 16, 224, 224]`` float32 in [-1, 1] → ``[N, D]``
  features (the 400 Kinetics logits of common FVD code, or 1024 pooled features).
- FID, ``WORLDLAB_INCEPTION``: frames ``[N, 3, 299, 299]`` float32 in [0, 1] (pytorch-fid's
  input range) → ``[N, 2048]`` pool3 features.
- LPIPS, ``WORLDLAB_LPIPS``: two frames ``[N, 3, H, W]`` float32 in [-1, 1], H, W ≥ 64 →
  ``[N]`` distances (``[N, 1, 1, 1]`` is flattened).

Frames are resized with ``torch.nn.functional.interpolate`` (bilinear, antialias when
shrinking, no corner alignment); non-square frames are stretched to the square inputs.

Always available offline: ``FD/KID (worldlab encoder)``, distances between bottleneck
features of a tiny conv autoencoder trained on the real frames (deterministic seed,
cached per dataset). They rank models on one dataset but are not comparable with
published FID/FVD.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from worldlab.errors import WorldlabError
from worldlab.evaluate.frame_encoder import (
    ENCODER_NOTE,
    ENCODER_SIZE,
    FRAME_BATCH,
    encoder_features,
    load_or_train_encoder,
    to_images,
)
from worldlab.evaluate.frechet import frechet_from_features, kernel_inception_distance

CLIP_LENGTH = 16  # frames per FVD clip, as the original FVD and StyleGAN-V
I3D_SIZE = 224
INCEPTION_SIZE = 299
LPIPS_MIN_SIZE = 64  # AlexNet's five stages need at least this; smaller frames are upscaled
CLIP_BATCH = 4
RESIZE = "torch bilinear, align_corners=False, antialias when shrinking"
DOCS = "docs/metrics.md"


# -- user-supplied TorchScript detectors -------------------------------------------------
@dataclass(frozen=True)
class Detector:
    """One pretrained network the user supplies: how to name it, where to look for it."""

    name: str  # the paper's name, for messages
    env_var: str
    example_file: str


DETECTORS = {
    "i3d": Detector("I3D", "WORLDLAB_I3D", "i3d_torchscript.pt"),
    "inception": Detector("Inception", "WORLDLAB_INCEPTION", "inception_torchscript.pt"),
    "lpips": Detector("LPIPS", "WORLDLAB_LPIPS", "lpips_alex_torchscript.pt"),
}


def skip_message(key: str) -> str:
    """What to supply for a detector that was not given."""
    detector = DETECTORS[key]
    return (
        f"no {detector.name} weights: set {detector.env_var}=/path/to/{detector.example_file} "
        f"(TorchScript; see {DOCS})"
    )


def weight_paths(weights: dict | None = None) -> dict[str, Path | None]:
    """The file of each detector: ``weights[key]`` first, then its environment variable.

    A detector given nowhere maps to None (its metric is skipped); a path given but not
    pointing to a file raises, since a typo should not silently skip a metric.
    """
    weights = dict(weights or {})
    unknown = sorted(set(weights) - set(DETECTORS))
    if unknown:
        raise WorldlabError(
            f"unknown weights {unknown}: the keys are {sorted(DETECTORS)} (files for FVD, "
            "FID and LPIPS)"
        )
    paths = {}
    for key, detector in DETECTORS.items():
        source, given = f"weights['{key}']", weights.get(key)
        if not given:
            source, given = detector.env_var, os.environ.get(detector.env_var)
        path = Path(given).expanduser() if given else None
        if path is not None and not path.is_file():
            raise WorldlabError(
                f"{source}={path}: no such file; give the {detector.name} TorchScript file "
                f"(see {DOCS}) or unset it to skip the metric"
            )
        paths[key] = path
    return paths


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks: it pins which weights gave a number."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_torchscript(path: Path, key: str) -> torch.jit.ScriptModule:
    """Load a detector on the CPU in eval mode; a clear error naming the file if it is not
    a TorchScript archive (junk, a state dict, a truncated download)."""
    detector = DETECTORS[key]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # recent torch flags torch.jit
            module = torch.jit.load(str(path), map_location="cpu")
    except Exception as error:  # torch raises RuntimeError, ValueError, … on a bad archive
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise WorldlabError(
            f"{path} is not a valid TorchScript archive ({reason}); the {detector.name} "
            f"weights ({detector.env_var}) must be a module saved with torch.jit.save, "
            f"see {DOCS}"
        ) from None
    return module.eval()


def _call(module: torch.jit.ScriptModule, key: str, path: Path, *inputs: torch.Tensor):
    """``module(*inputs)`` as a float64 numpy array ``[N, ...]``, checked against the contract."""
    count = inputs[0].shape[0]
    try:
        with torch.inference_mode():
            output = module(*inputs)
    except Exception as error:
        reason = str(error).strip().splitlines()[-1] if str(error) else type(error).__name__
        raise WorldlabError(
            f"{path} failed on inputs of shape {list(inputs[0].shape)} ({reason}); see {DOCS} "
            f"for the input the {DETECTORS[key].name} file must accept"
        ) from None
    if not isinstance(output, torch.Tensor) or output.ndim == 0 or output.shape[0] != count:
        shape = list(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
        raise WorldlabError(
            f"{path} returned {shape} for {count} inputs; the {DETECTORS[key].name} file must "
            f"return one row per input (see {DOCS})"
        )
    values = output.reshape(count, -1).double().numpy()
    if not np.isfinite(values).all():
        raise WorldlabError(
            f"{path} returned NaN or infinite values for {count} inputs; the "
            f"{DETECTORS[key].name} weights are damaged or not the network {DOCS} describes"
        )
    return values


# -- frames ------------------------------------------------------------------------------
def _lpips_size(height: int, width: int) -> tuple[int, int]:
    scale = max(1.0, LPIPS_MIN_SIZE / min(height, width))
    return round(height * scale), round(width * scale)


def clips_of(sequences: np.ndarray, clip_length: int) -> np.ndarray:
    """``[N, T, H, W, 3]`` → ``[N · ⌊T / clip_length⌋, clip_length, H, W, 3]``: consecutive,
    non-overlapping clips; frames past the last whole clip are left out."""
    count, length = sequences.shape[:2]
    per_sequence = length // clip_length
    kept = sequences[:, : per_sequence * clip_length]
    return kept.reshape(count * per_sequence, clip_length, *sequences.shape[2:])


def i3d_features(module, path: Path, clips: np.ndarray) -> np.ndarray:
    """I3D features ``[N, D]`` of uint8 clips ``[N, T, H, W, 3]``."""
    rows = []
    for start in range(0, len(clips), CLIP_BATCH):
        batch = clips[start : start + CLIP_BATCH]
        count, length = batch.shape[:2]
        frames = to_images(batch.reshape(-1, *batch.shape[2:]), (I3D_SIZE, I3D_SIZE), -1.0)
        video = frames.reshape(count, length, 3, I3D_SIZE, I3D_SIZE).transpose(1, 2)
        rows.append(_call(module, "i3d", path, video.contiguous()))
    return np.concatenate(rows)


def inception_features(module, path: Path, frames: np.ndarray) -> np.ndarray:
    """Inception pool features ``[M, D]`` of uint8 frames ``[M, H, W, 3]``."""
    size = (INCEPTION_SIZE, INCEPTION_SIZE)
    return np.concatenate(
        [
            _call(module, "inception", path, to_images(frames[i : i + FRAME_BATCH], size, 0.0))
            for i in range(0, len(frames), FRAME_BATCH)
        ]
    )


def lpips_distances(module, path: Path, real: np.ndarray, fake: np.ndarray) -> np.ndarray:
    """LPIPS distance ``[M]`` between paired uint8 frames ``[M, H, W, 3]``."""
    size = _lpips_size(*real.shape[1:3])
    rows = []
    for start in range(0, len(real), FRAME_BATCH):
        pair = (to_images(x[start : start + FRAME_BATCH], size, -1.0) for x in (real, fake))
        rows.append(_call(module, "lpips", path, *pair).mean(1))
    return np.concatenate(rows)


# -- the entry point ---------------------------------------------------------------------
def _check_frames(real: Any, fake: Any) -> tuple[np.ndarray, np.ndarray]:
    real, fake = np.asarray(real), np.asarray(fake)
    for name, frames in (("real_frames", real), ("fake_frames", fake)):
        if frames.dtype != np.uint8 or frames.ndim != 5 or frames.shape[-1] != 3:
            raise WorldlabError(
                f"{name} must be uint8 [N, T, H, W, 3] (N clips of T RGB frames), got "
                f"{frames.dtype} of shape {list(frames.shape)}"
            )
    if real.shape != fake.shape:
        raise WorldlabError(
            "real_frames and fake_frames must pair up frame by frame, with the same shape; "
            f"got {list(real.shape)} and {list(fake.shape)}"
        )
    if real.shape[0] * real.shape[1] < 2:
        raise WorldlabError(f"perceptual metrics need at least 2 frames, got {list(real.shape)}")
    return real, fake


def _protocol(frames: np.ndarray, clip_length: int) -> dict:
    count, length, height, width = frames.shape[:4]
    return {
        "clip_length": clip_length,
        "num_clips": count * (length // clip_length),
        "num_sequences": count,
        "frames_per_sequence": length,
        "num_frames": count * length,
        "frame_size": [height, width],
        "fvd_input": [clip_length, I3D_SIZE, I3D_SIZE],
        "fid_input": [INCEPTION_SIZE, INCEPTION_SIZE],
        "lpips_input": list(_lpips_size(height, width)),
        "encoder_input": [ENCODER_SIZE, ENCODER_SIZE],
        "resize": RESIZE,
    }


def _with_weights(path: Path, value: dict) -> dict:
    return {**value, "weights": str(path), "sha256": file_sha256(path)}


def _fvd(real: np.ndarray, fake: np.ndarray, clip_length: int, path: Path | None) -> dict:
    if path is None:
        return {"skipped": skip_message("i3d")}
    real_clips, fake_clips = clips_of(real, clip_length), clips_of(fake, clip_length)
    if len(real_clips) < 2:
        return {
            "skipped": f"FVD needs at least 2 clips of {clip_length} frames; got "
            f"{real.shape[0]} sequence(s) of {real.shape[1]} frames"
        }
    module = load_torchscript(path, "i3d")
    value = frechet_from_features(
        i3d_features(module, path, real_clips), i3d_features(module, path, fake_clips)
    )
    return _with_weights(path, {"value": value})


def _fid(real: np.ndarray, fake: np.ndarray, path: Path | None) -> dict:
    if path is None:
        return {"skipped": skip_message("inception")}
    module = load_torchscript(path, "inception")
    value = frechet_from_features(
        inception_features(module, path, real), inception_features(module, path, fake)
    )
    return _with_weights(path, {"value": value})


def _lpips(real: np.ndarray, fake: np.ndarray, path: Path | None) -> dict:
    if path is None:
        return {"skipped": skip_message("lpips")}
    count, length = real.shape[:2]
    module = load_torchscript(path, "lpips")
    distances = lpips_distances(
        module, path, real.reshape(-1, *real.shape[2:]), fake.reshape(-1, *fake.shape[2:])
    ).reshape(count, length)
    value = {"value": float(distances.mean()), "per_step": distances.mean(0).tolist()}
    return _with_weights(path, value)


def _standardize(real: np.ndarray, fake: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both feature sets shifted and scaled by the real features' per-dimension mean and
    std: values then do not depend on the bottleneck's arbitrary scale, and KID's cubic
    kernel sees numbers of order 1, as with Inception features. A dimension constant over
    the real frames is left unscaled."""
    mean, std = real.mean(0), real.std(0)
    std = np.where(std > 1e-6, std, 1.0)
    return (real - mean) / std, (fake - mean) / std


def _encoder_metrics(
    real: np.ndarray, fake: np.ndarray, encoder_dir: str | Path | None, key: str | None
) -> dict:
    model, record = load_or_train_encoder(real, encoder_dir, key)
    real_features, fake_features = _standardize(
        encoder_features(model, real), encoder_features(model, fake)
    )
    kid, kid_std = kernel_inception_distance(real_features, fake_features)
    common = {"comparable_with_published": False, "note": ENCODER_NOTE, "encoder": record}
    return {
        "encoder_fd": {
            "label": "FD (worldlab encoder)",
            "value": frechet_from_features(real_features, fake_features),
            **common,
        },
        "encoder_kid": {"label": "KID (worldlab encoder)", "value": kid, "std": kid_std, **common},
    }


def perceptual_metrics(
    real_frames: Any,
    fake_frames: Any,
    clip_length: int = CLIP_LENGTH,
    weights: dict | None = None,
    encoder_dir: str | Path | None = None,
    encoder_key: str | None = None,
) -> dict:
    """FVD, FID, LPIPS and the offline encoder's FD/KID of fake frames against real ones.

    ``real_frames, fake_frames: [N, T, H, W, 3] uint8``, paired (fake clip i imagines real
    clip i). ``weights`` maps ``"i3d"``, ``"inception"``, ``"lpips"`` to TorchScript files
    (else ``WORLDLAB_I3D``, ``WORLDLAB_INCEPTION``, ``WORLDLAB_LPIPS``); ``encoder_dir``
    caches the offline encoder, keyed by ``encoder_key`` (the perceptual section passes a
    hash of the dataset's path and episode files) or a hash
    of the real frames. Returns a JSON-able dict::

        {"protocol": {...clip_length, num_clips, num_frames, sizes, resize...},
         "fvd" | "fid": {"value", "weights", "sha256"} or {"skipped": message},
         "lpips": {"value", "per_step": [T], "weights", "sha256"} or {"skipped": message},
         "encoder_fd": {"label", "value", "comparable_with_published": False, "note",
                        "encoder": {"path", "sha256", "trained_now", ...}},
         "encoder_kid": {... "value", "std" ...}}

    Lower is better for every value.
    """
    real, fake = _check_frames(real_frames, fake_frames)
    if clip_length < 1:
        raise WorldlabError(f"clip_length must be ≥ 1 (16 in published FVD), got {clip_length}")
    paths = weight_paths(weights)  # before any work: a bad path fails fast
    flat_real, flat_fake = (x.reshape(-1, *x.shape[2:]) for x in (real, fake))
    return {
        "protocol": _protocol(real, clip_length),
        "fvd": _fvd(real, fake, clip_length, paths["i3d"]),
        "fid": _fid(flat_real, flat_fake, paths["inception"]),
        "lpips": _lpips(real, fake, paths["lpips"]),
        **_encoder_metrics(flat_real, flat_fake, encoder_dir, encoder_key),
    }
