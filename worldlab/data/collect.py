"""Collect episodes from a world into a dataset directory.

Episode ``i`` is collected with seed ``seed + i``, so a rerun into the same
directory recollects exactly the episodes that are missing (or unreadable) and
leaves the others untouched. Built-in worlds also caption every episode from its
ground truth (``captions.json``, ``worldlab.data.captions``).

Skinned worlds (``worldlab.worlds.skins``) can be collected in several visual styles,
episode ``i`` in ``skins[i % len(skins)]`` (array ``style``), and with their ground-truth
control maps (arrays ``seg`` and ``depth``), for control-conditioned generation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium
import numpy as np

import worldlab
from worldlab.data.captions import add_caption
from worldlab.data.dataset import EpisodeDataset, episode_index
from worldlab.data.episode import episode_filename, write_episode
from worldlab.data.manifest import Manifest, action_spec, open_dataset
from worldlab.data.policies import Policy, make_policy
from worldlab.errors import WorldlabError
from worldlab.progress import progress_bar
from worldlab.worlds import BUILTIN_WORLDS, make_env, resolve_env_id
from worldlab.worlds.bounce_splits import split_kwargs
from worldlab.worlds.captions import describe
from worldlab.worlds.skins import SKINNED_WORLDS, skin_id


class EpisodeRecorder:
    """Accumulates one episode's steps and returns them in the episode-file layout."""

    def __init__(self, space: gymnasium.Space, obs: np.ndarray, info: dict):
        self.space = space
        self.frames, self.states = [obs], [info.get("state")]
        self.gravity = [info.get("gravity")]  # worlds whose gravity is drawn per episode
        self.actions, self.rewards, self.terminals = [_zero_action(space)], [0.0], [False]
        self.controls: dict[str, list[np.ndarray]] = {}  # per-step maps, when recorded

    def add_controls(self, maps: dict[str, np.ndarray]) -> None:
        """Record the current observation's control maps (``env.controls()``)."""
        for key, value in maps.items():
            self.controls.setdefault(key, []).append(value)

    def add(self, action: Any, obs: np.ndarray, reward: float, terminated: bool, info: dict):
        self.frames.append(obs)
        self.states.append(info.get("state"))
        self.gravity.append(info.get("gravity"))
        self.actions.append(np.asarray(action))
        self.rewards.append(float(reward))
        self.terminals.append(bool(terminated))

    @property
    def steps(self) -> int:
        return len(self.frames) - 1

    def arrays(self, truncated: bool, drop_actions: bool = False) -> dict[str, np.ndarray]:
        length = len(self.frames)
        arrays = {
            "obs": np.stack(self.frames).astype(np.uint8),
            "action": _stack_actions(self.actions, self.space),
            "reward": np.array(self.rewards, np.float32),
            "terminated": np.array(self.terminals, bool),
            "truncated": np.zeros(length, bool),
        }
        arrays["truncated"][-1] = truncated and not self.terminals[-1]
        if all(s is not None for s in self.states):
            arrays["state"] = np.stack(self.states).astype(np.float32)
            if all(g is not None for g in self.gravity):
                arrays["gravity"] = np.array(self.gravity, np.float32)
        for key, maps in self.controls.items():
            arrays[key] = np.stack(maps)
        if drop_actions:
            arrays["action"] = np.zeros((length, 0), np.float32)
        return arrays


def run_episode(
    env: gymnasium.Env,
    seed: int,
    max_steps: int | None = None,
    policy: Policy | None = None,
    drop_actions: bool = False,
    controls: bool = False,
) -> dict[str, np.ndarray]:
    """Play one episode; return its arrays in the episode-file layout (with every step's
    ``env.controls()`` maps when ``controls``)."""
    env.action_space.seed(seed)
    obs, info = env.reset(seed=seed)
    recorder = EpisodeRecorder(env.action_space, obs, info)
    if controls:
        recorder.add_controls(env.unwrapped.controls())
    while True:
        action = env.action_space.sample() if policy is None else policy(obs, env.action_space)
        obs, reward, terminated, truncated, info = env.step(action)
        recorder.add(action, obs, reward, terminated, info)
        if controls:
            recorder.add_controls(env.unwrapped.controls())
        if max_steps is not None and recorder.steps >= max_steps and not terminated:
            truncated = True
        if terminated or truncated:
            return recorder.arrays(truncated, drop_actions)


def _zero_action(space: gymnasium.Space) -> np.ndarray:
    if isinstance(space, gymnasium.spaces.Discrete):
        return np.asarray(0)
    return np.zeros(space.shape, np.float32)


def _stack_actions(actions: list, space: gymnasium.Space) -> np.ndarray:
    if isinstance(space, gymnasium.spaces.Discrete):
        return np.array([int(a) for a in actions], np.int64)
    return np.stack(actions).astype(np.float32)


def collect(
    env: str,
    out: str | Path,
    episodes: int,
    max_steps: int | None = None,
    policy: str | Policy = "random",
    seed: int = 0,
    size: int = 64,
    env_kwargs: dict[str, Any] | None = None,
    drop_actions: bool = False,
    progress: bool = True,
    split: str | None = None,
    skins: list[str] | None = None,
    controls: bool = False,
) -> Manifest:
    """Fill ``out`` with episodes ``0..episodes-1`` of ``env``; return the manifest.

    Existing readable episodes are kept; missing or unreadable ones are collected.
    ``split`` names a distribution of ``bounce`` (``worldlab.worlds.bounce_splits``): its
    keyword arguments are the base that ``env_kwargs`` overrides, and the manifest records it.
    ``skins`` (skinned worlds only): episode ``i`` is drawn in ``skins[i % len(skins)]`` and
    stores its id per step as ``style`` and its objects' hue turn as ``hue`` (a
    ``hue_spread`` skin draws one per episode); a lone ``env_kwargs["skin"]`` counts as one skin.
    ``controls``: also store every step's ground-truth ``seg`` and ``depth`` maps. The
    manifest records both, and a rerun must ask for the same.
    """
    out = Path(out)
    env_kwargs = dict(env_kwargs or {})
    skins = list(skins or [])
    if "skin" in env_kwargs:
        if skins:
            raise WorldlabError("give the skins once: with --skins, not also as --env-arg skin=")
        skins = [env_kwargs.pop("skin")]
    styles = [skin_id(name) for name in skins]  # unknown names fail before any work
    env_id = resolve_env_id(env)
    if split is not None:
        if env_id != BUILTIN_WORLDS["bounce"][0]:
            raise WorldlabError(
                f"split {split!r} is a distribution of the bounce world, not of '{env}': "
                "collect it with --env bounce, or leave out --split"
            )
        env_kwargs = split_kwargs(split, env_kwargs)
    world = make_env(env_id, size=size, **env_kwargs)
    if (skins or controls) and not hasattr(world.unwrapped, "controls"):
        raise WorldlabError(
            f"'{env}' has no skins or control maps; only the built-in worlds "
            f"{', '.join(SKINNED_WORLDS)} do: collect one of them, or leave out --skins "
            "and --controls"
        )
    if isinstance(policy, str):
        policy = make_policy(policy, world)
    seg_classes = list(world.unwrapped.SEGMENT_CLASSES) if controls else []
    manifest = open_manifest(
        out, env_id, world, env_kwargs, drop_actions, split, skins, seg_classes
    )
    existing = EpisodeDataset(out)
    manifest.episodes, manifest.steps = len(existing), existing.num_steps
    have = {episode_index(path) for path in existing.paths}
    todo = [i for i in range(episodes) if i not in have]
    with progress_bar(enabled=progress) as bar:
        task = bar.add_task(f"collect {env_id}", total=len(todo), unit="episodes")
        for index in todo:
            if skins:
                world.unwrapped.set_skin(skins[index % len(skins)])
            arrays = run_episode(world, seed + index, max_steps, policy, drop_actions, controls)
            if skins:
                length = len(arrays["obs"])
                arrays["style"] = np.full(length, styles[index % len(skins)], np.int64)
                arrays["hue"] = np.full(length, world.unwrapped.hue, np.float32)
            description = describe(world, arrays)
            if description is not None:  # first: no episode is ever left without one
                add_caption(out, episode_filename(index), description)
            append_episode(out, manifest, index, arrays)
            bar.advance(task)
    world.close()
    manifest.save(out)
    return manifest


def append_episode(out: Path, manifest: Manifest, index: int, arrays: dict[str, np.ndarray]):
    """Write episode ``index`` atomically and count it in the dataset's manifest."""
    write_episode(Path(out) / episode_filename(index), arrays)
    manifest.has_state = "state" in arrays
    manifest.state_dims = int(arrays["state"].shape[-1]) if "state" in arrays else 0
    manifest.episodes += 1
    manifest.steps += len(arrays["obs"]) - 1
    manifest.save(out)


def open_manifest(
    out: Path,
    env_id: str,
    world: gymnasium.Env,
    env_kwargs: dict,
    drop_actions: bool,
    split: str | None = None,
    skins: list[str] | None = None,
    seg_classes: list[str] | None = None,
) -> Manifest:
    fresh = Manifest(
        env_id=env_id,
        obs_shape=list(world.observation_space.shape),
        action=action_spec(None if drop_actions else world.action_space),
        env_kwargs=env_kwargs,
        split=split,
        skins=list(skins or []),
        seg_classes=list(seg_classes or []),
        worldlab_version=worldlab.__version__,
    )
    return open_dataset(out, fresh, "collection", "choose another --out directory")
