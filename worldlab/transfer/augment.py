"""The data engine: a dataset re-rendered in other styles, N times larger (Cosmos Transfer).

Every source episode is kept (``keep_original``) and re-rendered in ``styles`` other
styles by a control-conditioned model. A re-rendered episode keeps every array of its
source (actions, rewards, terminations, ground-truth state and control maps); only its
frames are new, and its ``style`` and ``hue`` arrays say which style made them. A style
that draws object hues at random (``hue_spread``) gets one turn per episode, drawn as the
simulator draws it and given to a model with ``hue_input`` (a model without one picks its
own, recorded as unknown, −1). A style that strews distractor shapes gets a layout per
episode too, drawn as the simulator lays it out and written into the segmentation the
model is steered by (``clutter.py``; ``clutter=False``: none). ``augment.json`` names the
source, style and hue of every episode, and whether clutter was placed. Episodes are
written atomically and a rerun into the same ``out`` makes only the missing ones.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from worldlab.data.dataset import EpisodeDataset
from worldlab.data.episode import (
    episode_filename,
    read_episode,
    read_json,
    write_episode,
    write_json,
)
from worldlab.data.manifest import Manifest, open_dataset
from worldlab.errors import WorldlabError
from worldlab.models.base import WorldModel
from worldlab.progress import progress_bar
from worldlab.transfer.clutter import clutter_layout, has_clutter, place_clutter, world_layers
from worldlab.transfer.render import ControlSpec, check_model, transfer_frames
from worldlab.worlds import BUILTIN_WORLDS
from worldlab.worlds.skins import (
    SKINNED_WORLDS,
    episode_look,
    fixed_hue,
    get_skin,
    skin_id,
    skin_name,
)

RECORD = "augment.json"


def trained_styles(model: WorldModel, run: str | Path | None = None) -> list[str]:
    """The styles ``model`` learned: the skins of the dataset its run trained on."""
    if run is not None:
        config = read_json(Path(run) / "config.json", f"{run} has no config.json")
        source = Path(config.get("data", {}).get("path", ""))
        if (source / "manifest.json").exists():
            skins = Manifest.load(source).skins
            if skins:
                return list(skins)
    count = int(getattr(model.config, "styles", 0))
    return [skin_name(i) for i in range(count)]


def choose_styles(known: list[str], count: int, own: str | None, seed: int) -> list[str]:
    """``count`` styles from ``known`` other than the episode's ``own``, drawn by ``seed``."""
    others = [name for name in known if name != own]
    if count > len(others):
        raise WorldlabError(
            f"asked for {count} styles per episode, but the model knows only "
            f"{len(others)} other than '{own}': {', '.join(others) or 'none'}"
        )
    order = np.random.default_rng(seed).permutation(len(others))[:count]
    return [others[i] for i in order]


def _source_style(arrays: dict[str, np.ndarray], manifest: Manifest, index: int) -> str | None:
    """The skin an episode was drawn in (``None`` where unknown: not a built-in world)."""
    if "style" in arrays and len(arrays["style"]) and int(arrays["style"][0]) >= 0:
        return skin_name(int(arrays["style"][0]))
    if manifest.skins:
        return manifest.skins[index % len(manifest.skins)]
    if any(manifest.env_id == BUILTIN_WORLDS[name][0] for name in SKINNED_WORLDS):
        return manifest.env_kwargs.get("skin", "flat")
    return None


def augment(
    model: WorldModel,
    data: str | Path,
    out: str | Path,
    spec: ControlSpec,
    styles: int | list[str] = 1,
    run: str | Path | None = None,
    keep_original: bool = True,
    batch_size: int = 16,
    seed: int = 0,
    progress: bool = True,
    clutter: bool = True,
) -> dict[str, Any]:
    """Write ``out``: every episode of ``data`` (if ``keep_original``) and its re-renderings
    in ``styles`` styles (a count, drawn per episode from the model's trained styles, or
    a list of style names used for every episode). ``clutter``: give styles with
    distractors a layout in the seg control (needs a ``seg`` control and a world whose
    backdrop is fixed to the frame). Returns the ``augment.json`` record."""
    check_model(model, spec)
    data, out = Path(data), Path(out)
    source = EpisodeDataset(data)
    if len(source) == 0:
        raise WorldlabError(f"{data} has no readable episodes to augment")
    if tuple(source.obs_shape) != tuple(model.obs_shape):
        raise WorldlabError(
            f"{data} holds {list(source.obs_shape)} frames, the model makes "
            f"{list(model.obs_shape)}: collect at the model's size"
        )
    known = trained_styles(model, run)
    for name in styles if isinstance(styles, list) else []:
        skin_id(name)  # a clear error for an unknown name
    per_episode = len(styles) if isinstance(styles, list) else int(styles)
    if per_episode < 1:
        raise WorldlabError(f"--styles must be at least 1, got {per_episode}")
    manifest = source.manifest
    block = per_episode + int(keep_original)
    all_styles = sorted(set(known) | set(manifest.skins), key=skin_id)
    fresh = Manifest(
        env_id=manifest.env_id,
        obs_shape=list(manifest.obs_shape),
        action=manifest.action,
        env_kwargs=manifest.env_kwargs,
        split=manifest.split,
        skins=all_styles,
        seg_classes=manifest.seg_classes,
        worldlab_version=manifest.worldlab_version,
    )
    out.mkdir(parents=True, exist_ok=True)
    target = open_dataset(out, fresh, "augmentation", "choose another --out directory")
    record_path = out / RECORD
    record = read_json(record_path, "") if record_path.exists() else {}
    layers = world_layers(manifest.env_id) if clutter and "seg" in spec.controls else None
    record.update(
        {"source": str(data), "run": None if run is None else str(run), **spec.describe(),
         "sampling": model.sampling_settings(), "clutter": layers is not None}
    )  # fmt: skip
    record.setdefault("episodes", {})
    steers_hue = bool(getattr(model.config, "hue_input", False))
    # One job per output episode that does not exist yet:
    # (out index, source index, style, original, length, hue).
    jobs = []
    for index in range(len(source)):
        arrays = read_episode(source.paths[index])  # memory-mapped: style and length only
        own = _source_style(arrays, manifest, index)
        chosen = (
            styles
            if isinstance(styles, list)
            else choose_styles(known, per_episode, own, seed * 1_000_003 + index)
        )
        names = ([own] if keep_original else []) + list(chosen)
        for k, name in enumerate(names):
            out_index = index * block + k
            if not (out / episode_filename(out_index)).exists():
                original = keep_original and k == 0
                if original:
                    hue = _own_hue(arrays, own)
                else:
                    hue = _chosen_hue(name, seed * 1_000_003 + out_index, steers_hue)
                jobs.append((out_index, index, name, original, len(arrays["obs"]), hue))
    with progress_bar(enabled=progress) as bar:
        task = bar.add_task("augment", total=len(jobs), unit="episodes")
        for original in [job for job in jobs if job[3]]:
            _write(out, target, record, original, _whole(source, original[1]), source)
            bar.advance(task)
        pending = [job for job in jobs if not job[3]]
        # Batch episodes that share a style and a length.
        pending.sort(key=lambda job: (job[2], job[4], job[0]))
        while pending:
            head = pending[0]
            group = [j for j in pending if j[2] == head[2] and j[4] == head[4]][:batch_size]
            pending = [j for j in pending if j not in group]
            episodes = [_whole(source, j[1]) for j in group]
            placing = layers is not None and has_clutter(head[2])
            if placing:
                episodes = [
                    _with_clutter(e, head[2], seed * 1_000_003 + j[0], manifest, layers)
                    for e, j in zip(episodes, group, strict=True)
                ]
            styled = transfer_frames(
                model,
                np.stack([e["obs"] for e in episodes]),
                spec,
                skin_id(head[2]),
                maps=_maps(episodes),
                actions=_actions(model, episodes),
                seed=seed + head[0],
                hue=np.array([j[5] for j in group]) if steers_hue else None,
            )
            for job, episode, frames in zip(group, episodes, styled, strict=True):
                placed = placing and "seg" in episode
                _write(out, target, record, job, {**episode, "obs": frames}, source, placed)
                bar.advance(task)
    target.save(out)
    write_json(record_path, record)
    return record


def _own_hue(arrays: dict[str, np.ndarray], style: str | None) -> float:
    """A source episode's recorded hue turn, else its skin's fixed one, else −1."""
    if "hue" in arrays and len(arrays["hue"]):
        return float(arrays["hue"][0])
    known = None if style is None else fixed_hue(style)
    return -1.0 if known is None else known


def _chosen_hue(style: str, seed: int, steers_hue: bool) -> float:
    """The hue turn a re-rendering in ``style`` is asked for: the skin's own, or for a
    ``hue_spread`` skin one drawn as the simulator would (−1 where the model cannot be told)."""
    known = fixed_hue(style)
    if known is not None:
        return known
    return episode_look(get_skin(style), seed).hue_shift if steers_hue else -1.0


def _with_clutter(episode: dict, style: str, seed: int, manifest: Manifest, layers) -> dict:
    """``episode`` with ``style``'s distractor layout for skin seed ``seed`` in its seg
    (and depth): what the model is steered by and what the written episode records."""
    if "seg" not in episode:
        return episode
    layout = clutter_layout(style, episode["seg"].shape[-2:], seed)
    seg, depth = place_clutter(
        episode["seg"], layout, manifest.seg_classes, layers, episode.get("depth")
    )
    return {**episode, "seg": seg, **({} if depth is None else {"depth": depth})}


def _maps(episodes: list[dict]) -> dict[str, np.ndarray]:
    return {
        name: np.stack([e[name] for e in episodes])
        for name in ("seg", "depth")
        if all(name in e for e in episodes)
    }


def _actions(model: WorldModel, episodes: list[dict]) -> np.ndarray | None:
    if model.action_spec.input_dims == 0 or any(e["action"].size == 0 for e in episodes):
        return None
    return np.stack([e["action"] for e in episodes])


def _write(
    out: Path, manifest: Manifest, record: dict, job: tuple, arrays: dict, source,
    clutter: bool = False,
):  # fmt: skip
    out_index, source_index, style, original, length, hue = job
    # Every episode carries a style and a hue (−1: unknown), so training windows stack.
    arrays["style"] = np.full(length, -1 if style is None else skin_id(style), np.int64)
    arrays["hue"] = np.full(length, hue, np.float32)
    name = episode_filename(out_index)
    write_episode(out / name, arrays)
    manifest.episodes += 1
    manifest.steps += length - 1
    manifest.has_state = "state" in arrays
    manifest.state_dims = int(arrays["state"].shape[-1]) if "state" in arrays else 0
    record["episodes"][name] = {
        "source": source.paths[source_index].name,
        "style": style,
        "hue": None if hue < 0 else round(float(hue), 6),
        "original": original,
        "clutter": clutter,
    }
    manifest.save(out)
    write_json(out / RECORD, record)


def _whole(source: EpisodeDataset, index: int) -> dict[str, np.ndarray]:
    """Episode ``index`` of ``source`` in memory, every array of its file (``truncated``
    too, which ``EpisodeDataset.episode`` leaves out)."""
    return dict(read_episode(source.paths[index], mmap=False))
