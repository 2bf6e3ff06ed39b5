"""Checkpoints: written atomically as directories, loaded by ``worldlab.load`` for any family.

``RUN/checkpoints/step_00001000/`` holds ``model.safetensors`` (weights),
``trainer.pt`` (optimizer state and progress) and ``meta.json``. A checkpoint is
written into a hidden temporary directory and renamed into place, so a run
killed at any moment leaves only complete checkpoints behind.
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from worldlab.errors import WorldlabError

CHECKPOINTS = "checkpoints"


def checkpoint_dirs(run: Path) -> list[Path]:
    """Complete checkpoints of a run, oldest first."""
    root = Path(run) / CHECKPOINTS
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and p.name.startswith("step_"))


def save_checkpoint(
    run: Path, step: int, model: torch.nn.Module, trainer_state: dict[str, Any], keep: int = 2
) -> Path:
    root = Path(run) / CHECKPOINTS
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step_{step:08d}"
    tmp = root / f".tmp-step_{step:08d}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    weights = {
        name: tensor.detach().cpu().contiguous() for name, tensor in model.state_dict().items()
    }
    save_file(weights, tmp / "model.safetensors")
    torch.save(trainer_state, tmp / "trainer.pt")
    (tmp / "meta.json").write_text(json.dumps({"step": step}) + "\n")
    for file in tmp.iterdir():
        with open(file, "rb") as handle:
            os.fsync(handle.fileno())
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    for old in checkpoint_dirs(run)[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    return final


def read_checkpoint(path: Path, with_trainer: bool = True) -> tuple[dict, dict | None]:
    """``(weights, trainer_state)`` of one checkpoint directory; clear error when damaged."""
    for name in ("model.safetensors", "trainer.pt") if with_trainer else ("model.safetensors",):
        if not (path / name).exists():
            raise WorldlabError(f"checkpoint {path} is incomplete: {name} is missing")
    try:
        weights = load_file(path / "model.safetensors")
        trainer = torch.load(path / "trainer.pt", weights_only=False) if with_trainer else None
    except (SafetensorError, RuntimeError, EOFError, OSError, ValueError) as error:
        raise WorldlabError(f"checkpoint {path} is damaged and cannot be read ({error})") from None
    return weights, trainer


def latest_checkpoint(run: Path, with_trainer: bool = True) -> tuple[Path, dict, dict | None]:
    """The newest readable checkpoint; falls back to older ones with a warning."""
    candidates = checkpoint_dirs(run)
    if not candidates:
        raise WorldlabError(
            f"run '{run}' has no checkpoint yet: train it with "
            f"`worldlab train FAMILY --data DIR --out {run}`"
        )
    problems = []
    for path in reversed(candidates):
        try:
            weights, trainer = read_checkpoint(path, with_trainer)
        except WorldlabError as error:
            problems.append(str(error))
            continue
        for problem in problems:
            warnings.warn(f"{problem}; using the older {path.name}", stacklevel=2)
        return path, weights, trainer
    listing = "\n  ".join(problems)
    raise WorldlabError(f"no readable checkpoint in run '{run}':\n  {listing}")


def load(run: str | Path, device: str | torch.device = "cpu"):
    """A ready (eval-mode) world model from a run directory, whatever its family."""
    from worldlab.models import ActionSpec, get_family
    from worldlab.train.config import load_config

    run = Path(run)
    config = load_config(run)
    family = get_family(config["family"])
    model_config = family.Config(**config["model"])
    data = config["data"]
    model = family(model_config, tuple(data["obs_shape"]), ActionSpec.from_manifest(data["action"]))
    _, weights, _ = latest_checkpoint(run, with_trainer=False)
    try:
        missing, unexpected = model.load_state_dict(weights, strict=False)
    except RuntimeError as error:  # tensors of other shapes
        first = next((line.strip() for line in str(error).splitlines()[1:] if line.strip()), "")
        raise WorldlabError(
            f"checkpoint of '{run}' does not fit the {config['family']} model its config "
            f"describes, most likely because an older worldlab, whose {config['family']} networks "
            f"had other shapes, wrote it: retrain the run with this version ({first})"
        ) from None
    if missing or unexpected:
        raise WorldlabError(
            f"checkpoint of '{run}' does not fit its config: missing "
            f"{missing[:5]}, unexpected {unexpected[:5]}"
        )
    model.run_config = config
    return model.to(device).eval()
