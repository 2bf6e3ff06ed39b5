"""An online run's replay: every finished episode, as a standard dataset in ``RUN/replay``.

The Trainer samples from ``Replay.dataset``; the replay grows by one episode at a time and,
on resume, drops the episodes played after the checkpoint (they are played again).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium
import numpy as np

from worldlab.data.collect import append_episode, open_manifest
from worldlab.data.dataset import EpisodeDataset, episode_index


class Replay:
    def __init__(self, root: Path, env_id: str, world: gymnasium.Env, env_kwargs: dict[str, Any]):
        self.root = Path(root)
        self.manifest = open_manifest(self.root, env_id, world, env_kwargs, drop_actions=False)
        self.dataset = EpisodeDataset(self.root)

    def append(self, index: int, arrays: dict[str, np.ndarray]) -> None:
        """Store episode ``index`` and let the dataset see it."""
        append_episode(self.root, self.manifest, index, arrays)
        self.dataset.refresh()

    def keep_first(self, episodes: int) -> None:
        """Remove every episode from index ``episodes`` on (readable or not)."""
        dataset = self.dataset
        files = [*dataset.paths, *dataset.corrupt]
        dataset.remove([path for path in files if episode_index(path) >= episodes])
        self.manifest.episodes, self.manifest.steps = len(dataset), dataset.num_steps
        self.manifest.save(self.root)
