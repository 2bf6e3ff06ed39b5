"""Evaluate a trained run: open-loop fidelity with the run's own training mean frame,
then every section that applies (controllability, physics; see ``sections``)."""

from __future__ import annotations

import warnings
from typing import Any

from worldlab.data import EpisodeDataset
from worldlab.errors import DatasetError, WorldlabError
from worldlab.evaluate.open_loop import evaluate_open_loop, mean_dataset_frame
from worldlab.evaluate.sections import EvalOptions, all_sections
from worldlab.models import WorldModel


def training_mean_frame(model: WorldModel):
    """The mean frame of the data ``model`` was trained on (its ``run_config``), or None
    with a warning when that data is gone (the evaluated episodes' mean then stands in)."""
    try:
        return mean_dataset_frame(EpisodeDataset(model.run_config["data"]["path"]))
    except DatasetError:
        warnings.warn(
            "training data not found: mean_frame uses the evaluated episodes", stacklevel=3
        )
        return None


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
    sections: list[str] | None = None,
) -> dict[str, Any]:
    """``evaluate_open_loop`` with ``mean_frame`` from the data the run was trained on,
    then the sections: by default every one that applies to ``dataset`` (controllability
    always; physics on ``bounce`` data with its true state), or exactly those named in
    ``sections`` (``[]`` for none). ``controllability=False`` leaves that one out.

    ``model`` comes from ``worldlab.load`` (it carries ``run_config``); when the training
    data is gone, the mean of the evaluated episodes stands in, with a warning.
    """
    mean_frame = training_mean_frame(model)
    report = evaluate_open_loop(
        model, dataset, horizon, context, episodes, starts, mean_frame, seed, progress=progress
    )
    options = EvalOptions(horizon, context, episodes, starts, seed, delta_t, random_draws, progress)
    known = {section.key: section for section in all_sections()}
    unknown = sorted(set(sections or []) - set(known))
    if unknown:
        raise WorldlabError(
            f"no evaluation section {', '.join(unknown)}; the sections are {', '.join(known)}"
        )
    for key, section in known.items():
        wanted = key in sections if sections is not None else section.applies(dataset)
        if key == "controllability" and not controllability:
            wanted = False
        if wanted:
            report[key] = section.compute(model, dataset, options)
    return report
