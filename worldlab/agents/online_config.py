"""The config of an online agent run (``agent train dreamer|mpc``): building it, resuming it.

An online run is a world-model run (``config.json``, whose ``data`` section points at
the run's own ``replay/``) plus the agent's card, ``agent.json``, which keeps the kind's
settings (``online``, ``behavior``, ``planner``; see ``OnlineAgentSettings``) under
``"settings"``, as every agent kind does. Runs written before kept them in
``config.json["agent"]``: they load and resume, and a resumed one is rewritten the new way.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from worldlab.agents.behavior import BehaviorConfig
from worldlab.agents.kinds import SETTINGS_KEY, agent_kind, online_kinds
from worldlab.agents.planning import PlannerConfig
from worldlab.errors import WorldlabError
from worldlab.train.checkpoint import checkpoint_dirs
from worldlab.train.config import (
    TrainConfig,
    apply_overrides,
    apply_resume,
    family_config,
    load_config,
    to_dict,
)
from worldlab.worlds import make_env, resolve_env_id

REPLAY = "replay"
# Settings a resumed run may change: they alter how it proceeds, not what it learns.
ONLINE_RESUMABLE = frozenset(
    {
        "train.device",
        "train.threads",
        "online.eval_every",
        "online.eval_episodes",
        "online.checkpoint_every",
        "online.log_every",
    }
)


@dataclasses.dataclass
class OnlineConfig:
    env: str = "reach"
    steps: int = 20_000  # environment steps in total
    prefill: int = 1_000  # steps of exploration before learning starts
    # how the prefill explores: random | sticky | brownian (worldlab.data.policies); with
    # brownian, a body with inertia reaches the speeds a planner will later ask of it
    prefill_policy: str = "random"
    # after the prefill, this share of episodes (drawn per episode) is still played by
    # prefill_policy while the agent learns: keeps the model's data as broad as the prefill's
    explore_share: float = 0.0
    train_ratio: float = 64.0  # replayed steps (batch × sequence) per environment step
    pretrain: int = 0  # updates on the prefill data before the agent first acts
    eval_every: int = 2_500  # environment steps between real-world evaluations
    eval_episodes: int = 5
    eval_seed: int = 1_000_000  # evaluation episodes use seeds eval_seed, eval_seed + 1, ...
    checkpoint_every: int = 2_500
    size: int = 64  # frame size
    max_episode_steps: int | None = None
    seed: int = 0
    log_every: int = 20  # updates between metric lines


@dataclasses.dataclass
class OnlineAgentSettings:
    """An online run's settings (``agent.json["settings"]``): the kind and its three
    sections (both kinds keep all three, so ``--set behavior.X`` is accepted by an MPC run
    too)."""

    kind: str
    online: OnlineConfig
    behavior: BehaviorConfig
    planner: PlannerConfig

    @classmethod
    def from_dict(cls, saved: dict[str, Any]) -> OnlineAgentSettings:
        return cls(
            saved["kind"],
            OnlineConfig(**saved["online"]),
            BehaviorConfig(**saved["behavior"]),
            PlannerConfig(**saved["planner"]),
        )

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **{k: to_dict(v) for k, v in self.sections().items()}}

    def sections(self) -> dict[str, Any]:
        return {"online": self.online, "behavior": self.behavior, "planner": self.planner}


def new_online_config(
    agent: str,
    env: str,
    steps: int,
    preset: str | None = None,
    overrides: dict[str, Any] | None = None,
    env_kwargs: dict[str, Any] | None = None,
    family: str = "rssm",
) -> tuple[dict[str, Any], OnlineAgentSettings]:
    """The resolved config of a new online run (world model, training, data) and its
    agent's settings (behaviour, planner, loop)."""
    if agent not in online_kinds():
        kinds = ", ".join(online_kinds())
        raise WorldlabError(f"online agent must be one of {kinds}, got '{agent}'")
    from worldlab.data.manifest import action_spec
    from worldlab.models import get_family

    model_config, preset = family_config(get_family(family), preset or "tiny")
    train = TrainConfig(batch_size=16, seq_len=32, checkpoint_every=10**9)
    settings = OnlineAgentSettings(
        agent,
        OnlineConfig(env=env, steps=steps),
        BehaviorConfig(),
        PlannerConfig(samples=128, elites=16, iterations=4),
    )
    apply_overrides({"model": model_config, "train": train, **settings.sections()}, overrides or {})
    online = settings.online
    if not 0.0 <= online.explore_share <= 1.0:
        raise WorldlabError(
            f"online.explore_share is the share of episodes played by the exploration policy "
            f"after the prefill: give a number from 0 to 1, not {online.explore_share}"
        )
    env_id = resolve_env_id(online.env)
    world = make_env(env_id, size=online.size, **(env_kwargs or {}))  # for its action space
    spec = action_spec(world.action_space)
    world.close()
    config = {
        "family": family,
        "preset": preset,
        "model": to_dict(model_config),
        "train": to_dict(train),
        "data": {
            "path": REPLAY,  # the run directory's replay/ (made absolute by OnlineRun)
            "env_id": env_id,
            "env_kwargs": dict(env_kwargs or {}),
            "obs_shape": [online.size, online.size, 3],
            "action": spec,
        },
    }
    return config, settings


def online_agent_card(config: dict[str, Any], settings: OnlineAgentSettings) -> dict[str, Any]:
    """The run's ``agent.json``: its kind, world and settings; the world model is the run
    itself."""
    data = config["data"]
    return {
        "agent": settings.kind,
        "env_id": data["env_id"],
        "env_kwargs": data["env_kwargs"],
        "world_model": ".",
        SETTINGS_KEY: settings.to_dict(),
    }


def online_run_config(
    agent: str,
    env: str,
    steps: int,
    out: str | Path,
    preset: str | None = None,
    overrides: dict[str, Any] | None = None,
    env_kwargs: dict[str, Any] | None = None,
    resume: bool = False,
    family: str = "rssm",
) -> tuple[dict[str, Any], OnlineAgentSettings]:
    """The config and agent settings to run: a new run's, or the saved ones of the run in
    ``out`` (with ``resume``), given the command line (``steps`` may grow; see
    ``resume_online_config``)."""
    out = Path(out)
    if not checkpoint_dirs(out):
        return new_online_config(agent, env, steps, preset, overrides, env_kwargs, family)
    if not resume:
        raise WorldlabError(
            f"'{out}' already holds an agent run; pass --resume to continue it "
            "or choose another --out"
        )
    config = load_config(out)
    config.pop("agent", None)  # where runs written before agent.json["settings"] kept them
    saved = agent_kind(agent).saved_settings(out)
    if saved.get("kind") != agent:
        raise WorldlabError(f"--resume: '{out}' is a '{saved.get('kind')}' run, not '{agent}'")
    resume_online_config(config, saved, env, preset, overrides or {}, env_kwargs)
    saved["online"]["steps"] = steps
    return config, OnlineAgentSettings.from_dict(saved)


def resume_online_config(
    config: dict[str, Any],
    settings: dict[str, Any],
    env: str,
    preset: str | None,
    overrides: dict[str, Any],
    env_kwargs: dict[str, Any] | None,
) -> list[str]:
    """Apply the command line of a resumed run to its saved ``config`` and agent
    ``settings`` (``OnlineAgentSettings.to_dict()``): settings that only change how it
    proceeds are taken, anything that would change what it learns is refused (rather than
    silently ignored)."""
    sections = {**config, **settings}  # online, behavior and planner are the agent's
    implied = {}
    if preset is not None:
        implied["preset"] = preset
    if resolve_env_id(env) != config["data"]["env_id"]:
        implied["online.env"] = env
    if env_kwargs and env_kwargs != config["data"]["env_kwargs"]:
        implied["data.env_kwargs"] = env_kwargs
    return apply_resume(sections, overrides, implied, ONLINE_RESUMABLE)
