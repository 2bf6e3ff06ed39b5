"""Open-loop fidelity: how well a world model predicts held-out futures, per horizon step.

The model observes ``context`` real frames, then imagines ``horizon`` steps under the
recorded actions without seeing any more frames; each imagined frame is scored
(PSNR, SSIM) against the real one, beside two trivial baselines on the very same
frames: repeating the last context frame, and the mean frame. A model that does not
beat them at a horizon has learned nothing useful there.

Only ``observe``, ``step``, ``render`` and ``action_spec`` are used, so any family works.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from worldlab.data.dataset import EpisodeDataset
from worldlab.data.episode import atomic_write_bytes
from worldlab.errors import DatasetError, MissingExtraError, WorldlabError
from worldlab.evaluate.metrics import mean_ci, psnr, ssim
from worldlab.models.base import WorldModel
from worldlab.progress import progress_bar

BASELINES = ("repeat_last", "mean_frame")


def window_starts(length: int, window: int, count: int, rng: np.random.Generator) -> list[int]:
    """Up to ``count`` distinct start indices for ``window`` observations in an episode of
    ``length``: one random start in each of ``count`` equal strata, so they spread out."""
    last = length - window  # the latest start that still fits
    if last < 0:
        return []
    edges = np.linspace(0, last + 1, count + 1)
    starts = {
        int(rng.integers(int(low), max(int(low) + 1, int(high))))
        for low, high in zip(edges[:-1], edges[1:], strict=True)
    }
    return sorted(start for start in starts if start <= last)


def check_frame_shape(
    model: WorldModel, dataset: EpisodeDataset, remedy: str = "evaluate on data of the same world"
) -> None:
    """An error naming both shapes when ``dataset``'s frames are not the ``model``'s."""
    expected = tuple(getattr(model, "obs_shape", dataset.obs_shape))
    if tuple(dataset.obs_shape) != expected:
        raise WorldlabError(
            f"the model was built for {list(expected)} frames but {dataset.root} holds "
            f"{list(dataset.obs_shape)}; {remedy}"
        )


def sample_windows(
    dataset: EpisodeDataset, episodes: int | None, window: int, count: int, seed: int
) -> list[tuple[int, int]]:
    """``(episode index, start)`` of every evaluation window, in episode order."""
    chosen = range(len(dataset)) if episodes is None else range(min(episodes, len(dataset)))
    pairs = []
    for index in chosen:
        rng = np.random.default_rng([seed, index])  # an episode's starts ignore the others
        pairs += [
            (index, start) for start in window_starts(dataset.lengths[index], window, count, rng)
        ]
    if not pairs:
        longest = max((dataset.lengths[i] for i in chosen), default=0)
        raise DatasetError(
            f"no evaluated episode of {dataset.root} has context + horizon = "
            f"{window} observations (longest: {longest}); lower --horizon or "
            "--context, or collect longer episodes"
        )
    return pairs


def mean_dataset_frame(
    dataset: EpisodeDataset, max_frames: int = 2000, seed: int = 0
) -> np.ndarray:
    """Mean of ``max_frames`` frames drawn uniformly (with replacement) → ``[H, W, C] float32``.

    Meant for the *training* set: pass it to ``evaluate_open_loop(mean_frame=...)``.
    """
    rng = np.random.default_rng(seed)
    total = np.zeros(dataset.obs_shape, np.float64)
    drawn = 0
    while drawn < max_frames:
        chunk = min(256, max_frames - drawn)  # bounds memory on large frames
        # Windows of one observation: episodes weighted by length, so frames are uniform.
        total += dataset.sample(chunk, 1, rng=rng)["obs"][:, 0].sum(0, dtype=np.float64)
        drawn += chunk
    return (total / drawn).astype(np.float32)


def _episodes_mean_frame(dataset: EpisodeDataset, indices: list[int]) -> np.ndarray:
    total, count = np.zeros(dataset.obs_shape, np.float64), 0
    for index in indices:
        obs = dataset.episode(index)["obs"]
        total += obs.sum(0, dtype=np.float64)
        count += len(obs)
    return total / count


def _as_image(mean_frame: Any, shape: tuple[int, ...]) -> np.ndarray:
    """A mean frame rounded to a valid ``[H, W, C] uint8`` image."""
    frame = np.asarray(mean_frame, dtype=np.float64)
    if frame.shape != tuple(shape):
        raise WorldlabError(
            f"mean_frame has shape {list(frame.shape)}, but the dataset's frames "
            f"are {list(shape)}; compute it with mean_dataset_frame(train_set)"
        )
    return np.clip(np.rint(frame), 0, 255).astype(np.uint8)


def load_windows(
    dataset: EpisodeDataset,
    pairs: list[tuple[int, int]],
    window: int,
    cache: dict[int, dict[str, np.ndarray]],
    extra: tuple[str, ...] = (),
) -> dict[str, np.ndarray]:
    """The windows ``(episode, start)`` of ``window`` steps, stacked; ``extra`` names more
    episode arrays to include (e.g. ``"state"``)."""
    keys = ("obs", "action", "reward", "is_first", *extra)
    parts = []
    for index, start in pairs:
        if index not in cache:
            cache.clear()  # windows come in episode order: keep only the current episode
            cache[index] = dataset.episode(index)
        episode = cache[index]
        parts.append({key: episode[key][start : start + window] for key in keys})
    return {key: np.stack([part[key] for part in parts]) for key in parts[0]}


def jsonable(values: np.ndarray) -> list[float | None]:
    """Floats for JSON; NaN (an undefined interval) becomes ``None``."""
    return [float(v) if math.isfinite(v) else None for v in np.asarray(values, np.float64)]


def _metric_block(psnr_values: np.ndarray, ssim_values: np.ndarray) -> dict[str, list]:
    psnr_mean, psnr_half = mean_ci(psnr_values, axis=0)
    ssim_mean, ssim_half = mean_ci(ssim_values, axis=0)
    return {
        "psnr": jsonable(psnr_mean),
        "psnr_ci": jsonable(psnr_half),
        "ssim": jsonable(ssim_mean),
        "ssim_ci": jsonable(ssim_half),
    }


def rng_scope(device: torch.device):
    """Restores the caller's random state afterwards: the evaluation seeds its own."""
    cuda = [device.index or 0] if device.type == "cuda" else []
    return torch.random.fork_rng(devices=cuda)


def evaluate_open_loop(
    model: WorldModel,
    dataset: EpisodeDataset,
    horizon: int = 15,
    context: int = 5,
    episodes: int | None = None,
    starts_per_episode: int = 4,
    mean_frame: Any = None,
    seed: int = 0,
    batch_size: int = 32,
    progress: bool = True,
) -> dict[str, Any]:
    """Score open-loop predictions of held-out episodes per horizon step.

    Windows of ``context + horizon`` observations are taken from the first ``episodes``
    episodes of ``dataset`` (all if None), ``starts_per_episode`` each, spread over the
    episode and fixed by ``seed``; episodes too short are skipped. For each window the
    model observes ``obs[:, :context]`` (with their actions and ``is_first``), then steps
    under ``action[:, context + k]`` and renders, for ``k = 0 .. horizon - 1``.

    Baselines on the same target frames: ``repeat_last`` (frame ``context - 1``) and
    ``mean_frame``: the given ``[H, W, C]`` array (the *training* set's mean, see
    ``mean_dataset_frame``) or, if None, the exact mean of every frame of the evaluated
    episodes; it is rounded to uint8. ``reward_mae`` is the mean absolute error of the
    predicted reward against ``reward[:, context + k]``.

    Returns a JSON-able dict; lists have length ``horizon``, index 0 is one step ahead;
    ``*_ci`` are 95% Student-t half-widths over windows (None with a single window).
    """
    if horizon < 1 or context < 1 or starts_per_episode < 1 or batch_size < 1:
        raise WorldlabError(
            f"horizon, context, starts_per_episode and batch_size must be ≥ 1, "
            f"got {horizon}, {context}, {starts_per_episode}, {batch_size}"
        )
    check_frame_shape(model, dataset)
    window = context + horizon
    pairs = sample_windows(dataset, episodes, window, starts_per_episode, seed)
    if mean_frame is None:
        mean_frame = _episodes_mean_frame(dataset, sorted({index for index, _ in pairs}))
    device = model.device
    mean_image = torch.from_numpy(_as_image(mean_frame, dataset.obs_shape)).to(device)

    scores: dict[str, list[np.ndarray]] = defaultdict(list)  # name → [B, horizon] per batch
    windows = imagine_windows(
        model, dataset, pairs, context, horizon, seed, batch_size, progress=progress,
        label="open-loop eval",
    )  # fmt: skip
    for _, batch, frames, rewards in windows:
        target = batch["obs"][:, context:]
        predictions = {
            "model": frames,
            "repeat_last": batch["obs"][:, context - 1 : context].expand_as(target),
            "mean_frame": mean_image.expand_as(target),
        }
        for name, prediction in predictions.items():
            scores[f"{name}_psnr"].append(psnr(prediction, target).cpu().numpy())
            scores[f"{name}_ssim"].append(ssim(prediction, target).cpu().numpy())
        error = (rewards.float() - batch["reward"][:, context:].float()).abs()
        scores["reward_error"].append(error.cpu().numpy())
    return _assemble(scores, horizon, context, len(pairs))


def imagine_windows(
    model: WorldModel,
    dataset: EpisodeDataset,
    pairs: list[tuple[int, int]],
    context: int,
    horizon: int,
    seed: int = 0,
    batch_size: int = 32,
    extra: tuple[str, ...] = (),
    progress: bool = False,
    label: str = "imagine",
) -> Iterator[tuple[dict[str, np.ndarray], dict[str, torch.Tensor], torch.Tensor, torch.Tensor]]:
    """The evaluation loop every section shares: per batch of windows ``(episode, start)``
    of ``context + horizon`` steps, yield their arrays (numpy, with the ``extra`` episode
    arrays), the same as tensors on the model's device (without ``extra``), and the
    model's imagined frames and rewards (``rollout``). The model runs in eval mode without
    gradients, its sampling seeded by ``seed``; its mode and the caller's random state are
    restored afterwards."""
    cache: dict[int, dict[str, np.ndarray]] = {}
    batches = [pairs[i : i + batch_size] for i in range(0, len(pairs), batch_size)]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), rng_scope(model.device), progress_bar(enabled=progress) as bar:
            torch.manual_seed(seed)  # the model's own sampling is reproducible too
            task = bar.add_task(label, total=len(batches), unit="batches")
            for batch_pairs in batches:
                arrays = load_windows(dataset, batch_pairs, context + horizon, cache, extra)
                batch = {
                    key: torch.from_numpy(value).to(model.device)
                    for key, value in arrays.items()
                    if key not in extra
                }
                frames, rewards = rollout(model, batch, context, horizon)
                yield arrays, batch, frames, rewards
                bar.advance(task)
    finally:
        model.train(was_training)


def rollout(
    model: WorldModel, batch: dict[str, torch.Tensor], context: int, horizon: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Imagined frames ``[B, horizon, H, W, C] uint8`` and rewards ``[B, horizon]``."""
    obs = batch["obs"]
    # The model's own actions: the real ones, or latent ones inferred from the real frames.
    action = model.infer_actions(obs, batch["action"])
    state = model.observe(obs[:, :context], action[:, :context], batch["is_first"][:, :context])
    frames, rewards = [], []
    for k in range(horizon):
        state, reward, _ = model.step(state, action[:, context + k])
        frame = model.render(state)
        if frame.shape != obs[:, context + k].shape or frame.dtype != torch.uint8:
            raise WorldlabError(
                f"{type(model).__name__}.render returned {list(frame.shape)} "
                f"{frame.dtype}, expected {list(obs[:, context + k].shape)} "
                "torch.uint8 frames [B, H, W, C]"
            )
        frames.append(frame)
        rewards.append(torch.as_tensor(reward, device=obs.device).reshape(len(obs)))
    return torch.stack(frames, 1), torch.stack(rewards, 1)


def _assemble(
    scores: dict[str, list[np.ndarray]], horizon: int, context: int, windows: int
) -> dict[str, Any]:
    values = {name: np.concatenate(parts) for name, parts in scores.items()}  # [N, horizon]
    model_block = _metric_block(values["model_psnr"], values["model_ssim"])
    model_block["reward_mae"] = jsonable(values["reward_error"].mean(0))
    baselines = {
        name: _metric_block(values[f"{name}_psnr"], values[f"{name}_ssim"]) for name in BASELINES
    }
    model_psnr = values["model_psnr"].mean(0)
    best_baseline = np.maximum(
        values["repeat_last_psnr"].mean(0), values["mean_frame_psnr"].mean(0)
    )
    return {
        "horizon": horizon,
        "context": context,
        "windows": windows,
        "model": model_block,
        "baselines": baselines,
        "summary": {
            "model_psnr_mean": float(model_psnr.mean()),
            "best_baseline_psnr_mean": float(
                max(values[f"{name}_psnr"].mean() for name in BASELINES)
            ),
            "beats_best_baseline_at": [
                bool(m > b) for m, b in zip(model_psnr, best_baseline, strict=True)
            ],
        },
    }


def plot_over_horizon(report: dict[str, Any], path: str | Path) -> Path:
    """PNG of PSNR and SSIM against steps ahead: model and baselines, shaded 95% CIs."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise MissingExtraError("plotting needs matplotlib: pip install matplotlib") from None
    path = Path(path)
    steps = np.arange(1, report["horizon"] + 1)
    curves = {"model": report["model"], **report["baselines"]}
    styles = {
        "model": ("C0", "-", 2.2),
        "repeat_last": ("C1", "--", 1.5),
        "mean_frame": ("C2", ":", 1.5),
    }
    # Figure + Agg canvas, not pyplot: no global backend switch, safe in any process.
    figure = Figure(figsize=(10, 4), dpi=110, layout="constrained")
    FigureCanvasAgg(figure)
    for axis, metric, unit in zip(figure.subplots(1, 2), ("psnr", "ssim"), ("dB", ""), strict=True):
        for name, block in curves.items():
            colour, line, width = styles.get(name, (None, "-", 1.5))
            mean = np.array(block[metric], dtype=float)
            half = np.array([np.nan if v is None else v for v in block[f"{metric}_ci"]], float)
            axis.plot(
                steps,
                mean,
                line,
                color=colour,
                linewidth=width,
                marker="o",
                markersize=3,
                label=name.replace("_", " "),
            )
            axis.fill_between(steps, mean - half, mean + half, color=colour, alpha=0.2, linewidth=0)
        axis.set_xlabel("steps ahead (open loop)")
        axis.set_ylabel(f"{metric.upper()} {f'({unit})' if unit else ''}".strip())
        axis.set_title(f"{metric.upper()} over horizon (higher is better)")
        axis.grid(alpha=0.3)
        axis.legend()
    figure.suptitle(
        f"open-loop fidelity: {report['windows']} windows, "
        f"{report['context']} context frames, shaded: 95% CI"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, lambda file: figure.savefig(file, format="png"))
    return path


def save_report(report: dict[str, Any], json_path: str | Path) -> tuple[Path, Path]:
    """Write ``report`` as JSON and its plot beside it (same stem, ``.png``), both atomically."""
    json_path = Path(json_path)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(report, indent=2, allow_nan=False) + "\n"
    atomic_write_bytes(json_path, lambda file: file.write(text.encode()))
    return json_path, plot_over_horizon(report, json_path.with_suffix(".png"))
