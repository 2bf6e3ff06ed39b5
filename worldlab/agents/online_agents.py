"""What each online kind adds to the loop: how it acts, what it learns beside the world
model, what its checkpoints hold; and loading a finished run of either kind.

- ``dreamer``: the actor acts; each update also trains the actor-critic on trajectories
  imagined from the replayed batch's posterior states. Its state is checkpointed.
- ``mpc``: a planner searches action sequences inside the model at every step; it learns
  nothing beside the model and keeps no state between episodes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from worldlab.agents.behavior import ActorCritic
from worldlab.agents.kinds import agent_kind
from worldlab.agents.mpc import make_planner, mpc_policy
from worldlab.agents.online_config import OnlineAgentSettings
from worldlab.agents.planning import PlannerConfig
from worldlab.agents.rollout import LoadedAgent, Policy
from worldlab.agents.runs import read_agent_settings
from worldlab.errors import WorldlabError
from worldlab.models import WorldModel
from worldlab.models.state import index_state
from worldlab.train.checkpoint import load_with_state
from worldlab.train.config import to_dict
from worldlab.train.precision import autocast


class OnlineAgent:
    """The part of an online run that differs by kind (``kinds.AgentKind.online_agent``)."""

    state_key: str | None = None  # its entry in a checkpoint's trainer state, if it has one

    def __init__(self, model: WorldModel, settings: OnlineAgentSettings):
        self.model = model
        self.settings = settings

    def policy(self, greedy: bool) -> Policy:
        """state → action with what the agent knows now (sampled while training)."""
        raise NotImplementedError

    def seed(self, seed: int) -> None:
        """Seed the agent's own random generator before an action (the loop seeds torch's)."""

    @property
    def on_episode_start(self) -> Callable[[], None] | None:
        """What to call before each episode, if anything."""
        return None

    def learn(self, batch: dict[str, torch.Tensor], trainer) -> dict[str, float]:
        """Learn from the batch the world model was just updated on; returns metrics."""
        return {}

    def eval(self) -> OnlineAgent:
        return self


class DreamerAgent(OnlineAgent):
    state_key = "behavior"

    def __init__(self, model: WorldModel, settings: OnlineAgentSettings):
        super().__init__(model, settings)
        self.behavior = ActorCritic(model, settings.behavior).to(model.device)

    def policy(self, greedy: bool) -> Policy:
        return lambda state: self.behavior.actor.act(
            self.model.features(state).float(), sample=not greedy
        )

    def learn(self, batch: dict[str, torch.Tensor], trainer) -> dict[str, float]:
        """One actor-critic update on trajectories imagined from the batch's posteriors."""
        with torch.no_grad(), autocast(trainer.device, trainer.precision):
            start = self.model.observe_all(batch["obs"], batch["action"], batch["is_first"])
        count = batch["obs"].shape[0] * batch["obs"].shape[1]
        starts = self.behavior.config.starts
        start_continue = (~batch["terminated"]).float().flatten()
        if 0 < starts < count:
            index = torch.randperm(count, device=self.model.device)[:starts]
            start, start_continue = index_state(start, index), start_continue[index]
        return self.behavior.update(self.model, start, start_continue)

    def state_dict(self) -> dict[str, Any]:
        return self.behavior.full_state()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.behavior.load_full_state(state)

    def eval(self) -> DreamerAgent:
        self.behavior.eval()
        return self


class MPCAgent(OnlineAgent):
    def __init__(self, model: WorldModel, settings: OnlineAgentSettings):
        super().__init__(model, settings)
        self.planner = make_planner(model, settings.planner, settings.online.seed)

    def policy(self, greedy: bool) -> Policy:
        return mpc_policy(self.model, self.planner)

    def seed(self, seed: int) -> None:
        if self.planner.generator is not None:
            self.planner.generator.manual_seed(seed)

    @property
    def on_episode_start(self) -> Callable[[], None]:
        return self.planner.reset  # no warm start from another episode


def load_online_agent(run: str | Path, planner: dict[str, Any] | None = None) -> LoadedAgent:
    """``(model, greedy policy, on_episode_start)`` of a Dreamer or MPC run, for ``worldlab
    agent eval``; ``planner`` replaces some of an MPC run's planner settings."""
    settings = read_agent_settings(run)
    kind = agent_kind(settings.kind)
    agent_class = kind.resolve("online_agent")
    # One verified checkpoint for both: the behaviour must match the world model it acts in.
    model, state = load_with_state(run, with_trainer=agent_class.state_key is not None)
    if kind.plans and planner:
        settings.planner = _planner_config(settings.planner, planner)
    agent = agent_class(model, settings)
    if agent_class.state_key is not None:
        agent.load_state_dict(state[agent_class.state_key])
    agent.eval()
    return LoadedAgent(model, agent.policy(greedy=True), agent.on_episode_start)


def _planner_config(saved: PlannerConfig, changes: dict[str, Any]) -> PlannerConfig:
    settings = {**to_dict(saved), **changes}
    unknown = sorted(set(settings) - {f.name for f in dataclasses.fields(PlannerConfig)})
    if unknown:
        raise WorldlabError(f"unknown planner settings {unknown}; see PlannerConfig")
    return PlannerConfig(**settings)
