"""Agent runs of every kind behind one door: load one, evaluate it in the real world.

An agent run directory has ``agent.json`` (its card) naming its kind (one of
``worldlab.agents.kinds.KINDS``) and the world it acts in; the kind knows how to rebuild
its policy (and world model) from the run, and where the run keeps its settings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from worldlab.agents.kinds import AGENT_FILE, KINDS, AgentKind
from worldlab.agents.rollout import LoadedAgent, play_agent
from worldlab.data.episode import read_json
from worldlab.errors import WorldlabError


def agent_card(run: str | Path) -> dict[str, Any]:
    """The run's ``agent.json``: its kind (``"agent"``), ``env_id``, ``env_kwargs``, ..."""
    path = Path(run) / AGENT_FILE
    card = read_json(
        path,
        f"'{run}' is not an agent run: it has no {AGENT_FILE}. Train one with "
        "`worldlab agent train dreamer --env reach --steps 20000 --out RUN`",
    )
    if card.get("agent") not in KINDS:
        raise WorldlabError(f"{path}: unknown agent kind {card.get('agent')!r}")
    return card


def kind_of(run: str | Path) -> AgentKind:
    return KINDS[agent_card(run)["agent"]]


def read_agent_settings(run: str | Path) -> Any:
    """The settings an agent run was trained with, typed by its kind (``OnlineAgentSettings``,
    ``VMCAgentConfig``, ``ImitationConfig``), wherever the run keeps them."""
    card = agent_card(run)
    return KINDS[card["agent"]].read_settings(run, card)


def load_agent(run: str | Path, planner: dict[str, Any] | None = None) -> LoadedAgent:
    """``(model, policy, on_episode_start)`` of any agent run; the policy acts greedily.

    ``planner``: settings that replace an MPC run's own (e.g. ``{"horizon": 2}``). The bc
    and latent-bc agents act on frames without a world model: their ``model`` is None
    and their policy reads the last frames (``FrameHistory``); ``worldlab.agents.imitation
    .load_imitation_agent`` gives the whole agent.
    """
    kind = kind_of(run)
    if planner and not kind.plans:
        raise WorldlabError(f"planner settings apply to MPC runs; '{run}' is a {kind.name} run")
    loader = kind.resolve("load")
    return LoadedAgent(*(loader(Path(run), planner) if kind.plans else loader(Path(run))))


@torch.no_grad()
def evaluate_agent(
    run: str | Path,
    episodes: int = 10,
    seed: int = 1_000_000,
    max_steps: int | None = None,
    record: bool = False,
    progress: bool = True,
    planner: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Real-world episodes with an agent run's greedy policy: returns, success, CIs.

    ``planner`` replaces an MPC run's planner settings for this evaluation."""
    card = agent_card(run)
    kind = KINDS[card["agent"]]
    if kind.evaluate is not None and not planner:
        return kind.resolve("evaluate")(run, episodes, seed, max_steps, record, progress)
    agent = load_agent(run, planner)
    return play_agent(agent, card, episodes, seed, max_steps, record, progress)
