"""Checkpoints: written atomically as directories, verified and loaded for any family.

``RUN/checkpoints/step_00001000/`` holds ``model.safetensors`` (weights),
``trainer.pt`` (optimizer state and progress) and ``meta.json``, which records the
size and SHA-256 of every other file (see ``worldlab.train.integrity``). A checkpoint
is written into a hidden temporary directory and renamed into place, so a run killed
at any moment leaves only complete checkpoints behind; every load verifies the files
first and falls back, with a warning, to the newest checkpoint that verifies.
"""

from __future__ import annotations

import os
import pickle
import shutil
import warnings
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from worldlab.errors import WorldlabError
from worldlab.train.integrity import DAMAGED, UNVERIFIED, Verdict, verify, write_meta

CHECKPOINTS = "checkpoints"
SET_ASIDE = "damaged_"  # prefix of newer damaged checkpoints that --resume moved aside
_noted_unverified: set[Path] = set()


def checkpoint_dirs(run: Path) -> list[Path]:
    """Complete checkpoints of a run, oldest first."""
    root = Path(run) / CHECKPOINTS
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and p.name.startswith("step_"))


def save_checkpoint(
    run: Path,
    step: int,
    model: torch.nn.Module | dict[str, torch.Tensor],
    trainer_state: dict[str, Any],
    keep: int = 2,
) -> Path:
    """Write ``step_N/`` atomically; ``model`` is the model or its full state dict (the
    weights gathered from every shard, under FSDP)."""
    root = Path(run) / CHECKPOINTS
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step_{step:08d}"
    tmp = root / f".tmp-step_{step:08d}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    state = model if isinstance(model, dict) else model.state_dict()
    weights = {name: tensor.detach().cpu().contiguous() for name, tensor in state.items()}
    save_file(weights, tmp / "model.safetensors")
    torch.save(trainer_state, tmp / "trainer.pt")
    write_meta(tmp, step)  # records every file above: write any new one before this line
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
    """``(weights, trainer_state)`` of one checkpoint directory, verified first; a clear
    error naming the failing file when it is damaged."""
    verdict = verify(path)
    if verdict.state == DAMAGED:
        raise WorldlabError(verdict.message())
    if verdict.state == UNVERIFIED and path.resolve() not in _noted_unverified:
        _noted_unverified.add(path.resolve())
        warnings.warn(
            f"checkpoint {path} was written before worldlab recorded checksums, so it "
            "cannot be verified; it is loaded as it is (new checkpoints are verified)",
            stacklevel=3,
        )
    try:
        return _read_files(path, with_trainer)
    except WorldlabError as error:
        raise WorldlabError(Verdict(path, DAMAGED, [str(error)]).message()) from None


def _read_files(path: Path, with_trainer: bool) -> tuple[dict, dict | None]:
    names = ("model.safetensors", "trainer.pt") if with_trainer else ("model.safetensors",)
    for name in names:
        if not (path / name).is_file():
            raise WorldlabError(f"{name} is missing")
    readable = (SafetensorError, RuntimeError, EOFError, OSError, ValueError)
    try:
        weights = load_file(path / "model.safetensors")
    except readable as error:
        raise WorldlabError(f"model.safetensors cannot be read ({error})") from None
    try:
        trainer = torch.load(path / "trainer.pt", weights_only=False) if with_trainer else None
    except (*readable, pickle.UnpicklingError) as error:
        raise WorldlabError(f"trainer.pt cannot be read ({error})") from None
    return weights, trainer


def latest_checkpoint(run: Path, with_trainer: bool = True) -> tuple[Path, dict, dict | None]:
    """The newest checkpoint that verifies; falls back to older ones with a warning."""
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
    raise WorldlabError(
        f"no checkpoint of run '{run}' verifies:\n  {listing}\nnothing was loaded; restore "
        f"the run from a backup, or train it again into a new --out (`worldlab runs check "
        f"{run}` lists every checkpoint)"
    )


def resume_checkpoint(run: Path, set_aside: bool = True) -> tuple[Path, dict, dict, list[Path]]:
    """``latest_checkpoint`` for ``--resume``: ``(path, weights, trainer_state, moved)``.

    Newer checkpoints that failed are renamed ``damaged_step_…`` (kept for inspection,
    never loaded), so the resumed run neither keeps them as its newest nor prunes its
    good checkpoints in their favour; ``set_aside=False`` (DDP ranks but one) only reads.
    """
    path, weights, trainer = latest_checkpoint(run, with_trainer=True)
    newer = [p for p in checkpoint_dirs(run) if p.name > path.name]
    moved = []
    for damaged in newer if set_aside else []:
        target = damaged.with_name(SET_ASIDE + damaged.name)
        suffix = 1
        while target.exists():
            target, suffix = damaged.with_name(f"{SET_ASIDE}{damaged.name}_{suffix}"), suffix + 1
        os.replace(damaged, target)
        moved.append(target)
    if newer:
        warnings.warn(
            f"--resume continues from {path} (step {trainer['step']}), the newest checkpoint "
            f"that verifies, not from the damaged {', '.join(p.name for p in newer)}"
            + (f" (set aside as {', '.join(p.name for p in moved)})" if moved else ""),
            stacklevel=2,
        )
    return path, weights, trainer, moved


def check_run(run: Path) -> list[Verdict]:
    """Every checkpoint of ``run``, oldest first, verified; an unverified one is also read,
    so that one which cannot be loaded shows as damaged (``worldlab runs check``)."""
    verdicts = []
    for path in checkpoint_dirs(run):
        verdict = verify(path)
        if verdict.state == UNVERIFIED:
            try:
                _read_files(path, with_trainer=True)
            except WorldlabError as error:
                verdict.state = DAMAGED
                verdict.problems.append(str(error))
        verdicts.append(verdict)
    return verdicts


def set_aside_checkpoints(run: Path) -> list[Path]:
    """Damaged checkpoints that ``--resume`` moved aside, oldest first."""
    root = Path(run) / CHECKPOINTS
    return sorted(root.glob(SET_ASIDE + "*")) if root.is_dir() else []


def load_with_state(run: str | Path, device: str | torch.device = "cpu", with_trainer=False):
    """``(model, trainer_state or None)`` from the newest checkpoint that verifies; both
    from the same checkpoint (an agent's behaviour lives in the trainer state)."""
    from worldlab.train.config import load_config
    from worldlab.train.run_config import RunConfig

    run = Path(run)
    config = load_config(run)
    model = RunConfig.from_dict(config).build_model()
    _, weights, trainer = latest_checkpoint(run, with_trainer=with_trainer)
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
    return model.to(device).eval(), trainer


def load(run: str | Path, device: str | torch.device = "cpu"):
    """A ready (eval-mode) world model from a run directory, whatever its family."""
    return load_with_state(run, device)[0]
