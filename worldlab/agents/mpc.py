"""Run MPC in a real environment with a world model (``worldlab plan``, ``agent train mpc``).

The model filters the real frames as they arrive; each step the planner searches
action sequences inside the model from the current belief state, and the first
action of the best plan is taken in the real world.
"""

from __future__ import annotations

from typing import Any

import torch

from worldlab.agents.planning import Planner, PlannerConfig, model_return
from worldlab.agents.rollout import Policy, play_in_world
from worldlab.models import WorldModel


def make_planner(model: WorldModel, config: PlannerConfig, seed: int = 0) -> Planner:
    spec = model.action_spec
    generator = torch.Generator(device=model.device).manual_seed(seed)
    if spec.kind == "discrete":
        return Planner(config, discrete=spec.n, generator=generator, device=model.device)
    return Planner(config, action_dims=spec.dims, generator=generator, device=model.device)


def mpc_policy(model: WorldModel, planner: Planner) -> Policy:
    """A policy that plans inside ``model`` from its belief state and returns the first action."""

    def act(state: Any) -> torch.Tensor:
        action = planner.plan(lambda a: model_return(model, state, a, planner.config.discount))
        return action[None]

    return act


@torch.no_grad()
def run_mpc(
    model: WorldModel,
    env_id: str | None = None,
    episodes: int = 3,
    config: PlannerConfig | None = None,
    max_steps: int | None = None,
    seed: int = 0,
    env_kwargs: dict | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Play ``episodes`` real episodes with MPC; returns per-episode returns and summary.

    ``env_id`` defaults to the world the model's training data came from.
    """
    planner = make_planner(model, config or PlannerConfig(), seed)
    torch.manual_seed(seed)
    return play_in_world(
        model,
        mpc_policy(model, planner),
        env_id,
        episodes,
        seed=seed,
        max_steps=max_steps,
        env_kwargs=env_kwargs,
        record=True,
        progress=progress,
        on_episode_start=planner.reset,
        label="mpc",
    )
