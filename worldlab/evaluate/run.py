"""Evaluate a trained run: open-loop fidelity with the run's own training mean frame,
and controllability (ΔtPSNR)."""

from __future__ import annotations

import warnings
from typing import Any

from worldlab.data import EpisodeDataset
from worldlab.errors import DatasetError
from worldlab.evaluate.controllability import controllability_section
from worldlab.evaluate.open_loop import evaluate_open_loop, mean_dataset_frame
from worldlab.models import WorldModel


def evaluate_run(
    model: WorldModel,
    dataset: EpisodeDataset,
    horizon: int = 15,
    context: int = 5,
    episodes: int | None = None,
    starts: int = 4,
    seed: int = 0,
    progress: bool = True,
    controllability: bool = True,
    delta_t: int = 4,
    random_draws: int = 4,
) -> dict[str, Any]:
    """``evaluate_open_loop`` with ``mean_frame`` from the data the run was trained on.

    ``model`` comes from ``worldlab.load`` (it carries ``run_config``); when the training
    data is gone, the mean of the evaluated episodes stands in, with a warning. With
    ``controllability``, the report also holds a ``controllability`` section: ΔtPSNR at
    ``t = delta_t`` on the same episodes and context (see ``delta_psnr``).
    """
    mean_frame = None
    try:
        mean_frame = mean_dataset_frame(EpisodeDataset(model.run_config["data"]["path"]))
    except DatasetError:
        warnings.warn(
            "training data not found: mean_frame uses the evaluated episodes", stacklevel=2
        )
    report = evaluate_open_loop(
        model, dataset, horizon, context, episodes, starts, mean_frame, seed, progress=progress
    )
    if controllability:
        report["controllability"] = controllability_section(
            model,
            dataset,
            t=delta_t,
            context=context,
            episodes=episodes,
            windows=starts,
            random_draws=random_draws,
            seed=seed,
            progress=progress,
        )
    return report
