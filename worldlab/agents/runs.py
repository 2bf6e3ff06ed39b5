"""Agent runs of every kind behind one door: load one, evaluate it in the real world.

An agent run directory has ``agent.json`` naming its kind (``dreamer``, ``mpc``,
``vmc``, or the imitation kinds ``bc`` and ``latent-bc``) and the world it acts in; each
kind knows how to rebuild its policy (and world model) from the run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from worldlab.agents.imitation import IMITATION_KINDS, evaluate_imitation
from worldlab.agents.rollout import play_in_world
from worldlab.data.episode import read_json
from worldlab.errors import WorldlabError

KINDS = ("dreamer", "mpc", "vmc", *IMITATION_KINDS)


def agent_card(run: str | Path) -> dict[str, Any]:
    path = Path(run) / "agent.json"
    card = read_json(
        path,
        f"'{run}' is not an agent run: it has no agent.json. Train one with "
        "`worldlab agent train dreamer --env reach --steps 20000 --out RUN`",
    )
    if card.get("agent") not in KINDS:
        raise WorldlabError(f"{path}: unknown agent kind {card.get('agent')!r}")
    return card


def load_agent(run: str | Path, planner: dict[str, Any] | None = None):
    """``(model, policy, on_episode_start)`` of any agent run; the policy acts greedily.

    ``planner``: settings that replace an MPC run's own (e.g. ``{"horizon": 2}``)."""
    card = agent_card(run)
    if planner and card["agent"] != "mpc":
        raise WorldlabError(f"planner settings apply to MPC runs; '{run}' is a {card['agent']} run")
    if card["agent"] in IMITATION_KINDS:
        raise WorldlabError(
            f"'{run}' is a {card['agent']} agent, which acts on frames without a world model: "
            "load it with worldlab.agents.imitation.load_imitation_agent"
        )
    if card["agent"] == "vmc":
        from worldlab.agents.vmc import load_agent as load_vmc

        model, policy = load_vmc(Path(run))
        return model, policy, None
    from worldlab.agents.online import load_online_agent

    return load_online_agent(run, planner)


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
    if card["agent"] in IMITATION_KINDS and not planner:
        return evaluate_imitation(run, episodes, seed, max_steps, record, progress)
    model, policy, on_start = load_agent(run, planner)
    torch.manual_seed(seed)
    result = play_in_world(
        model,
        policy,
        card["env_id"],
        episodes,
        seed=seed,
        max_steps=max_steps,
        env_kwargs=card.get("env_kwargs", {}),
        record=record,
        progress=progress,
        on_episode_start=on_start,
        label=f"{card['agent']} agent",
    )
    result["agent"] = card["agent"]
    return result
