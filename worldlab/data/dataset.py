"""Random access to an episode directory: fixed-length subsequences and whole episodes.

Episodes are memory-mapped, so a dataset far larger than RAM samples fast: a
batch touches only the frames it returns. Episodes appended while the dataset
is open (by ``collect`` or an online agent) are picked up by ``refresh()``,
which every ``sample`` call runs when the directory changed.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path

import numpy as np

from worldlab.data.episode import EPISODE_GLOB, read_episode, validate_episode_file
from worldlab.data.manifest import Manifest
from worldlab.errors import CorruptEpisodeError, DatasetError

BATCH_KEYS = ("obs", "action", "reward", "terminated", "is_first")


class EpisodeDataset:
    """An episode directory written by ``worldlab collect`` (or ``import-video``).

    ``sample(batch_size, length)`` returns a dict of numpy arrays
    ``obs [B, T, H, W, C] uint8``, ``action [B, T] int64 | [B, T, D] float32``,
    ``reward [B, T] float32``, ``terminated [B, T] bool``, ``is_first [B, T] bool``
    (and ``state [B, T, S]`` when the world records it).
    """

    def __init__(self, root: str | Path, episodes: list[int] | None = None, max_open: int = 256):
        self.root = Path(root)
        if not self.root.is_dir():
            problem = (
                "is a file, not a dataset directory" if self.root.exists() else "does not exist"
            )
            raise DatasetError(
                f"dataset directory '{self.root}' {problem}. Create one with "
                f"`worldlab collect --env bounce --episodes 20 --out DIR`"
            )
        self.manifest = Manifest.load(self.root)
        self._subset = None if episodes is None else set(episodes)
        self._open: OrderedDict[Path, dict[str, np.ndarray]] = OrderedDict()
        self._max_open = max_open
        self._lengths: dict[Path, int] = {}
        self.corrupt: dict[Path, str] = {}
        self._dir_mtime = None
        self._captions: dict | None = None  # captions.json, read on first use
        self.paths: list[Path] = []
        self.refresh()

    # -- bookkeeping -----------------------------------------------------------------
    def refresh(self) -> None:
        """Pick up episodes written since the last look (cheap when nothing changed)."""
        mtime = os.stat(self.root).st_mtime_ns
        if mtime == self._dir_mtime:
            return
        self._dir_mtime = mtime
        self._captions = None  # reread: the directory changed
        for path in sorted(self.root.glob(EPISODE_GLOB)):
            if path in self._lengths or path in self.corrupt:
                continue
            if self._subset is not None and episode_index(path) not in self._subset:
                continue
            try:
                self._lengths[path] = len(self._arrays(path)["obs"])
            except CorruptEpisodeError as error:
                self.corrupt[path] = str(error)
        self.paths = sorted(self._lengths)
        self._cumulative = np.cumsum([0] + [self._lengths[p] for p in self.paths])

    def remove(self, paths: list[Path]) -> None:
        """Delete these episode files and forget them (an online run drops the episodes it
        played after its last checkpoint, to play them again)."""
        for path in paths:
            path.unlink()
            self._lengths.pop(path, None)
            self.corrupt.pop(path, None)
            self._open.pop(path, None)
        self._dir_mtime = None  # look again on the next refresh
        self._captions = None
        self.paths = sorted(self._lengths)
        self._cumulative = np.cumsum([0] + [self._lengths[p] for p in self.paths])

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def num_steps(self) -> int:
        """Transitions (observations minus one per episode) over all readable episodes."""
        return int(self._cumulative[-1]) - len(self.paths)

    @property
    def lengths(self) -> list[int]:
        return [self._lengths[p] for p in self.paths]

    @property
    def obs_shape(self) -> tuple[int, ...]:
        return tuple(self.manifest.obs_shape)

    @property
    def has_actions(self) -> bool:
        return self.manifest.action.get("type", "none") != "none"

    def _arrays(self, path: Path) -> dict[str, np.ndarray]:
        arrays = self._open.get(path)
        if arrays is None:
            arrays = read_episode(path)
            self._open[path] = arrays
            if len(self._open) > self._max_open:
                self._open.popitem(last=False)
        else:
            self._open.move_to_end(path)
        return arrays

    def validate(self) -> dict[Path, str]:
        """Read every byte of every episode; return ``{path: problem}`` for the bad ones."""
        problems = dict(self.corrupt)
        for path in self.paths:
            try:
                validate_episode_file(path)
            except CorruptEpisodeError as error:
                problems[path] = str(error)
        return problems

    # -- access ----------------------------------------------------------------------
    def caption(self, index: int) -> dict | None:
        """The ``index``-th readable episode's caption record (``caption`` and the
        attributes it was made from), or None when the dataset has none for it."""
        from worldlab.data.captions import read_captions

        if not 0 <= index < len(self.paths):
            raise DatasetError(f"episode {index} does not exist in {self.root}")
        if self._captions is None:
            self._captions = read_captions(self.root)
        return self._captions.get(self.paths[index].name)

    def episode(self, index: int) -> dict[str, np.ndarray]:
        """The ``index``-th readable episode, whole, as in-memory arrays with ``is_first``."""
        if not 0 <= index < len(self.paths):
            raise DatasetError(
                f"episode {index} does not exist: {self.root} has "
                f"{len(self.paths)} readable episodes (0..{len(self.paths) - 1})"
            )
        return self._window(self.paths[index], 0, self._lengths[self.paths[index]])

    def _window(self, path: Path, start: int, length: int) -> dict[str, np.ndarray]:
        arrays = self._arrays(path)
        out = {
            key: np.array(array[start : start + length])
            for key, array in arrays.items()
            if key != "truncated"
        }
        out["is_first"] = np.zeros(length, bool)
        out["is_first"][0] = start == 0
        return out

    # -- sampling --------------------------------------------------------------------
    def sample(
        self,
        batch_size: int,
        length: int,
        rng: np.random.Generator | None = None,
        cross_episodes: bool = False,
        rank: int = 0,
        world_size: int = 1,
    ) -> dict[str, np.ndarray]:
        """Sample ``batch_size`` random windows of ``length`` observations.

        Without ``cross_episodes`` every window lies inside one episode (episodes
        shorter than ``length`` are never drawn); with it, windows run on into the
        next episode, marked by ``is_first`` (Dreamer's replay does this), so any
        episode length works.

        Sharded (``world_size > 1``): ``rng`` draws one set of ``world_size × batch_size``
        windows, the same on every rank given the same seed, and rank ``r`` returns its
        ``r``-th slice, so ranks never share a window and their slices laid end to end are
        the batch one process would draw with ``world_size × batch_size``.
        """
        rng = rng if rng is not None else np.random.default_rng()
        if not 0 <= rank < world_size:
            raise DatasetError(f"rank {rank} is outside a world of {world_size} processes")
        starts = self.window_starts(world_size * batch_size, length, rng, cross_episodes)
        return self.windows(starts[rank * batch_size : (rank + 1) * batch_size], length)

    def window_starts(
        self, count: int, length: int, rng: np.random.Generator, cross_episodes: bool = False
    ) -> np.ndarray:
        """Starts ``[count] int64`` of random windows, as positions in the dataset's
        observations laid end to end (episode by episode, in file order).

        Every candidate start is equally likely: without ``cross_episodes`` those whose
        window of ``length`` fits inside its episode, with it every observation. Starts
        are drawn without replacement, so no window comes twice while the dataset has at
        least ``count`` candidates; with fewer, each is used once, in random order, before
        any repeats (and so on), so windows repeat only as often as they must.
        """
        self.refresh()
        if not self.paths:
            raise DatasetError(f"{self.root} has no readable episodes to sample from")
        if cross_episodes:
            return _distinct(rng, int(self._cumulative[-1]), count)
        lengths = np.array(self.lengths)
        per_episode = np.maximum(lengths - length + 1, 0)
        if per_episode.sum() == 0:
            raise DatasetError(
                f"no episode in {self.root} has {length} observations (longest: "
                f"{lengths.max()}); sample shorter windows or collect longer episodes"
            )
        candidates = _distinct(rng, int(per_episode.sum()), count)
        # Candidate i is the i-th fitting start, counted over episodes in order.
        ends = np.cumsum(per_episode)
        episode = np.searchsorted(ends, candidates, side="right")
        return self._cumulative[episode] + candidates - (ends - per_episode)[episode]

    def windows(self, starts: np.ndarray, length: int) -> dict[str, np.ndarray]:
        """The windows of ``length`` observations at ``starts`` (from ``window_starts``),
        stacked: ``obs [len(starts), length, H, W, C]`` and so on (see the class)."""
        windows = [self._window_at(int(start), length) for start in starts]
        return {key: np.stack([w[key] for w in windows]) for key in windows[0]}

    def _window_at(self, flat_start: int, length: int) -> dict[str, np.ndarray]:
        """The window at a position of the observations laid end to end; it runs on into the
        next episode (the last into the first) where its own ends."""
        pieces, remaining = [], length
        episode = int(np.searchsorted(self._cumulative, flat_start, side="right") - 1)
        offset = flat_start - int(self._cumulative[episode])
        while remaining > 0:
            path = self.paths[episode % len(self.paths)]
            take = min(remaining, self._lengths[path] - offset)
            pieces.append(self._window(path, offset, take))
            remaining -= take
            episode, offset = episode + 1, 0
        if len(pieces) == 1:
            return pieces[0]
        return {key: np.concatenate([p[key] for p in pieces]) for key in pieces[0]}


def episode_index(path: Path) -> int:
    """``ep_000012.npz`` → 12."""
    return int(Path(path).stem.split("_")[1])


def _distinct(rng: np.random.Generator, population: int, count: int) -> np.ndarray:
    """``count`` of ``range(population)`` without replacement; beyond ``population``, further
    random orders of the whole range follow."""
    if count <= population:
        return rng.choice(population, size=count, replace=False)
    rounds = -(-count // population)
    return np.concatenate([rng.permutation(population) for _ in range(rounds)])[:count]
