"""Planning horizon as a metric: how far ahead planning inside a model stays useful.

MPC with the model plans ``h`` steps ahead for each ``h`` of a sweep (1, 2, 4, 8, 16 …)
on the same real episodes (episode ``i`` starts from seed ``seed + i`` at every
horizon), beside random actions. For each horizon the real return is compared,
episode by episode, with the best shorter horizon: the paired difference has a 95%
confidence interval (Student's t), and the **planning horizon** is the longest ``h``
whose interval lies above zero — the longest look-ahead that still buys return. A model
whose predictions drift early stops paying at a short horizon; an accurate one keeps
paying until the task's own horizon.

The result is written as ``RUN/planning_horizon.json``, which the leaderboard reads.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from worldlab.agents.mpc import run_mpc
from worldlab.agents.planning import PlannerConfig
from worldlab.agents.rollout import play_in_world
from worldlab.data.episode import write_json
from worldlab.errors import WorldlabError
from worldlab.evaluate.metrics import mean_ci
from worldlab.models import WorldModel
from worldlab.paths import PLANNING_HORIZON_FILE

DEFAULT_HORIZONS = (1, 2, 4, 8, 16)


def random_policy(model: WorldModel, seed: int = 0):
    """Uniformly random actions in the model's action space (the no-planning baseline)."""
    spec = model.action_spec
    generator = torch.Generator().manual_seed(seed)

    def act(state: Any) -> torch.Tensor:
        if spec.kind == "discrete":
            return torch.randint(spec.n, (1,), generator=generator)
        return torch.rand(1, spec.dims, generator=generator) * 2 - 1

    return act


def paired_gain(longer: list[float], shorter: list[float]) -> tuple[float, float]:
    """Mean and 95% half-width of the per-episode return difference ``longer - shorter``."""
    mean, half = mean_ci(np.asarray(longer, float) - np.asarray(shorter, float))
    return float(mean), float(half)


def planning_horizon(
    model: WorldModel,
    env_id: str | None = None,
    horizons: tuple[int, ...] = DEFAULT_HORIZONS,
    episodes: int = 20,
    planner: PlannerConfig | None = None,
    max_steps: int | None = None,
    seed: int = 0,
    progress: bool = True,
) -> dict[str, Any]:
    """Sweep the MPC horizon; return per-horizon returns and the planning horizon."""
    horizons = tuple(sorted(set(int(h) for h in horizons)))
    if not horizons or horizons[0] < 1:
        raise WorldlabError(f"--horizons must be positive step counts, got {list(horizons)}")
    if episodes < 2:
        raise WorldlabError("--episodes must be at least 2 for a confidence interval")
    planner = planner or PlannerConfig()
    random = play_in_world(
        model, random_policy(model, seed), env_id, episodes, seed=seed, max_steps=max_steps,
        progress=progress, label="random",
    )  # fmt: skip
    rows = []
    for horizon in horizons:
        result = run_mpc(
            model, env_id, episodes, replace(planner, horizon=horizon), max_steps=max_steps,
            seed=seed, progress=progress,
        )  # fmt: skip
        rows.append(_row(horizon, result))
    useful, best_horizon = choose_horizon(rows)
    gain, half = paired_gain(rows[0]["returns"], random["returns"])
    return {
        "env_id": random["env_id"],
        "episodes": episodes,
        "seed": seed,
        "planner": {**planner.__dict__, "horizon": None},
        "random": _row(0, random),
        "horizons": rows,
        "shortest_beats_random": {"mean": gain, "ci": half, "improves": bool(gain - half > 0)},
        "planning_horizon": useful,
        "best_horizon": best_horizon,
    }


def choose_horizon(rows: list[dict[str, Any]]) -> tuple[int, int]:
    """``(planning horizon, best horizon)`` of rows sorted by horizon, each holding the
    per-episode ``returns`` (paired across rows). Marks each row after the first with its
    ``gain_over_best_shorter`` (mean, 95% half-width) and whether it ``improves``."""
    best = rows[0]
    useful = rows[0]["horizon"]
    for row in rows[1:]:
        gain, half = paired_gain(row["returns"], best["returns"])
        row["gain_over_best_shorter"] = {"vs": best["horizon"], "mean": gain, "ci": half}
        row["improves"] = bool(gain - half > 0)
        if row["improves"]:
            useful = row["horizon"]
        if np.mean(row["returns"]) > np.mean(best["returns"]):
            best = row
    return useful, best["horizon"]


def plot_result(result: dict[str, Any], path: str | Path) -> Path:
    """Real return against planning horizon (95% CIs), random actions as a band."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(5.5, 3.6), dpi=120)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    rows = result["horizons"]
    horizons = [row["horizon"] for row in rows]
    means = [row["mean_return"] for row in rows]
    errors = [row["return_ci"] or 0.0 for row in rows]
    axes.errorbar(horizons, means, yerr=errors, marker="o", capsize=3, label="MPC with the model")
    random = result["random"]
    low = random["mean_return"] - (random["return_ci"] or 0.0)
    high = random["mean_return"] + (random["return_ci"] or 0.0)
    axes.axhspan(low, high, color="grey", alpha=0.25, label="random actions")
    axes.axvline(result["planning_horizon"], color="tab:green", linestyle="--",
                 label=f"planning horizon: {result['planning_horizon']}")  # fmt: skip
    axes.set_xscale("log", base=2)
    axes.set_xticks(horizons, [str(h) for h in horizons])
    axes.set_xlabel("planning horizon (steps)")
    axes.set_ylabel(f"real return ({result['episodes']} episodes)")
    axes.set_title(result["env_id"])
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path)
    return Path(path)


def _row(horizon: int, result: dict[str, Any]) -> dict[str, Any]:
    return {
        "horizon": horizon,
        "returns": [float(r) for r in result["returns"]],
        "mean_return": float(result["mean_return"]),
        "return_ci": result["return_ci"],
        "success_rate": float(result["success_rate"]),
    }


def save_result(run: str | Path, result: dict[str, Any]) -> Path:
    path = Path(run) / PLANNING_HORIZON_FILE
    write_json(path, result)
    return path
