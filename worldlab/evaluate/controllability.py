"""Controllability: does the model's future depend on its actions? Genie's ΔtPSNR.

For each evaluation window the model observes ``context`` real frames, then imagines
``t`` steps twice from the same start and with the same sampling noise:

- driven by the actions that explain the real future: ``model.infer_actions(obs,
  action)`` on the whole real window (the recorded actions for families trained with
  them, the inferred latent codes for a latent-action family such as ``genie``);
- driven by uniformly random actions (``model.action_spec.random``), ``random_draws``
  times.

``ΔtPSNR = PSNR(x_t, x̂_t) − PSNR(x_t, x̂'_t)``, where ``x_t`` is the real frame ``t``
steps after the context, ``x̂_t`` the frame imagined under the inferred actions and
``x̂'_t`` under random ones (Bruce et al., 2024, "Genie", section 3: they report
``t = 4``; their random latent actions are drawn from a uniform categorical). Near 0: the
actions change nothing the metric can see. Clearly above 0: the model follows actions.
The number is reported per window, then as a mean with a 95% interval over windows.
"""

from __future__ import annotations

import html
from typing import Any

import numpy as np
import torch

from worldlab.data.dataset import EpisodeDataset
from worldlab.errors import DatasetError, WorldlabError
from worldlab.evaluate.metrics import mean_ci, psnr
from worldlab.evaluate.open_loop import (
    check_frame_shape,
    jsonable,
    load_windows,
    rng_scope,
    sample_windows,
)
from worldlab.evaluate.sections import EvalOptions, Section, cell
from worldlab.models.base import WorldModel
from worldlab.progress import progress_bar


def not_applicable(reason: str) -> dict[str, Any]:
    """The report entry of a model (or data) for which ΔtPSNR means nothing."""
    return {"applicable": False, "reason": reason}


def infers_own_actions(model: WorldModel) -> bool:
    """Whether ``model`` overrides ``infer_actions`` (a latent-action family)."""
    return type(model).infer_actions is not WorldModel.infer_actions


def _applicability(model: WorldModel, dataset: EpisodeDataset) -> str | None:
    """Why ΔtPSNR cannot be measured, or None when it can."""
    if model.action_spec.kind == "none":
        return (
            "the model takes no actions (trained on action-free data without latent "
            "actions): there is nothing to control"
        )
    if not dataset.has_actions and not infers_own_actions(model):
        return (
            "the evaluation data has no actions and this model does not infer its own: "
            "evaluate on a labelled dataset"
        )
    return None


def _seed(*parts: int) -> int:
    return int(np.random.SeedSequence(list(parts)).generate_state(1)[0])


def _final_frame(
    model: WorldModel,
    batch: dict[str, torch.Tensor],
    context_actions: torch.Tensor,
    actions: torch.Tensor,
    context: int,
    noise_seed: int,
) -> torch.Tensor:
    """Frame ``[B, H, W, C] uint8`` after stepping ``actions [B, t, ...]`` from the context."""
    torch.manual_seed(noise_seed)  # both arms draw the model's sampling noise alike
    obs = batch["obs"]
    state = model.observe(obs[:, :context], context_actions, batch["is_first"][:, :context])
    for k in range(actions.shape[1]):
        state, _, _ = model.step(state, actions[:, k])
    frame = model.render(state)
    if frame.shape != obs[:, -1].shape or frame.dtype != torch.uint8:
        raise WorldlabError(
            f"{type(model).__name__}.render returned {list(frame.shape)} {frame.dtype}, "
            f"expected {list(obs[:, -1].shape)} torch.uint8 frames [B, H, W, C]"
        )
    return frame


def _inferred_actions(model: WorldModel, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    inferred = model.infer_actions(batch["obs"], batch["action"])
    if tuple(inferred.shape[:2]) != tuple(batch["obs"].shape[:2]):
        raise WorldlabError(
            f"{type(model).__name__}.infer_actions returned shape {list(inferred.shape)}; "
            f"expected [B, T, ...] with B, T = {list(batch['obs'].shape[:2])}"
        )
    return inferred


def delta_psnr(
    model: WorldModel,
    dataset: EpisodeDataset,
    t: int = 4,
    context: int = 5,
    episodes: int | None = None,
    windows: int = 4,
    random_draws: int = 4,
    seed: int = 0,
    batch_size: int = 32,
    progress: bool = True,
) -> dict[str, Any]:
    """Genie's ΔtPSNR over windows of ``context + t`` real frames.

    Windows: ``windows`` per episode of the first ``episodes`` (all if None), spread and
    fixed by ``seed`` as in ``evaluate_open_loop``. Per window, the inferred-action arm is
    scored once and the random arm ``random_draws`` times (averaged); both use the same
    torch seed for the model's own sampling, so only the actions differ.

    Returns a JSON-able dict: ``delta_psnr`` (mean, dB), ``delta_psnr_ci`` (95% half-width,
    None with one window), ``psnr_inferred`` / ``psnr_random`` (and ``_ci``), ``t``,
    ``context``, ``windows``, ``random_draws``, ``actions`` (``"inferred"`` when the model
    infers its own, else ``"dataset"``); or ``{"applicable": False, "reason": ...}``.
    """
    if t < 1 or context < 1 or windows < 1 or random_draws < 1 or batch_size < 1:
        raise WorldlabError(
            f"t, context, windows, random_draws and batch_size must be ≥ 1, got "
            f"{t}, {context}, {windows}, {random_draws}, {batch_size}"
        )
    reason = _applicability(model, dataset)
    if reason is not None:
        return not_applicable(reason)
    check_frame_shape(model, dataset)
    pairs = sample_windows(dataset, episodes, context + t, windows, seed)
    batches = [pairs[i : i + batch_size] for i in range(0, len(pairs), batch_size)]
    inferred_scores, random_scores = [], []
    device, was_training = model.device, model.training
    model.eval()
    cache: dict[int, dict[str, np.ndarray]] = {}
    try:
        with torch.no_grad(), rng_scope(device), progress_bar(enabled=progress) as bar:
            task = bar.add_task(f"Δ{t}PSNR", total=len(batches), unit="batches")
            for number, batch_pairs in enumerate(batches):
                arrays = load_windows(dataset, batch_pairs, context + t, cache)
                batch = {key: torch.from_numpy(value).to(device) for key, value in arrays.items()}
                scores = _score_batch(model, batch, context, t, random_draws, seed, number)
                inferred_scores.append(scores[0])
                random_scores.append(scores[1])
                bar.advance(task)
    finally:
        model.train(was_training)
    return _summary(
        np.concatenate(inferred_scores), np.concatenate(random_scores), model, t, context
    )


def _score_batch(
    model: WorldModel,
    batch: dict[str, torch.Tensor],
    context: int,
    t: int,
    random_draws: int,
    seed: int,
    number: int,
) -> tuple[np.ndarray, np.ndarray]:
    """PSNR ``[B]`` under inferred actions and ``[B, random_draws]`` under random ones."""
    inferred = _inferred_actions(model, batch)
    target = batch["obs"][:, -1]
    noise_seed = _seed(seed, number)
    frame = _final_frame(
        model, batch, inferred[:, :context], inferred[:, context:], context, noise_seed
    )
    inferred_psnr = psnr(frame, target).cpu().numpy()
    random_psnr = []
    for draw in range(random_draws):
        generator = torch.Generator().manual_seed(_seed(seed, number, draw, 1))
        actions = model.action_spec.random((len(target), t), generator=generator).to(
            inferred.device
        )
        frame = _final_frame(model, batch, inferred[:, :context], actions, context, noise_seed)
        random_psnr.append(psnr(frame, target).cpu().numpy())
    return inferred_psnr, np.stack(random_psnr, 1)


def _summary(
    inferred: np.ndarray, random: np.ndarray, model: WorldModel, t: int, context: int
) -> dict[str, Any]:
    """The report entry from per-window PSNRs ``inferred [N]`` and ``random [N, draws]``."""
    delta = inferred - random.mean(1)
    entries: dict[str, Any] = {
        "applicable": True,
        "t": t,
        "context": context,
        "windows": len(delta),
        "random_draws": random.shape[1],
        "actions": "inferred" if infers_own_actions(model) else "dataset",
    }
    for name, values in (
        ("delta_psnr", delta),
        ("psnr_inferred", inferred),
        ("psnr_random", random.mean(1)),
    ):
        mean, half = mean_ci(values)
        entries[name], entries[f"{name}_ci"] = jsonable(np.array([mean, half]))
    return entries


def controllability_section(
    model: WorldModel, dataset: EpisodeDataset, **kwargs: Any
) -> dict[str, Any]:
    """``delta_psnr`` for a report: data too short for its windows becomes "not applicable"."""
    try:
        return delta_psnr(model, dataset, **kwargs)
    except DatasetError as error:
        return not_applicable(f"{error} (for controllability: lower --delta-t)")


def _compute(model: WorldModel, dataset: EpisodeDataset, options: EvalOptions) -> dict[str, Any]:
    return controllability_section(
        model,
        dataset,
        t=options.delta_t,
        context=options.context,
        episodes=options.episodes,
        windows=options.starts,
        random_draws=options.random_draws,
        seed=options.seed,
        progress=options.progress,
    )


def _lines(section: dict[str, Any]) -> list[str]:
    """One line: ΔtPSNR with its interval and both arms, or why it does not apply."""
    if not section["applicable"]:
        return [f"controllability (ΔtPSNR): not applicable: {section['reason']}"]

    def interval(name: str) -> str:
        half = section[f"{name}_ci"]
        return f"{section[name]:.2f}" + ("" if half is None else f" ± {half:.2f}")

    return [
        f"controllability: Δ{section['t']}PSNR = {interval('delta_psnr')} dB over "
        f"{section['windows']} windows ({section['actions']} actions "
        f"{interval('psnr_inferred')} dB vs random {interval('psnr_random')} dB, "
        f"{section['random_draws']} draws)"
    ]


def _html(section: dict[str, Any]) -> str:
    """ΔtPSNR with both arms, or why it does not apply."""
    head = "<h2>Controllability (ΔtPSNR)</h2>"
    if not section["applicable"]:
        return head + f"<p>Not applicable: {html.escape(section['reason'])}</p>"
    rows = [
        (f"Δ{section['t']}PSNR", "delta_psnr"),
        (f"PSNR, {section['actions']} actions", "psnr_inferred"),
        ("PSNR, random actions", "psnr_random"),
    ]
    cells = "".join(
        f'<tr><td class="name">{html.escape(label)}</td>'
        f"{cell(section[key], section[f'{key}_ci'], 2, False)}</tr>"
        for label, key in rows
    )
    return (
        head + f"<p>The frame {section['t']} steps after {section['context']} context frames, "
        f"imagined under the actions that explain the real video and under uniformly random "
        f"ones ({section['random_draws']} draws, same sampling noise), scored against the real "
        f"frame over {section['windows']} windows. Above 0: the model follows its actions "
        "(Genie's ΔtPSNR). Mean ± 95% confidence half-width.</p>"
        f"<table><tr><th>metric</th><th>dB</th></tr>{cells}</table>"
    )


SECTION = Section(
    key="controllability",
    title="Controllability (ΔtPSNR)",
    applies=lambda dataset: True,
    compute=_compute,
    lines=_lines,
    html=_html,
)
