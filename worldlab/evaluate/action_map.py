"""From latent to real actions: drive a latent-action model with a world's own actions.

A family that learns from action-free video (``genie``) invents its own actions: a few
latent codes, inferred from consecutive frames by ``model.infer_actions``. Genie maps
them to real actions with a little labelled data ("imitation from video"): infer the
codes on episodes whose real actions are known and pair each transition's code with
the real action that caused it. ``fit_action_map`` does this:

- discrete real actions: latent → real is the majority vote per code; real → latent is
  the code most often inferred for each real action. Scored on held-out episodes as
  accuracy (transitions whose real action equals the map of their code) beside chance
  (the frequency of the most common real action).
- continuous real actions: latent → real is the mean action per code; real → latent is
  the code whose mean is nearest. Scored as R² and mean absolute error beside the error
  of always answering the mean action.

``worldlab map-actions RUN --data LABELLED`` saves the map as ``RUN/action_map.json``.
``with_real_actions(model, RUN)`` then wraps the model so that it takes real actions;
``worldlab play RUN`` does this by itself when the file exists, and so can any agent::

    model = with_real_actions(worldlab.load("runs/genie"), "runs/genie")
    env = DreamEnv(model, EpisodeDataset("data/video"), num_envs=8)
    obs, _ = env.reset(seed=0)
    obs, reward, terminated, truncated, _ = env.step(np.array([2] * 8))  # real actions
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import torch

from worldlab.data.dataset import EpisodeDataset
from worldlab.data.episode import read_json, write_json
from worldlab.errors import WorldlabError
from worldlab.evaluate.open_loop import check_frame_shape
from worldlab.models.base import ActionSpec, WorldModel
from worldlab.models.real_actions import RealActionModel
from worldlab.progress import progress_bar

ACTION_MAP_NAME = "action_map.json"


@dataclasses.dataclass
class ActionMap:
    """How a model's latent codes and a world's real actions translate into each other.

    ``latent_to_real``: ``[codes]`` real action indices (discrete) or ``[codes][D]`` mean
    actions (continuous); ``real_to_latent``: ``[n]`` codes (discrete only; continuous
    actions go to the code with the nearest mean); ``code_counts``: transitions per code
    in the fit; ``metrics``: the held-out scores of ``fit_action_map``.
    """

    real_action: dict[str, Any]  # the labelled dataset's manifest action spec
    codes: int
    latent_to_real: list
    real_to_latent: list[int] | None
    code_counts: list[int]
    metrics: dict[str, Any]
    data: str = ""

    @property
    def real_spec(self) -> ActionSpec:
        return ActionSpec.from_manifest(self.real_action)

    def to_real(self, latent: torch.Tensor) -> torch.Tensor:
        """Codes ``[...] int`` → real actions ``[...] int64`` or ``[..., D] float32``."""
        dtype = torch.int64 if self.real_spec.kind == "discrete" else torch.float32
        table = torch.tensor(self.latent_to_real, dtype=dtype, device=latent.device)
        return table[self._codes(latent)]

    def to_latent(self, real: torch.Tensor) -> torch.Tensor:
        """Real actions ``[...] int`` or ``[..., D] float`` → codes ``[...] int64``."""
        spec = self.real_spec
        if spec.kind == "discrete":
            index = real.long()
            if index.numel() and (index.min() < 0 or index.max() >= spec.n):
                raise WorldlabError(
                    f"real actions must lie in 0..{spec.n - 1}, got {real.tolist()}"
                )
            table = torch.tensor(self.real_to_latent, dtype=torch.int64, device=real.device)
            return table[index]
        seen = torch.tensor(
            [c for c, n in enumerate(self.code_counts) if n > 0], device=real.device
        )
        means = torch.tensor(self.latent_to_real, dtype=torch.float32, device=real.device)[seen]
        flat = real.float().reshape(-1, spec.dims).clamp(-1, 1)
        nearest = torch.cdist(flat, means).argmin(1)
        return seen[nearest].reshape(real.shape[:-1])

    def _codes(self, latent: torch.Tensor) -> torch.Tensor:
        codes = latent.long()
        if codes.numel() and (codes.min() < 0 or codes.max() >= self.codes):
            raise WorldlabError(
                f"latent codes must lie in 0..{self.codes - 1}, got {latent.tolist()}"
            )
        return codes

    def save(self, path: str | Path) -> Path:
        """Write the map as JSON, atomically."""
        path = Path(path)
        write_json(path, dataclasses.asdict(self))
        return path

    @classmethod
    def load(cls, path: str | Path) -> ActionMap:
        path = Path(path)
        refit = "refit it with `worldlab map-actions RUN --data LABELLED_DIR`"
        record = read_json(path, f"{path} does not exist; {refit}", refit)
        try:
            return cls(**record)
        except TypeError as error:
            raise WorldlabError(f"{path} is not an action map ({error}); {refit}") from None


# -- fitting ------------------------------------------------------------------------------
def _check_fit_inputs(model: WorldModel, dataset: EpisodeDataset) -> None:
    if not dataset.has_actions:
        raise WorldlabError(
            f"{dataset.root} has no actions: map latent actions with a labelled dataset of "
            "the same world, e.g. `worldlab collect --env ENV --out DIR`"
        )
    check_frame_shape(model, dataset, "collect the labelled data with that --size")
    if model.action_spec.kind != "discrete":
        raise WorldlabError(
            f"the model's own actions are {model.action_spec.kind}, not discrete latent "
            "codes: only a latent-action model (such as genie) needs its actions mapped"
        )


@torch.no_grad()
def infer_transitions(
    model: WorldModel,
    dataset: EpisodeDataset,
    indices: list[int],
    window: int = 16,
    progress: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Per transition of the given episodes: the inferred code ``[N] int64`` and the real
    action that caused it (``[N]`` or ``[N, D]``).

    Episodes are read in windows of ``window`` frames overlapping by one, so every
    transition is inferred once, with the frames just before it as context.
    """
    latents, reals = [], []
    device = model.device
    with progress_bar(enabled=progress) as bar:
        task = bar.add_task("infer latent actions", total=len(indices), unit="episodes")
        for index in indices:
            episode = dataset.episode(index)
            length = len(episode["obs"])
            for start in range(0, length - 1, window - 1):
                stop = min(start + window, length)
                obs = torch.from_numpy(episode["obs"][start:stop])[None].to(device)
                action = torch.from_numpy(episode["action"][start:stop])[None].to(device)
                codes = model.infer_actions(obs, action)
                if codes.shape != obs.shape[:2] or codes.dtype.is_floating_point:
                    raise WorldlabError(
                        f"{type(model).__name__}.infer_actions returned {list(codes.shape)} "
                        f"{codes.dtype}; expected [B, T] integer latent codes"
                    )
                latents.append(codes[0, 1:].cpu().numpy())  # code t explains frame t-1 → t
                reals.append(episode["action"][start + 1 : stop])
            bar.advance(task)
    return np.concatenate(latents).astype(np.int64), np.concatenate(reals)


def _fit(latents: np.ndarray, reals: np.ndarray, codes: int, real_action: dict) -> dict:
    """``latent_to_real``, ``real_to_latent`` and ``code_counts`` from paired transitions."""
    code_counts = np.bincount(latents, minlength=codes)
    if real_action["type"] == "discrete":
        n = int(real_action["n"])
        counts = np.zeros((codes, n), np.int64)
        np.add.at(counts, (latents, reals.astype(np.int64)), 1)
        common_real = int(counts.sum(0).argmax())
        latent_to_real = np.where(code_counts > 0, counts.argmax(1), common_real)
        seen_real = counts.sum(0) > 0
        real_to_latent = np.where(seen_real, counts.argmax(0), int(code_counts.argmax()))
        return {
            "latent_to_real": latent_to_real.tolist(),
            "real_to_latent": real_to_latent.tolist(),
            "code_counts": code_counts.tolist(),
        }
    reals = reals.reshape(len(reals), -1).astype(np.float64)
    sums = np.zeros((codes, reals.shape[1]))
    np.add.at(sums, latents, reals)
    means = np.where(
        code_counts[:, None] > 0, sums / np.maximum(code_counts, 1)[:, None], reals.mean(0)
    )
    return {
        "latent_to_real": means.tolist(),
        "real_to_latent": None,
        "code_counts": code_counts.tolist(),
    }


def _score(
    fitted: dict, latents: np.ndarray, reals: np.ndarray, real_action: dict, fit_reals
) -> dict:
    """Held-out scores of a fitted map on ``latents``/``reals``."""
    if real_action["type"] == "discrete":
        predicted = np.asarray(fitted["latent_to_real"])[latents]
        real_to_latent = np.asarray(fitted["real_to_latent"])
        round_trip = np.asarray(fitted["latent_to_real"])[real_to_latent] == np.arange(
            len(real_to_latent)
        )
        return {
            "accuracy": float((predicted == reals).mean()),
            "chance": float(np.bincount(reals.astype(np.int64)).max() / len(reals)),
            "round_trip": float(round_trip.mean()),  # real → code → real gives the same action
        }
    reals = reals.reshape(len(reals), -1).astype(np.float64)
    predicted = np.asarray(fitted["latent_to_real"])[latents]
    baseline = np.asarray(fit_reals, np.float64).reshape(-1, reals.shape[1]).mean(0)
    total = ((reals - reals.mean(0)) ** 2).sum()
    return {
        "r2": float(1 - ((reals - predicted) ** 2).sum() / total) if total > 0 else None,
        "mae": float(np.abs(reals - predicted).mean()),
        "chance_mae": float(np.abs(reals - baseline).mean()),
    }


def action_map_from_pairs(
    latents: np.ndarray, reals: np.ndarray, codes: int, real_action: dict, data: str = ""
) -> ActionMap:
    """The map fitted on paired transitions (inferred codes ``[N]``, real actions ``[N]``
    or ``[N, D]``), e.g. a handful of labelled ones; ``metrics`` is left empty."""
    return ActionMap(
        real_action=real_action,
        codes=codes,
        metrics={},
        data=data,
        **_fit(np.asarray(latents, np.int64), np.asarray(reals), codes, real_action),
    )


def score_action_map(action_map: ActionMap, latents: np.ndarray, reals: np.ndarray) -> dict:
    """Accuracy and chance (discrete) or R² and errors (continuous) of ``action_map`` on
    paired transitions it was not fitted on."""
    fitted = dataclasses.asdict(action_map)
    return _score(
        fitted, np.asarray(latents, np.int64), np.asarray(reals), action_map.real_action, reals
    )


def fit_action_map(
    model: WorldModel,
    labelled_dataset: EpisodeDataset,
    episodes: int | None = None,
    holdout: float = 0.25,
    window: int = 16,
    progress: bool = True,
) -> ActionMap:
    """Map ``model``'s latent codes to the real actions of ``labelled_dataset``.

    The first ``episodes`` episodes are used (all if None). Scores come from a map fitted
    on the first ``1 - holdout`` of them and tested on the rest (in-sample, flagged
    ``held_out: false``, with a single episode); the returned map is then refitted on all.
    """
    _check_fit_inputs(model, labelled_dataset)
    count = len(labelled_dataset) if episodes is None else min(episodes, len(labelled_dataset))
    if count == 0:
        raise WorldlabError(f"{labelled_dataset.root} has no readable episodes to fit a map on")
    if not 0 < holdout < 1:
        raise WorldlabError(f"holdout must lie in (0, 1), e.g. 0.25; got {holdout}")
    scored_count = min(max(1, round(holdout * count)), count - 1)  # 0 with one episode
    fit_episodes = list(range(count - scored_count))
    scored_episodes = list(range(count - scored_count, count))
    codes = int(model.action_spec.n)
    was_training = model.training
    model.eval()
    try:
        fit_pairs = infer_transitions(model, labelled_dataset, fit_episodes, window, progress)
        scored_pairs = (
            infer_transitions(model, labelled_dataset, scored_episodes, window)
            if scored_episodes
            else fit_pairs  # one episode: scored in-sample
        )
    finally:
        model.train(was_training)
    pairs = [fit_pairs, scored_pairs] if scored_episodes else [fit_pairs]
    latents = np.concatenate([latent for latent, _ in pairs])
    reals = np.concatenate([real for _, real in pairs])
    if latents.min() < 0 or latents.max() >= codes:
        raise WorldlabError(
            f"{type(model).__name__}.infer_actions returned codes "
            f"{latents.min()}..{latents.max()}, outside its action space 0..{codes - 1}"
        )
    real_action = labelled_dataset.manifest.action
    partial = _fit(*fit_pairs, codes, real_action)
    metrics = _score(partial, *scored_pairs, real_action, fit_pairs[1])
    metrics.update(
        held_out=bool(scored_episodes),
        episodes_fit=len(fit_episodes),
        episodes_scored=len(scored_episodes) or len(fit_episodes),
        transitions_fit=len(fit_pairs[0]),
        transitions_scored=len(scored_pairs[0]),
        codes_used=int((np.bincount(latents, minlength=codes) > 0).sum()),
    )
    return ActionMap(
        real_action=real_action,
        codes=codes,
        metrics=metrics,
        data=str(labelled_dataset.root),
        **_fit(latents, reals, codes, real_action),
    )


# -- driving a latent-action model with real actions ------------------------------------------
def with_real_actions(model: WorldModel, run_dir: str | Path, required: bool = True) -> WorldModel:
    """``model`` taking real actions through ``run_dir/action_map.json``.

    Without that file: an error that says how to make it, or, with ``required=False``,
    the model unchanged.
    """
    path = Path(run_dir) / ACTION_MAP_NAME
    if not path.exists():
        if not required:
            return model
        raise WorldlabError(
            f"{run_dir} has no {ACTION_MAP_NAME}: fit one with "
            f"`worldlab map-actions {run_dir} --data LABELLED_DIR`"
        )
    action_map = ActionMap.load(path)
    spec = model.action_spec
    if spec.kind != "discrete" or spec.n != action_map.codes:
        raise WorldlabError(
            f"{path} maps {action_map.codes} latent codes, but the model takes "
            f"{spec.kind} actions ({spec.n or spec.dims}); refit it with `worldlab map-actions`"
        )
    return RealActionModel(model, action_map)
