"""Start a run from another run's weights (``train.init``): fine-tuning, or, with
``train.freeze_init``, training only the parts the other run lacks on its frozen weights,
as ControlNet and Cosmos Transfer train control branches on a frozen base model.

Every weight of the other run's newest checkpoint whose name this model has is copied;
the model's other weights (new branches, a style or hue input the base did not have) keep
their initialisation. Integer step counters (the flow EMA's warm-up) start again. What was
taken is recorded in the run's ``init.json``, so a resumed run freezes the same weights
without needing the other run again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from worldlab.data.episode import read_json, write_json
from worldlab.errors import WorldlabError
from worldlab.train.checkpoint import checkpoint_dirs, latest_checkpoint

INIT_FILE = "init.json"


def _counter(tensor: torch.Tensor) -> bool:
    return tensor.dim() == 0 and not tensor.is_floating_point()


def take_weights(model: torch.nn.Module, source: str | Path, family: str) -> dict[str, Any]:
    """Copy into ``model`` the weights of run ``source`` that it shares by name; return the
    record ``init.json`` keeps: the source, its checkpoint, what was taken, what is new."""
    source = Path(source)
    if not (source / "config.json").is_file():
        raise WorldlabError(
            f"train.init: '{source}' is not a run directory (it has no config.json); give a "
            "run trained with `worldlab train`"
        )
    theirs = read_json(source / "config.json", f"{source} has no config.json").get("family")
    if theirs != family:
        raise WorldlabError(
            f"train.init: '{source}' is a '{theirs}' run; a '{family}' run can only start "
            f"from another '{family}' run"
        )
    checkpoint, weights, _ = latest_checkpoint(source, with_trainer=False)
    own = model.state_dict()
    taken, wrong = [], []
    for name, tensor in weights.items():
        if name not in own or _counter(tensor):
            continue
        if own[name].shape != tensor.shape:
            wrong.append(f"{name}: {list(tensor.shape)} there, {list(own[name].shape)} here")
        else:
            taken.append(name)
    if wrong:
        raise WorldlabError(
            f"train.init: {len(wrong)} weights of '{source}' have other shapes than this "
            f"model's ({'; '.join(wrong[:3])}): give this run the same preset and model "
            "settings as that one, changing only what adds parts (e.g. model.controls)"
        )
    if not taken:
        raise WorldlabError(f"train.init: '{source}' shares no weight with this model")
    model.load_state_dict({name: weights[name] for name in taken}, strict=False)
    chosen = set(taken)
    new = [name for name, p in model.named_parameters() if p.requires_grad and name not in chosen]
    return {
        "run": str(source.resolve()),
        "checkpoint": checkpoint.name,
        "taken": taken,
        "new": new,
    }


def freeze_taken(model: torch.nn.Module, record: dict[str, Any]) -> int:
    """Stop the gradient of every weight ``record`` says was taken; return how many
    parameters are left to train (an error if none is)."""
    taken = set(record["taken"])
    for name, parameter in model.named_parameters():
        if name in taken:
            parameter.requires_grad_(False)
    left = sum(p.numel() for p in model.parameters() if p.requires_grad)
    if not left:
        raise WorldlabError(
            f"train.freeze_init: every weight came from '{record['run']}', so nothing is left "
            "to train: add parts it lacks (e.g. --set model.controls=edge,seg) or drop "
            "train.freeze_init to fine-tune it all"
        )
    return left


def start_from(
    model: torch.nn.Module, run: Path, source: str, family: str, freeze: bool
) -> dict[str, Any]:
    """Apply ``train.init`` to a new ``model`` of ``run``: take ``source``'s weights (or,
    for a run that already has checkpoints, read what it took from its ``init.json``, as
    the checkpoint will overwrite the weights) and freeze them with ``freeze``."""
    saved = Path(run) / INIT_FILE
    if checkpoint_dirs(Path(run)) and saved.is_file():
        record = read_json(saved, f"{saved} is missing")
    else:
        record = take_weights(model, source, family)
    if freeze:
        record["trainable"] = freeze_taken(model, record)
    return record


def save_record(run: Path, record: dict[str, Any]) -> None:
    write_json(Path(run) / INIT_FILE, record)
