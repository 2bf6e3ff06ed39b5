"""Run MPC in a real environment with a world model trained offline (``worldlab plan``).

Each step the model observes the last ``context`` real frames and actions, the
planner searches action sequences inside the model, and the first action of the
best plan is taken in the real world.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from worldlab.agents.planning import Planner, PlannerConfig, model_return
from worldlab.evaluate.metrics import mean_ci
from worldlab.models import WorldModel
from worldlab.progress import progress_bar
from worldlab.worlds import make_env


def make_planner(model: WorldModel, config: PlannerConfig, seed: int = 0) -> Planner:
    spec = model.action_spec
    generator = torch.Generator(device=model.device).manual_seed(seed)
    if spec.kind == "discrete":
        return Planner(config, discrete=spec.n, generator=generator, device=model.device)
    return Planner(config, action_dims=spec.dims, generator=generator, device=model.device)


@torch.no_grad()
def run_mpc(
    model: WorldModel,
    env_id: str | None = None,
    episodes: int = 3,
    config: PlannerConfig | None = None,
    context: int = 5,
    max_steps: int | None = None,
    seed: int = 0,
    env_kwargs: dict | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Play ``episodes`` real episodes with MPC; returns per-episode returns and summary.

    ``env_id`` defaults to the world the model's training data came from.
    """
    data = model.run_config["data"]
    env_id = env_id or data["env_id"]
    env_kwargs = data.get("env_kwargs", {}) if env_kwargs is None else env_kwargs
    env = make_env(env_id, size=model.obs_shape[0], **env_kwargs)
    planner = make_planner(model, config or PlannerConfig(), seed)
    discrete = model.action_spec.kind == "discrete"
    returns, successes, frames = [], [], []
    torch.manual_seed(seed)
    with progress_bar(progress) as bar:
        task = bar.add_task(f"mpc on {env_id}", total=episodes, unit="episodes")
        for episode in range(episodes):
            obs, info = env.reset(seed=seed + episode)
            planner.reset()
            history_obs = [obs]
            history_action = [
                np.zeros((), np.int64) if discrete else np.zeros(model.action_spec.dims, np.float32)
            ]
            total, success, step = 0.0, False, 0
            while True:
                window_obs = torch.from_numpy(np.stack(history_obs[-context:]))[None]
                window_action = torch.from_numpy(np.stack(history_action[-context:]))[None]
                state = model.observe(window_obs.to(model.device), window_action.to(model.device))
                action = planner.plan(
                    lambda a, s=state: model_return(model, s, a, planner.config.discount)
                )
                action = int(action) if discrete else action.cpu().numpy().astype(np.float32)
                obs, reward, terminated, truncated, info = env.step(action)
                total += float(reward)
                success = success or bool(info.get("success", False))
                history_obs.append(obs)
                history_action.append(np.asarray(action))
                if episode == 0:
                    frames.append(obs)
                step += 1
                if terminated or truncated or (max_steps and step >= max_steps):
                    break
            returns.append(total)
            successes.append(success)
            bar.advance(task)
    env.close()
    mean, half_width = mean_ci(np.array(returns))
    return {
        "env_id": env_id,
        "episodes": episodes,
        "returns": returns,
        "mean_return": float(mean),
        "return_ci": None if np.isnan(half_width) else float(half_width),
        "success_rate": float(np.mean(successes)),
        "frames": np.stack(frames),
    }
