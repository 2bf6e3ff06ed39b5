"""Turn a user's request (family, data, preset, overrides, resume) into a run config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from worldlab.data import EpisodeDataset
from worldlab.errors import WorldlabError
from worldlab.models import get_family
from worldlab.train.checkpoint import checkpoint_dirs
from worldlab.train.config import (
    TrainConfig,
    apply_overrides,
    apply_resume,
    family_config,
    load_config,
)
from worldlab.train.run_config import DataConfig, RunConfig


def prepare_run(
    family: str,
    data: str | Path,
    out: str | Path,
    preset: str | None = None,
    overrides: dict[str, Any] | None = None,
    resume: bool = False,
) -> tuple[RunConfig, list[str]]:
    """Resolve the config of a new run, or of a run to resume; return ``(config, notes)``.

    ``overrides`` are explicit ``section.field`` values (from ``--set`` and options such as
    ``--steps``). On resume they are checked against the saved config, never silently dropped.
    """
    out = Path(out)
    overrides = dict(overrides or {})
    dataset = EpisodeDataset(data)
    if resume:
        if not checkpoint_dirs(out):
            raise WorldlabError(
                f"--resume: '{out}' has no checkpoint to resume from; "
                "drop --resume to start a new run there"
            )
        saved = load_config(out)
        if saved["family"] != family:
            raise WorldlabError(f"--resume: '{out}' is a '{saved['family']}' run, not '{family}'")
        implied = {}
        if preset is not None:
            implied["preset"] = preset
        if Path(saved["data"]["path"]).resolve() != Path(data).resolve():
            implied["data.path"] = str(Path(data).resolve())
        resumable = getattr(get_family(family), "resumable_fields", frozenset())
        notes = apply_resume(saved, overrides, implied, frozenset(resumable))
        config = RunConfig.from_dict(saved)
        _check_data(config, dataset)
        return config, notes
    if checkpoint_dirs(out):
        raise WorldlabError(
            f"'{out}' already holds a trained run; pass --resume to continue it "
            "or choose another --out"
        )
    family_class = get_family(family)
    model_config, preset = family_config(family_class, preset)
    train_config = TrainConfig()
    apply_overrides({"model": model_config, "train": train_config}, overrides)
    train_config.check()
    manifest = dataset.manifest
    obs_shape = list(manifest.obs_shape)
    if train_config.observation == "state":
        if not manifest.state_dims:
            raise WorldlabError(
                f"--set train.observation=state: dataset {dataset.root} records no "
                "ground-truth state vectors; train on pixels instead"
            )
        obs_shape = [manifest.state_dims]
    elif train_config.observation != "pixels":
        raise WorldlabError(
            f"train.observation must be pixels or state, got '{train_config.observation}'"
        )
    config = RunConfig(
        family=family,
        preset=preset,
        model=model_config,
        train=train_config,
        data=DataConfig(
            path=str(Path(data).resolve()),
            env_id=manifest.env_id,
            env_kwargs=manifest.env_kwargs,
            obs_shape=obs_shape,
            action=manifest.action,
        ),
    )
    return config, []


def _check_data(config: RunConfig, dataset: EpisodeDataset) -> None:
    expected = list(config.data.obs_shape)
    if config.train.observation == "state":
        if dataset.manifest.state_dims != expected[0]:
            raise WorldlabError(
                f"dataset {dataset.root} has state vectors of width "
                f"{dataset.manifest.state_dims}, the checkpoint was trained on {expected[0]}"
            )
    elif list(dataset.obs_shape) != expected:
        raise WorldlabError(
            f"dataset {dataset.root} holds {list(dataset.obs_shape)} frames but "
            f"the checkpoint was trained on {expected}; use a dataset collected "
            f"with --size {expected[0]}"
        )
    if dataset.manifest.action != config.data.action:
        raise WorldlabError(
            f"dataset {dataset.root} has actions {dataset.manifest.action} but "
            f"the checkpoint expects {config.data.action}"
        )


def train(
    family: str,
    data: str | Path,
    out: str | Path,
    preset: str | None = None,
    overrides: dict[str, Any] | None = None,
    resume: bool = False,
    progress: bool = True,
    stop_when=None,
    check_every: int = 100,
) -> dict[str, Any]:
    """Python API of ``worldlab train``: train (or resume) a run; return a summary.

    ``stop_when(trainer) -> str | None`` ends training early (see ``Trainer.fit``)."""
    from worldlab.train.trainer import Trainer

    config, notes = prepare_run(family, data, out, preset, overrides, resume)
    trainer = Trainer(out, config, progress=progress)
    if resume:
        trainer.restore()
    summary = trainer.fit(stop_when, check_every)
    summary["notes"] = notes
    return summary


def check_dataset_fits(run_config: dict[str, Any], data: str | Path) -> EpisodeDataset:
    """Open ``data`` and check that its frames and actions match what the run was trained on
    (``run_config``: a loaded model's, as in its ``config.json``)."""
    dataset = EpisodeDataset(data)
    _check_data(RunConfig.from_dict(run_config), dataset)
    return dataset
