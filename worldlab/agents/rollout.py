"""Act in a real world with a policy that reads a world model's state.

The model filters the real observations one frame at a time (``observe`` with the
previous ``state``); the policy maps that state to an action. Dreamer's actor, the
V-M-C controller and MPC all act through ``play_in_world``: only the policy differs.
Policies that read frames instead of a model (behavioural cloning) share its episode
loop, ``run_episodes``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import torch

from worldlab.errors import WorldlabError
from worldlab.evaluate.metrics import mean_ci
from worldlab.models import WorldModel
from worldlab.progress import progress_bar
from worldlab.worlds import make_env

# A policy: (model state, batch of 1) → action ``[1]`` int64 or ``[1, A]`` float32.
Policy = Callable[[Any], torch.Tensor]


class LoadedAgent(NamedTuple):
    """An agent run, loaded to act greedily (``worldlab.agents.runs.load_agent``)."""

    model: WorldModel | None  # None for the agents that read frames (bc, latent-bc)
    policy: Policy  # reads the model's belief state (or, without a model, the last frames)
    on_episode_start: Callable[[], None] | None = None  # e.g. a planner forgetting its plan


def null_action(model: WorldModel) -> np.ndarray:
    """The action stored with an episode's first frame (nothing led to it)."""
    return model.action_spec.null().numpy()


def world_of(model: WorldModel, env_id: str | None, env_kwargs: dict | None):
    """The real world a model was trained on (or ``env_id``), at the model's frame size."""
    if len(model.obs_shape) != 3:
        raise WorldlabError(
            "acting in a real world needs a model of pixels; this one models state vectors "
            "(train.observation=state)"
        )
    data = model.run_config["data"]
    env_id = env_id or data["env_id"]
    env_kwargs = data.get("env_kwargs", {}) if env_kwargs is None else env_kwargs
    return env_id, make_env(env_id, size=model.obs_shape[0], **env_kwargs)


class Filter:
    """Tracks a model's belief state over one real episode, one frame at a time."""

    def __init__(self, model: WorldModel):
        self.model = model
        self.state: Any = None

    def reset(self, obs: np.ndarray) -> Any:
        self.state = None
        return self.update(null_action(self.model), obs)

    def update(self, action: Any, obs: np.ndarray) -> Any:
        device = self.model.device
        # A copy: some worlds hand out read-only frames, which torch warns about sharing.
        obs_t = torch.tensor(np.asarray(obs), device=device)[None, None]
        action_t = torch.as_tensor(np.asarray(action), device=device)[None, None]
        self.state = self.model.observe(obs_t, action_t, state=self.state)
        return self.state


def to_env_action(model: WorldModel, action: torch.Tensor) -> Any:
    """A policy's action (continuous ones in [-1, 1]) as the real world takes it."""
    if model.action_spec.kind == "discrete":
        return int(action.reshape(-1)[0])
    world = model.action_spec.to_world(action.reshape(-1).detach().float().clamp(-1, 1))
    return world.cpu().numpy().astype(np.float32)


@torch.no_grad()
def play_in_world(
    model: WorldModel,
    policy: Policy,
    env_id: str | None = None,
    episodes: int = 3,
    seed: int = 0,
    max_steps: int | None = None,
    env_kwargs: dict | None = None,
    record: bool = False,
    progress: bool = True,
    on_episode_start: Callable[[], None] | None = None,
    label: str = "acting",
) -> dict[str, Any]:
    """Play ``episodes`` real episodes (seeds ``seed``, ``seed + 1``, ...) with ``policy``.

    Returns per-episode ``returns`` and ``successes``, their means with 95% CIs, the
    episode lengths and, with ``record``, the first episode's ``frames``.
    """
    env_id, env = world_of(model, env_id, env_kwargs)
    return run_episodes(
        env_id,
        env,
        Filter(model),
        policy,
        lambda action: to_env_action(model, action),
        episodes,
        seed,
        max_steps,
        record,
        progress,
        on_episode_start,
        label,
    )


@torch.no_grad()
def play_agent(
    agent: LoadedAgent,
    card: dict[str, Any],
    episodes: int,
    seed: int,
    max_steps: int | None = None,
    record: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """``play_in_world`` with a loaded agent run, in the world its ``agent.json`` card
    names; the result says which kind of agent played (what ``worldlab agent eval`` prints)."""
    torch.manual_seed(seed)
    result = play_in_world(
        agent.model,
        agent.policy,
        card["env_id"],
        episodes,
        seed=seed,
        max_steps=max_steps,
        env_kwargs=card.get("env_kwargs", {}),
        record=record,
        progress=progress,
        on_episode_start=agent.on_episode_start,
        label=f"{card['agent']} agent",
    )
    result["agent"] = card["agent"]
    return result


def run_episodes(
    env_id: str,
    env,
    observer,
    policy: Callable[[Any], Any],
    to_action: Callable[[Any], Any],
    episodes: int = 3,
    seed: int = 0,
    max_steps: int | None = None,
    record: bool = False,
    progress: bool = True,
    on_episode_start: Callable[[], None] | None = None,
    label: str = "acting",
) -> dict[str, Any]:
    """The episode loop behind every agent: ``observer`` turns real frames into the
    policy's input (``reset(obs)``, ``update(action, obs)``: a model's belief in
    ``Filter``, recent frames in ``FrameHistory``), ``to_action`` turns the policy's output
    into the env's action. Closes ``env``; returns what ``summarize`` returns."""
    returns, successes, lengths, frames = [], [], [], []
    with progress_bar(progress) as bar:
        task = bar.add_task(f"{label} on {env_id}", total=episodes, unit="episodes")
        for episode in range(episodes):
            if on_episode_start is not None:
                on_episode_start()
            obs, info = env.reset(seed=seed + episode)
            state = observer.reset(obs)
            if record and episode == 0:
                frames.append(obs)
            total, success, step = 0.0, False, 0
            while True:
                action = to_action(policy(state))
                obs, reward, terminated, truncated, info = env.step(action)
                total += float(reward)
                success = success or bool(info.get("success", False))
                step += 1
                if record and episode == 0:
                    frames.append(obs)
                if terminated or truncated or (max_steps and step >= max_steps):
                    break
                state = observer.update(action, obs)
            returns.append(total)
            successes.append(success)
            lengths.append(step)
            bar.advance(task)
    env.close()
    return summarize(env_id, returns, successes, lengths, frames)


def summarize(
    env_id: str,
    returns: list[float],
    successes: list[bool],
    lengths: list[int],
    frames: list[np.ndarray] | None = None,
) -> dict[str, Any]:
    mean, half_width = mean_ci(np.array(returns, float))
    success_mean, success_half = mean_ci(np.array(successes, float))
    result = {
        "env_id": env_id,
        "episodes": len(returns),
        "returns": [float(r) for r in returns],
        "successes": [bool(s) for s in successes],
        "lengths": lengths,
        "mean_return": float(mean),
        "return_ci": None if np.isnan(half_width) else float(half_width),
        "success_rate": float(success_mean),
        "success_ci": None if np.isnan(success_half) else float(success_half),
    }
    if frames:
        result["frames"] = np.stack(frames)
    return result
