"""Run configuration: typed sections, presets, dotted ``--set`` overrides, resume checks.

A run's resolved configuration is saved as ``config.json`` in the run directory::

    {"family": "rssm", "preset": "xs",
     "model": {...the family's Config dataclass...},
     "train": {...TrainConfig...},
     "data": {"path": ..., "env_id": ..., "obs_shape": [...], "action": {...}}}
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from worldlab.errors import WorldlabError

STRATEGIES = ("ddp", "fsdp")


@dataclasses.dataclass
class TrainConfig:
    steps: int = 1000  # optimizer steps in total (not per call)
    batch_size: int = 16  # windows per micro-batch on each process
    accumulate: int = 1  # micro-batches per optimizer step: batch_size × accumulate × processes
    seq_len: int = 64  # observations per training window
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    precision: str = "auto"  # auto (bf16 where the hardware runs it natively) | fp32 | bf16
    threads: int = 0  # CPU threads for torch; 0 = all cores
    compile: bool = False  # torch.compile the loss (pays on GPUs and big CPUs)
    checkpoint_every: int = 500
    keep_checkpoints: int = 2
    log_every: int = 10
    max_minutes: float | None = None  # stop (with a checkpoint) after this much training time
    cross_episodes: bool = True  # windows may run across episode boundaries (is_first)
    observation: str = "pixels"  # pixels | state (the ground-truth state vectors)
    strategy: str = "ddp"  # under torchrun: ddp (a replica per process) | fsdp (sharded)
    init: str | None = None  # a run of the same family whose weights start this one (init.py)
    freeze_init: bool = False  # train only what the init run lacks (ControlNet on a frozen base)

    def check(self) -> None:
        """A clear error for values no run can train with."""
        if self.accumulate < 1:
            raise WorldlabError(
                f"train.accumulate must be a whole number ≥ 1 (micro-batches per optimizer "
                f"step), got {self.accumulate}"
            )
        if self.freeze_init and not self.init:
            raise WorldlabError(
                "train.freeze_init freezes the weights taken from train.init: give "
                "--init RUN (a run to start from) too"
            )
        if self.strategy not in STRATEGIES:
            raise WorldlabError(
                f"train.strategy must be one of {', '.join(STRATEGIES)}, got '{self.strategy}': "
                "ddp keeps a whole replica on every process, fsdp shards weights, gradients "
                "and optimizer state across them"
            )


# Fields that may differ on --resume: they change how a run proceeds, not what it trains.
RESUMABLE_FIELDS = {
    "train.steps",
    "train.device",
    "train.threads",
    "train.checkpoint_every",
    "train.keep_checkpoints",
    "train.log_every",
    "train.max_minutes",
    "train.compile",
    "train.precision",
    "train.strategy",  # DDP and FSDP compute the same step; checkpoints are the same files
    "data.path",
}


def family_config(family_class: type, preset: str | None) -> tuple[Any, str | None]:
    """The family's Config with a named size preset applied (the family's default if None)."""
    presets = family_class.presets
    preset = preset or family_class.default_preset
    if preset is not None and preset not in presets:
        raise WorldlabError(
            f"unknown preset '{preset}' for family '{family_class.family}': "
            f"choose one of {', '.join(presets)}"
        )
    return family_class.Config(**presets.get(preset, {})), preset


def to_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)


def apply_overrides(sections: dict[str, Any], overrides: dict[str, Any]) -> None:
    """Set ``section.field`` values on the dataclasses in ``sections``, type-checked."""
    for dotted, value in overrides.items():
        section_name, _, field_name = dotted.partition(".")
        if section_name not in sections or not field_name:
            raise WorldlabError(
                f"--set {dotted}: expected SECTION.FIELD with SECTION one of "
                f"{', '.join(sections)} (e.g. --set model.deter=128)"
            )
        section = sections[section_name]
        fields = {f.name: f for f in dataclasses.fields(section)}
        if field_name not in fields:
            raise WorldlabError(
                f"--set {dotted}: '{section_name}' has no field '{field_name}'; "
                f"its fields are {', '.join(fields)}"
            )
        setattr(section, field_name, _coerce(dotted, value, getattr(section, field_name)))


def _coerce(dotted: str, value: Any, current: Any) -> Any:
    if current is None or value is None:
        return value
    expected = type(current)
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if expected is list and isinstance(value, str):  # --set model.controls=edge,seg
        return [item.strip() for item in value.split(",") if item.strip()]
    if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        raise WorldlabError(
            f"--set {dotted}={value!r}: expected a {expected.__name__} (current value {current!r})"
        )
    return value


def save_config(path: Path, config: dict[str, Any]) -> None:
    from worldlab.data.episode import write_json

    write_json(path, config)


def load_config(run: Path) -> dict[str, Any]:
    from worldlab.data.episode import read_json

    return read_json(
        Path(run) / "config.json",
        f"'{run}' is not a worldlab run: it has no config.json "
        f"({'it is a file' if Path(run).is_file() else 'no such run directory'}). "
        "Train one with `worldlab train rssm --data DIR --out RUN`",
    )


def stage_override(family_class: type, stage: str) -> dict[str, Any]:
    """``--stage X``: sugar for ``--set model.stage=X``, for families trained in stages
    (those whose Config has a ``stage`` field)."""
    if "stage" not in {field.name for field in dataclasses.fields(family_class.Config)}:
        raise WorldlabError(
            f"--stage: family '{family_class.family}' trains in a single stage; drop --stage"
        )
    return {"model.stage": stage}


def check_resume(
    saved: dict[str, Any], explicit: dict[str, Any], family_fields: frozenset[str] = frozenset()
) -> list[str]:
    """Compare explicit command-line values with a saved run's config.

    Returns notes for allowed changes; raises for a change that would alter what
    the run trains, since silently preferring either side would be wrong.
    ``family_fields``: the family's own changeable fields (its ``resumable_fields``,
    e.g. a training stage).
    """
    resumable = RESUMABLE_FIELDS | family_fields
    notes = []
    for dotted, value in explicit.items():
        section, _, name = dotted.partition(".")
        old = saved.get(section, {}).get(name) if name else saved.get(dotted)  # e.g. preset
        if old == value:
            continue
        if dotted in resumable:
            notes.append(f"{dotted}: {old!r} → {value!r}")
            continue
        raise WorldlabError(
            f"--resume: this run was trained with {dotted}={old!r}, but the command line gives "
            f"{value!r}. A resumed run keeps what it trains; drop the option to continue, or "
            f"start a new run with another --out. (Changeable on resume: "
            f"{', '.join(sorted(resumable))})"
        )
    return notes


def apply_resume(
    saved: dict[str, Any],
    overrides: dict[str, Any],
    implied: dict[str, Any] | None = None,
    resumable: frozenset[str] = frozenset(),
) -> list[str]:
    """Resume ``saved`` with a command line: check its ``overrides`` (``--set`` values) and
    what its other options ``implied`` (e.g. ``preset``, ``data.path``) with
    ``check_resume``, then write the allowed ``section.field`` values into ``saved``;
    return the notes.

    ``saved`` maps section names to dicts: a run's config, or a view of it with more
    sections (an online run's config beside its agent's settings: ``online``, ``behavior``,
    ``planner``).
    """
    explicit = {**overrides, **(implied or {})}
    notes = check_resume(saved, explicit, resumable)
    for dotted, value in explicit.items():
        section, _, name = dotted.partition(".")
        if name:  # not e.g. "preset", which check_resume only compares
            saved[section][name] = value
    return notes
