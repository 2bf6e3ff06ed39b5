"""A bc or latent-bc agent run, loaded and played: ``load_imitation_agent``,
``evaluate_imitation`` (trained by ``worldlab.agents.imitation``).

The run holds ``agent.json`` (the card, with the settings under ``"settings"`` and the
SHA-256 of every weights file), ``policy.safetensors`` and, for latent BC,
``action_map.json`` and ``decoder.safetensors``. No world model runs at act time: the
policy reads the last ``frames`` frames. A bc run on continuous actions records them in
its card (``continuous``, ``action_dims``, ``action_low``, ``action_high``) and acts with
float32 arrays.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load as load_safetensors
from torch import nn

from worldlab.agents.frame_policy import FrameHistory, FramePolicy
from worldlab.agents.kinds import AGENT_FILE, KINDS
from worldlab.agents.rollout import run_episodes
from worldlab.data.episode import read_json
from worldlab.errors import WorldlabError
from worldlab.evaluate.action_map import ActionMap
from worldlab.train.integrity import sha256_of
from worldlab.worlds import make_env

IMITATION_KINDS = tuple(name for name, kind in KINDS.items() if kind.from_video)
POLICY_FILE, DECODER_FILE = "policy.safetensors", "decoder.safetensors"


def _read_weights(run: Path, name: str, digest: str | None) -> dict[str, torch.Tensor]:
    path = run / name
    if not path.is_file():
        raise WorldlabError(f"{path} is missing; retrain the agent into {run}")
    if sha256_of(path) != digest:
        raise WorldlabError(f"{path} fails its checksum (damaged); retrain the agent into {run}")
    return load_safetensors(path.read_bytes())


DECODES = ("decoder", "map")


@dataclasses.dataclass
class ImitationAgent:
    """A bc or latent-bc run, loaded: ``actions(stacks)`` gives real actions."""

    card: dict[str, Any]
    policy: FramePolicy
    action_map: ActionMap | None = None  # latent BC: codes → real actions, by majority
    decoder: nn.Linear | None = None  # latent BC with labels: features → real actions

    @property
    def continuous(self) -> bool:
        return self.policy.continuous

    @torch.no_grad()
    def actions(self, stacks: torch.Tensor, decode: str = "decoder") -> torch.Tensor:
        """Greedy real actions ``[B]`` int64 (discrete) or ``[B, D]`` float32 (continuous)
        for frame stacks ``[B, K, H, W, C]``. Latent BC reads them out with its ``decoder``
        (when it has one and ``decode="decoder"``) or maps the likeliest code through the
        majority ``action_map`` (``decode="map"``)."""
        if decode not in DECODES:
            raise WorldlabError(f"decode must be one of {', '.join(DECODES)}, got {decode!r}")
        if self.continuous:
            return self.policy(stacks)
        if self.decoder is not None and decode == "decoder":
            return self.decoder(self.policy.features(stacks)).argmax(1)
        choice = self.policy(stacks).argmax(1)
        return choice if self.action_map is None else self.action_map.to_real(choice)

    def act(self, stack: torch.Tensor, decode: str = "decoder") -> int | np.ndarray:
        """The real world's action for one frame stack ``[1, K, H, W, C]``: an int, or a
        float32 array ``[D]`` for continuous actions."""
        action = self.actions(stack, decode)[0]
        return action.numpy().astype(np.float32) if self.continuous else int(action)


def load_imitation_agent(run: str | Path) -> ImitationAgent:
    """A bc or latent-bc run, its weights verified against the card's checksums."""
    run = Path(run)
    card = read_json(run / AGENT_FILE, f"'{run}' is not an agent run: it has no {AGENT_FILE}")
    if card.get("agent") not in IMITATION_KINDS:
        raise WorldlabError(f"'{run}' holds a '{card.get('agent')}' agent, not bc or latent-bc")
    settings = KINDS[card["agent"]].saved_settings(run, card)
    bounds = (card["action_low"], card["action_high"]) if card.get("continuous") else None
    policy = FramePolicy(
        int(card["classes"]),
        int(settings["frames"]),
        channels=int(card["obs_shape"][-1]),
        action_bounds=bounds,
        encoder=settings.get("encoder", "conv"),  # runs from before keypoints: conv
    )
    policy.load_state_dict(_read_weights(run, POLICY_FILE, card.get("policy_sha256")))
    agent = ImitationAgent(card, policy.eval())
    if card.get("action_map"):
        agent.action_map = ActionMap.load(run / card["action_map"])
    if card.get("decoder"):
        weights = _read_weights(run, card["decoder"], card.get("decoder_sha256"))
        agent.decoder = nn.Linear(weights["weight"].shape[1], weights["weight"].shape[0])
        agent.decoder.load_state_dict(weights)
    return agent


@torch.no_grad()
def evaluate_imitation(
    run: str | Path,
    episodes: int = 10,
    seed: int = 1_000_000,
    max_steps: int | None = None,
    record: bool = False,
    progress: bool = True,
    decode: str = "decoder",
    env_kwargs: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Real episodes with the run's greedy policy (``ImitationAgent.act``, with
    ``decode``), cut at ``max_steps`` (default: the longest episode it learned from);
    what ``run_episodes`` returns.

    ``env_kwargs`` are merged over the card's (e.g. ``{"skin": "noise"}``: the same policy
    in a world drawn otherwise); the frames must keep the shape the policy learned from."""
    agent = load_imitation_agent(run)
    card = agent.card
    max_steps = max_steps or card.get("episode_steps")
    env = _world(card, env_kwargs or {})
    result = run_episodes(
        card["env_id"],
        env,
        FrameHistory(agent.policy.frames),
        lambda stack: agent.act(stack, decode),
        lambda action: action,
        episodes,
        seed,
        max_steps,
        record,
        progress,
        label=f"{card['agent']} agent",
    )
    result["agent"] = card["agent"]
    return result


def _world(card: dict[str, Any], env_kwargs: dict[str, Any]):
    """The card's world, its keyword arguments overridden by ``env_kwargs``."""
    kwargs = {"size": int(card["obs_shape"][0]), **card.get("env_kwargs", {}), **env_kwargs}
    try:
        env = make_env(card["env_id"], **kwargs)
    except TypeError as error:  # an argument the world's constructor does not take
        raise WorldlabError(f"{card['env_id']} cannot be made with {kwargs}: {error}") from None
    shape = list(env.observation_space.shape)
    if shape != list(card["obs_shape"]):
        env.close()
        raise WorldlabError(
            f"with the keyword arguments {env_kwargs}, {card['env_id']} shows {shape} frames, "
            f"but the policy learned from {list(card['obs_shape'])}; leave the frame size be"
        )
    return env


def load_imitation_policy(run: str | Path) -> tuple[None, Any]:
    """``(None, policy)`` for ``worldlab.agents.runs.load_agent``: no world model, and a
    policy from frame stacks ``[1, K, H, W, C]`` to greedy real actions ``[1]`` (``[1, D]``
    float32 for continuous actions)."""
    agent = load_imitation_agent(run)
    return None, agent.actions
