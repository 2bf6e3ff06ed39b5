"""The dataset manifest: what world the episodes came from and what they hold.

``manifest.json`` sits beside the episode files. It is rewritten atomically
after every episode, so its counts are a summary; the episode files are the
truth (``EpisodeDataset`` recounts them).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import gymnasium
import numpy as np

from worldlab.data.episode import write_json
from worldlab.errors import DatasetError

MANIFEST_NAME = "manifest.json"


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
        try:
            data = json.loads(path.read_text())
            return cls(**data)
        except FileNotFoundError:
            raise DatasetError(
                f"{root} has no {MANIFEST_NAME}: it is not a worldlab dataset. "
                "Create one with `worldlab collect --env ENV --out DIR`"
            ) from None
        except (json.JSONDecodeError, TypeError) as error:
            raise DatasetError(
                f"{path} is corrupt ({error}); delete it and rerun "
                "`worldlab collect` into the same directory to rebuild it"
            ) from None


def open_dataset(out: Path, fresh: Manifest, what: str, advice: str) -> Manifest:
    """The manifest of dataset ``out``: ``fresh`` for a new directory, else the existing one,
    checked to hold data of the same kind (``what`` makes it; ``advice`` says what to do)."""
    out = Path(out)
    if (out / MANIFEST_NAME).exists():
        existing = Manifest.load(out)
        for name in ("env_id", "obs_shape", "action", "env_kwargs"):
            if getattr(existing, name) != getattr(fresh, name):
                raise DatasetError(
                    f"{out} already holds a dataset with {name}={getattr(existing, name)}, "
                    f"but this {what} has {name}={getattr(fresh, name)}; {advice}"
                )
        return existing
    out.mkdir(parents=True, exist_ok=True)
    fresh.save(out)
    return fresh
