"""Imagine an episode open loop and show it beside the real one: ground truth | imagined | error.

The first ``context`` imagined frames are the real frames the model observed, so the
two videos line up frame for frame; after them the model runs open loop (marked by a
red dot in the imagined panel) under the dataset's actions, random actions or
actions you give it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from worldlab.data.video import write_video
from worldlab.errors import WorldlabError
from worldlab.models.base import ActionSpec, WorldModel

GAP = 2  # white pixels between the three panels
OPEN_LOOP_COLOUR = (255, 40, 40)


def _check_actions(actions: Any, spec: ActionSpec, horizon: int) -> np.ndarray:
    """User-given actions for the imagined steps → the first ``horizon`` of them, validated."""
    if isinstance(actions, (str, Path)):
        actions = np.load(actions)  # an .npy file of actions
    actions = np.asarray(actions)
    if actions.ndim == 0 or len(actions) < horizon:
        given = "a scalar" if actions.ndim == 0 else f"{len(actions)} actions"
        raise WorldlabError(
            f"imagining {horizon} steps needs at least {horizon} actions, got "
            f"{given}; pass a longer action array or a shorter horizon"
        )
    actions = actions[:horizon]
    if spec.kind == "discrete":
        if actions.ndim != 1 or not np.issubdtype(actions.dtype, np.integer):
            raise WorldlabError(
                f"this model takes discrete actions: an integer array [steps], "
                f"got {actions.dtype} {list(actions.shape)}"
            )
        if actions.min() < 0 or actions.max() >= spec.n:
            raise WorldlabError(
                f"discrete actions must lie in 0..{spec.n - 1}, got "
                f"{actions.min()}..{actions.max()}"
            )
        return actions.astype(np.int64)
    if spec.kind == "continuous":
        flat = actions.reshape(len(actions), -1) if actions.ndim > 1 else actions[:, None]
        if flat.shape[1] != spec.dims or not np.issubdtype(actions.dtype, np.number):
            raise WorldlabError(
                f"this model takes continuous actions: a float array "
                f"[steps, {spec.dims}], got {actions.dtype} {list(actions.shape)}"
            )
        if not np.isfinite(flat).all() or np.abs(flat).max() > 1:
            raise WorldlabError(
                "continuous actions must be finite and lie in [-1, 1] (worldlab's "
                "convention); rescale them from the environment's bounds"
            )
        return flat.astype(np.float32)
    return np.zeros((horizon, 0), np.float32)  # action-free model: actions carry nothing


def imagine_episode(
    model: WorldModel,
    episode: dict[str, np.ndarray],
    context: int = 5,
    horizon: int | None = None,
    actions: Any = "dataset",
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Observe the first ``context`` frames of ``episode``, then imagine ``horizon`` steps.

    ``episode``: arrays as ``EpisodeDataset.episode`` returns (``obs [L, H, W, C] uint8``,
    ``action [L]`` or ``[L, A]``). ``horizon`` defaults to the rest of the episode.
    ``actions`` for the imagined steps: ``"dataset"`` (the recorded ones), ``"random"``
    (``model.action_spec.random`` seeded by ``seed``) or an array (or ``.npy`` path) of at
    least ``horizon`` actions. Returns ``real`` and ``imagined`` ``[T, H, W, C] uint8`` with
    ``T = context + horizon`` (imagined's first ``context`` frames are the real ones),
    the imagined steps' ``actions [horizon]`` or ``[horizon, A]`` (``actions[k]`` led to
    frame ``context + k``) and their predicted ``reward [horizon]``.
    """
    obs, recorded = np.asarray(episode["obs"]), np.asarray(episode["action"])
    if context < 1 or context >= len(obs):
        raise WorldlabError(
            f"context must be 1..{len(obs) - 1} for an episode of {len(obs)} "
            f"observations, got {context}"
        )
    available = len(obs) - context
    horizon = available if horizon is None else horizon
    if not 1 <= horizon <= available:
        raise WorldlabError(
            f"horizon {horizon} does not fit: the episode has {len(obs)} "
            f"observations and {context} are context, so 1..{available} steps "
            "can be compared with real frames"
        )
    spec = model.action_spec
    steps = context + horizon
    if isinstance(actions, str) and actions == "dataset":
        imagined_actions = recorded[context:steps]
    elif isinstance(actions, str) and actions == "random":
        generator = torch.Generator().manual_seed(seed)
        imagined_actions = spec.random((horizon,), generator=generator).numpy()
    else:
        imagined_actions = _check_actions(actions, spec, horizon)
    is_first = np.asarray(episode.get("is_first", np.arange(len(obs)) == 0))
    frames, rewards = dream(
        model, obs[:context], recorded[:context], is_first[:context], imagined_actions, seed
    )
    return {
        "real": obs[:steps].copy(),
        "imagined": np.concatenate([obs[:context], frames]),
        "actions": np.asarray(imagined_actions),
        "reward": rewards,
    }


def dream(
    model: WorldModel,
    obs: np.ndarray,
    actions: np.ndarray,
    is_first: np.ndarray,
    imagined_actions: np.ndarray,
    seed: int = 0,
    text: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Observe ``obs [K, H, W, C]`` (with the ``actions`` that led to them and ``is_first``),
    then take ``imagined_actions [horizon, ...]`` one by one: the imagined frames
    ``[horizon, H, W, C] uint8`` and predicted rewards ``[horizon]``. The model's sampling is
    reproducible under ``seed`` and leaves the global random state as it was.

    With a caption embedding ``text [D]`` the world is started by ``model.prompt`` and every
    step is conditioned on it; with ``text`` and no ``obs`` (K = 0, text2world) the frame
    generated from the text alone comes first (``horizon + 1`` frames, its reward 0)."""
    device = model.device
    was_training = model.training
    model.eval()
    frames, rewards = [], []
    try:
        with (
            torch.no_grad(),
            torch.random.fork_rng(devices=[device.index or 0] if device.type == "cuda" else []),
        ):
            torch.manual_seed(seed)
            if text is not None:
                given = torch.from_numpy(np.ascontiguousarray(obs)[None]).to(device)
                embedding = torch.as_tensor(np.asarray(text, np.float32)[None], device=device)
                state = model.prompt(embedding, given if len(obs) else None)
                if not len(obs):
                    frames.append(model.render(state)[0].cpu().numpy())
                    rewards.append(0.0)
            else:
                state = model.observe(
                    torch.from_numpy(np.ascontiguousarray(obs)[None]).to(device),
                    torch.from_numpy(np.ascontiguousarray(actions)[None]).to(device),
                    torch.from_numpy(np.ascontiguousarray(is_first)[None]).to(device),
                )
            step_actions = torch.from_numpy(np.ascontiguousarray(imagined_actions)).to(device)
            for k in range(len(step_actions)):
                state, reward, _ = model.step(state, step_actions[k : k + 1])
                frames.append(model.render(state)[0].cpu().numpy())
                rewards.append(float(torch.as_tensor(reward).reshape(-1)[0]))
    finally:
        model.train(was_training)
    return np.stack(frames).astype(np.uint8), np.array(rewards, np.float32)


def comparison_frames(
    real: np.ndarray, imagined: np.ndarray, context: int, gap: int = GAP
) -> np.ndarray:
    """Side by side: ground truth | imagined | |error| ×2, white gaps, red dot when open loop.

    ``real, imagined: [T, H, W, C] uint8`` (C = 1 or 3) → ``[T, H, 3W + 2·gap, 3] uint8``.
    """
    real, imagined = np.asarray(real, np.uint8), np.asarray(imagined, np.uint8)
    if real.shape != imagined.shape or real.ndim != 4 or real.shape[-1] not in (1, 3):
        raise WorldlabError(
            f"real and imagined must both be [T, H, W, 1 or 3] uint8, got "
            f"{list(real.shape)} and {list(imagined.shape)}"
        )
    if real.shape[-1] == 1:
        real, imagined = real.repeat(3, -1), imagined.repeat(3, -1)
    steps, height, width, _ = real.shape
    error = np.abs(real.astype(np.int16) - imagined.astype(np.int16)) * 2  # ×2: faint errors show
    canvas = np.full((steps, height, 3 * width + 2 * gap, 3), 255, np.uint8)
    for panel, frames in enumerate((real, imagined, np.clip(error, 0, 255).astype(np.uint8))):
        left = panel * (width + gap)
        canvas[:, :, left : left + width] = frames
    dot = max(2, height // 12)
    left = width + gap + 1  # top-left corner of the imagined panel
    canvas[context:, 1 : 1 + dot, left : left + dot] = OPEN_LOOP_COLOUR
    return canvas


def write_imagination(
    model: WorldModel,
    episode: dict[str, np.ndarray],
    path: str | Path,
    context: int = 5,
    horizon: int | None = None,
    actions: Any = "dataset",
    seed: int = 0,
    fps: int = 15,
    scale: int = 4,
) -> Path:
    """Imagine ``episode`` (see ``imagine_episode``) and write the comparison video to
    ``path`` (``.mp4`` or ``.gif``); returns the path."""
    result = imagine_episode(model, episode, context, horizon, actions, seed)
    frames = comparison_frames(result["real"], result["imagined"], context)
    return write_video(frames, path, fps=fps, scale=scale)
