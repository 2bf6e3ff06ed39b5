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

from worldlab.data.episode import atomic_write_bytes
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
        text = json.dumps(asdict(self), indent=2) + "\n"
        atomic_write_bytes(Path(root) / MANIFEST_NAME, lambda file: file.write(text.encode()))

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
