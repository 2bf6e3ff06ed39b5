"""The agent kinds, in one table: what each is, how to train it, how to load it, its settings.

``worldlab agent train KIND``, ``worldlab agent eval``, the online loop and the loader of
agent runs (``worldlab.agents.runs``) all read this table. A kind names its code by
``"module:attribute"``, imported when used, so this module imports none of them: every
agent module may import it, and the command line reads it without loading torch.

Every kind keeps a run's settings in one place: ``agent.json["settings"]``, the card of
the run. Runs written before that kept them where ``legacy_settings_at`` says (the online
kinds in ``config.json["agent"]``, V-M-C at the card's top level, bc and latent-bc under
``"imitation"``); ``saved_settings`` reads both, so those runs still load and resume.
"""

from __future__ import annotations

import dataclasses
import importlib
from pathlib import Path
from typing import Any

from worldlab.errors import WorldlabError

AGENT_FILE = "agent.json"  # an agent run's card: its kind, world and settings
SETTINGS_KEY = "settings"  # where the card keeps the kind's settings


@dataclasses.dataclass
class TrainRequest:
    """What ``worldlab agent train`` was given; each kind reads the part it needs."""

    out: Path
    env: str | None = None  # the world it learns in (dreamer, mpc, vmc)
    steps: int | None = None  # real environment steps in total (dreamer, mpc, vmc)
    preset: str | None = None  # world-model size preset
    seed: int | None = None  # None: 0 for a new run, a resumed run's own
    overrides: dict[str, Any] = dataclasses.field(default_factory=dict)  # --set
    env_kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)  # --env-arg
    resume: bool = False
    family: str = "rssm"  # world-model family of the online kinds
    video: Path | None = None  # latent-bc: expert video
    model: Path | None = None  # latent-bc: a latent-action model's run
    labelled: Path | None = None  # bc, latent-bc: episodes with real actions
    labels: int | None = None  # bc, latent-bc: labelled transitions to use
    eval_episodes: int = 10  # bc, latent-bc: real episodes to score
    policy_from: Path | None = None  # latent-bc: reuse this run's policy
    progress: bool = True

    @property
    def seed_or_default(self) -> int:
        """The seed given, or 0 where none was."""
        return 0 if self.seed is None else self.seed

    def world(self, kind: str) -> tuple[str, int]:
        """``(env, steps)``, which every kind that learns in a world needs."""
        if self.env is None or self.steps is None:
            raise WorldlabError(f"a {kind} agent learns in a world: give --env and --steps")
        return self.env, self.steps


@dataclasses.dataclass(frozen=True)
class AgentKind:
    name: str
    summary: str
    from_video: bool  # learns from video and labels (else: by acting in a world)
    train: str  # (kind name, TrainRequest) → the final real-world evaluation, or None
    load: str  # (run[, planner]) → (model, policy[, on_episode_start]); see runs.load_agent
    settings: str  # the settings' type, built from ``agent.json["settings"]``
    # where runs written before ``agent.json["settings"]`` kept them: (file in the run, key
    # in it, or None: the whole file)
    legacy_settings_at: tuple[str, str | None]
    online_agent: str | None = None  # the online loop's per-kind object (online_agents.py)
    evaluate: str | None = None  # its own evaluation (else: play the loaded policy)
    plans: bool = False  # takes planner settings when loaded (``agent eval --planner``)

    def resolve(self, field: str) -> Any:
        """The function or class that ``field`` names, imported now."""
        module, _, attribute = getattr(self, field).partition(":")
        return getattr(importlib.import_module(module), attribute)

    def saved_settings(self, run: str | Path, card: dict[str, Any] | None = None) -> dict:
        """A run's settings as saved (a dict): ``agent.json["settings"]``, or where runs of
        this kind written before it kept them. ``card``: the run's ``agent.json``, if read."""
        from worldlab.data.episode import read_json

        def read(file: str) -> dict[str, Any]:
            return read_json(
                Path(run) / file, f"'{run}' is not a {self.name} agent run: {file} is missing"
            )

        card = read(AGENT_FILE) if card is None else card
        if SETTINGS_KEY in card:
            return card[SETTINGS_KEY]
        file, key = self.legacy_settings_at
        saved = card if file == AGENT_FILE else read(file)
        if key is not None and key not in saved:
            raise WorldlabError(
                f"'{run}' has no settings: neither {AGENT_FILE}[{SETTINGS_KEY!r}] nor "
                f"{file}[{key!r}]; train the {self.name} agent again"
            )
        return saved if key is None else saved[key]

    def read_settings(self, run: str | Path, card: dict[str, Any] | None = None) -> Any:
        """A run's settings as ``settings`` (typed), wherever the run keeps them."""
        saved = self.saved_settings(run, card)
        settings_type = self.resolve("settings")
        if hasattr(settings_type, "from_dict"):
            return settings_type.from_dict(saved)
        names = {field.name for field in dataclasses.fields(settings_type)}
        return settings_type(**{k: v for k, v in saved.items() if k in names})


_ONLINE = dict(
    from_video=False,
    train="worldlab.agents.online:train_requested",
    load="worldlab.agents.online_agents:load_online_agent",
    settings="worldlab.agents.online_config:OnlineAgentSettings",
    legacy_settings_at=("config.json", "agent"),
)
_IMITATION = dict(
    from_video=True,
    load="worldlab.agents.imitation_agent:load_imitation_policy",
    settings="worldlab.agents.imitation:ImitationConfig",
    legacy_settings_at=(AGENT_FILE, "imitation"),
    evaluate="worldlab.agents.imitation_agent:evaluate_imitation",
)
KINDS: dict[str, AgentKind] = {
    kind.name: kind
    for kind in (
        AgentKind(
            "dreamer",
            "Dreamer's actor-critic, learned in imagination while acting online",
            online_agent="worldlab.agents.online_agents:DreamerAgent",
            **_ONLINE,
        ),
        AgentKind(
            "mpc",
            "MPC (CEM / MPPI) inside a world model learned online",
            online_agent="worldlab.agents.online_agents:MPCAgent",
            plans=True,
            **_ONLINE,
        ),
        AgentKind(
            "vmc",
            "Ha & Schmidhuber's V-M-C controller, evolved with CMA-ES in the dream",
            from_video=False,
            train="worldlab.agents.vmc:train_requested",
            load="worldlab.agents.vmc:load_vmc_agent",
            settings="worldlab.agents.evolution:VMCAgentConfig",
            legacy_settings_at=(AGENT_FILE, None),
        ),
        AgentKind(
            "latent-bc",
            "behaviour cloned from expert video through a latent-action model",
            train="worldlab.agents.imitation:train_latent_bc_requested",
            **_IMITATION,
        ),
        AgentKind(
            "bc",
            "behavioural cloning on real actions",
            train="worldlab.agents.imitation:train_bc_requested",
            **_IMITATION,
        ),
    )
}


def agent_kind(name: str) -> AgentKind:
    """The kind called ``name``, or a clear error that lists them."""
    if name not in KINDS:
        raise WorldlabError(f"unknown agent '{name}': choose {choices()}")
    return KINDS[name]


def choices(names: list[str] | None = None) -> str:
    """``dreamer, mpc, vmc, latent-bc or bc``."""
    names = list(KINDS) if names is None else names
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def online_kinds() -> list[str]:
    """The kinds the online loop trains (``worldlab.agents.online``)."""
    return [kind.name for kind in KINDS.values() if kind.online_agent is not None]
