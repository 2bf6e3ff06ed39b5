"""The dataset manifest: what world the episodes came from and what they hold.

``manifest.json`` sits beside the episode files. It is rewritten atomically
after every episode, so its counts are a summary; the episode files are the
truth (``EpisodeDataset`` recounts them).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import gymnasium
import numpy as np

from worldlab.data.episode import read_json, write_json
from worldlab.errors import DatasetError
from worldlab.paths import output_dir

MANIFEST_NAME = "manifest.json"
# What kind of data a dataset holds: every later addition to it must agree on these.
KIND_FIELDS = ("env_id", "obs_shape", "action", "env_kwargs", "split", "skins", "seg_classes")


def action_spec(space: gymnasium.Space | None) -> dict[str, Any]:
    """Describe an action space in plain JSON: ``{"type": "discrete", "n": 5}`` etc."""
    if space is None:
        return {"type": "none"}
    if isinstance(space, gymnasium.spaces.Discrete):
        return {"type": "discrete", "n": int(space.n)}
    if isinstance(space, gymnasium.spaces.Box):
        return {
            "type": "box",
            "shape": list(space.shape),
            "low": np.asarray(space.low, float).ravel().tolist(),
            "high": np.asarray(space.high, float).ravel().tolist(),
        }
    raise DatasetError(f"action space {space} is not supported: use Discrete or Box actions")


def action_space_from_spec(spec: dict[str, Any]) -> gymnasium.Space | None:
    if spec["type"] == "discrete":
        return gymnasium.spaces.Discrete(spec["n"])
    if spec["type"] == "box":
        shape = tuple(spec["shape"])
        low = np.array(spec["low"], np.float32).reshape(shape)
        high = np.array(spec["high"], np.float32).reshape(shape)
        return gymnasium.spaces.Box(low, high, shape, np.float32)
    return None


@dataclass
class Manifest:
    env_id: str
    obs_shape: list[int]
    action: dict[str, Any]
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    split: str | None = None  # the named bounce distribution, if any (worlds.bounce_splits)
    skins: list[str] = field(default_factory=list)  # cycled over episodes (worlds.skins)
    seg_classes: list[str] = field(default_factory=list)  # names of seg ids, if recorded
    text_encoder: str = ""  # what embedded the captions into each episode's `text` array
    text_dims: int = 0
    episodes: int = 0
    steps: int = 0
    has_state: bool = False
    state_dims: int = 0  # width of the ground-truth state vector, when has_state
    worldlab_version: str = ""
    created: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%S"))

    @property
    def action_space(self) -> gymnasium.Space | None:
        return action_space_from_spec(self.action)

    def save(self, root: Path) -> None:
        write_json(Path(root) / MANIFEST_NAME, asdict(self))

    @classmethod
    def load(cls, root: Path) -> Manifest:
        path = Path(root) / MANIFEST_NAME
        rebuild = (
            "delete it and rerun `worldlab collect` (or the import that made the dataset) "
            "into the same directory to rebuild it; the episode files are kept"
        )
        data = read_json(
            path,
            f"{root} has no {MANIFEST_NAME}: it is not a worldlab dataset. "
            "Create one with `worldlab collect --env ENV --out DIR`",
            rebuild,
            error=DatasetError,
        )
        try:
            return cls(**data)
        except TypeError as error:
            raise DatasetError(f"{path} is not a worldlab manifest ({error}); {rebuild}") from None


def open_dataset(out: Path, fresh: Manifest, what: str, advice: str) -> Manifest:
    """The manifest of dataset ``out``: ``fresh`` for a new directory, else the existing one,
    checked to hold data of the same kind (``what`` makes it; ``advice`` says what to do)."""
    out = output_dir(out, "dataset")
    if (out / MANIFEST_NAME).exists():
        existing = Manifest.load(out)
        for name in KIND_FIELDS:
            if getattr(existing, name) != getattr(fresh, name):
                raise DatasetError(
                    f"{out} already holds a dataset with {name}={getattr(existing, name)}, "
                    f"but this {what} has {name}={getattr(fresh, name)}; {advice}"
                )
        return existing
    fresh.save(out)
    return fresh
