"""Evaluate a trained run: open-loop fidelity with the run's own training mean frame."""

from __future__ import annotations

import warnings
from typing import Any

from worldlab.data import EpisodeDataset
from worldlab.errors import DatasetError
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
) -> dict[str, Any]:
    """``evaluate_open_loop`` with ``mean_frame`` from the data the run was trained on.

    ``model`` comes from ``worldlab.load`` (it carries ``run_config``); when the training
    data is gone, the mean of the evaluated episodes stands in, with a warning.
    """
    mean_frame = None
    try:
        mean_frame = mean_dataset_frame(EpisodeDataset(model.run_config["data"]["path"]))
    except DatasetError:
        warnings.warn(
            "training data not found: mean_frame uses the evaluated episodes", stacklevel=2
        )
    return evaluate_open_loop(
        model, dataset, horizon, context, episodes, starts, mean_frame, seed, progress=progress
    )
