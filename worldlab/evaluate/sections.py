"""Evaluation as sections: each part of an evaluation beyond open-loop fidelity is one
``Section`` — when it applies, how it is computed, how it reads on the console and in
the HTML report. ``evaluate_run``, the HTML report and ``worldlab evaluate`` loop over
``all_sections()``; a new metric is one module that defines a ``SECTION`` and one line
here.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class EvalOptions:
    """The settings every section reads (those of ``evaluate_run``)."""

    horizon: int = 15
    context: int = 5
    episodes: int | None = None
    starts: int = 4
    seed: int = 0
    delta_t: int = 4
    random_draws: int = 4
    progress: bool = True


@dataclass(frozen=True)
class Section:
    key: str  # its key in the report
    title: str
    applies: Callable[[Any], bool]  # (dataset) -> whether to compute it by default
    compute: Callable[[Any, Any, EvalOptions], dict[str, Any]]  # (model, dataset, options)
    lines: Callable[[dict[str, Any]], list[str]]  # console lines (rich markup)
    html: Callable[[dict[str, Any]], str]  # an HTML fragment, headed by its title


def all_sections() -> list[Section]:
    """Every section, in report order."""
    from worldlab.evaluate.controllability import SECTION as controllability
    from worldlab.evaluate.perceptual_section import SECTION as perceptual
    from worldlab.evaluate.physics.section import SECTION as physics

    return [controllability, physics, perceptual]


def cell(value: float | None, ci: float | None = None, digits: int = 2, best: bool = False):
    """A ``<td>`` of ``value ± ci`` (``–`` for a missing value), bold when ``best``."""
    if value is None:
        return "<td>–</td>"
    text = f"{value:.{digits}f}"
    if ci is not None:
        text += f" ± {ci:.{digits}f}"
    return f"<td><b>{html.escape(text)}</b></td>" if best else f"<td>{html.escape(text)}</td>"
