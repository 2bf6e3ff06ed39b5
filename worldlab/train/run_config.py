"""A run's whole configuration, typed from the root: ``RunConfig``.

``config.json`` in a run directory is ``RunConfig.to_dict()``; ``RunConfig.from_dict``
reads it back, building the family's own ``Config`` dataclass, ``TrainConfig`` and the
data section, so a misspelt or stale field fails where the file is read, not deep in
training::

    {"family": "rssm", "preset": "xs",
     "model": {...the family's Config...}, "train": {...TrainConfig...},
     "data": {"path": ..., "env_id": ..., "env_kwargs": {...}, "obs_shape": [...],
              "action": {...}},
     "runtime": {...what "auto" resolved to, written by training...}}

An online agent run keeps its agent's settings in its ``agent.json``. The ``"agent"``
section that older online runs have here is not read, but kept when the file is written
again (``worldlab.agents.kinds`` reads it for those runs), as is any other section this
version does not know.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from worldlab.errors import WorldlabError
from worldlab.train.config import TrainConfig, to_dict


@dataclasses.dataclass
class DataConfig:
    """What the run trains on: the dataset and what its frames and actions look like."""

    path: str
    env_id: str | None = None
    env_kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    obs_shape: list[int] = dataclasses.field(default_factory=list)
    # the dataset manifest's description of the actions (``ActionSpec.from_manifest``)
    action: dict[str, Any] = dataclasses.field(default_factory=dict)


_SECTIONS = ("family", "preset", "model", "train", "data", "runtime")


@dataclasses.dataclass
class RunConfig:
    family: str
    model: Any  # the family's Config dataclass
    train: TrainConfig
    data: DataConfig
    preset: str | None = None
    # What "auto" resolved to on the machine that last trained the run (device, precision,
    # processes); written by ``Trainer.fit``, None before.
    runtime: dict[str, Any] | None = None
    # Sections this version does not read, kept as they were (e.g. an older online run's
    # "agent"), so rewriting config.json loses nothing.
    other: dict[str, Any] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_dict(cls, config: dict[str, Any]) -> RunConfig:
        from worldlab.models import get_family

        missing = [key for key in ("family", "model", "train", "data") if key not in config]
        if missing:
            raise WorldlabError(
                f"a run config needs the sections family, model, train and data; "
                f"missing {', '.join(missing)}"
            )
        family = get_family(config["family"])
        try:
            return cls(
                family=config["family"],
                preset=config.get("preset"),
                model=family.Config(**config["model"]),
                train=TrainConfig(**config["train"]),
                data=DataConfig(**config["data"]),
                runtime=config.get("runtime"),
                other={k: v for k, v in config.items() if k not in _SECTIONS},
            )
        except TypeError as error:  # an unknown field
            raise WorldlabError(
                f"run config does not fit this version of worldlab ({error}); "
                "retrain the run, or remove the field from its config.json"
            ) from None

    def to_dict(self) -> dict[str, Any]:
        """The layout of ``config.json`` (sections that are None are left out)."""
        config = {
            "family": self.family,
            "preset": self.preset,
            "model": to_dict(self.model),
            "train": to_dict(self.train),
            "data": to_dict(self.data),
        }
        if self.runtime is not None:
            config["runtime"] = dict(self.runtime)
        config.update(self.other)
        return config

    def build_model(self):
        """A freshly initialised world model of this run's family, config and data shapes."""
        from worldlab.models import ActionSpec, get_family

        family = get_family(self.family)
        spec = ActionSpec.from_manifest(self.data.action)
        return family(self.model, tuple(self.data.obs_shape), spec)
