"""``DreamEnv``: any trained world model as a batched Gymnasium environment.

Episodes start from real context frames drawn from a dataset (the model observes
them), then run inside the model: actions go to ``model.step``, rewards and
terminations come from its heads, observations are its rendered frames (or its
features, for agents that act on the latent state). Continuous actions are in
[-1, 1] for every world, as for every policy here; the model receives them in the
world's units (``ActionSpec.to_world``). One object serves RL inside the
dream, planning and interactive play; nothing here knows the model's family.
"""

from __future__ import annotations

from typing import Any

import gymnasium
import numpy as np
import torch
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space

from worldlab.data import EpisodeDataset
from worldlab.errors import WorldlabError
from worldlab.models import WorldModel
from worldlab.models.state import scatter_state

OBSERVATIONS = ("pixels", "features")


def action_space_of(model: WorldModel) -> gymnasium.Space:
    spec = model.action_spec
    if spec.kind == "discrete":
        return gymnasium.spaces.Discrete(spec.n)
    if spec.kind == "continuous":
        return gymnasium.spaces.Box(-1.0, 1.0, (spec.dims,), np.float32)
    raise WorldlabError(
        "this model was trained without actions: it cannot be driven as an "
        "environment until its latent actions are mapped to real ones"
    )


class DreamEnv(gymnasium.vector.VectorEnv):
    """``num_envs`` imagined episodes at once, started from ``dataset`` context windows.

    ``observation="pixels"`` gives ``[N, H, W, C] uint8`` frames, ``"features"`` the
    model's ``[N, F] float32`` features. An episode ends when the continue head says
    ``p(continue) < continue_threshold`` (terminated) or after ``max_steps`` imagined
    steps (truncated); it restarts on the next ``step`` call (Gymnasium's next-step
    autoreset), returning reward 0 for that call.
    """

    metadata = {"render_modes": ["rgb_array"], "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(
        self,
        model: WorldModel,
        dataset: EpisodeDataset,
        num_envs: int = 1,
        context: int = 5,
        max_steps: int = 15,
        observation: str = "pixels",
        continue_threshold: float = 0.5,
        seed: int | None = None,
    ):
        if observation not in OBSERVATIONS:
            raise WorldlabError(f"observation must be one of {OBSERVATIONS}, got '{observation}'")
        if num_envs < 1 or context < 1 or max_steps < 1:
            raise WorldlabError("num_envs, context and max_steps must be ≥ 1")
        self.model = model.eval()
        self.dataset = dataset
        self.num_envs, self.context, self.max_steps = num_envs, context, max_steps
        self.observation, self.continue_threshold = observation, continue_threshold
        self.render_mode = "rgb_array"
        self.single_action_space = action_space_of(model)
        if observation == "pixels":
            self.single_observation_space = gymnasium.spaces.Box(0, 255, model.obs_shape, np.uint8)
        else:
            self.single_observation_space = gymnasium.spaces.Box(
                -np.inf, np.inf, (model.feature_dims,), np.float32
            )
        self.action_space = batch_space(self.single_action_space, num_envs)
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self._rng = np.random.default_rng(seed)
        self._state: Any = None
        self._steps = np.zeros(num_envs, np.int64)
        self._needs_reset = np.zeros(num_envs, bool)

    # -- episodes ------------------------------------------------------------------
    @torch.no_grad()
    def _start_states(self, count: int) -> Any:
        window = self.dataset.sample(count, self.context, self._rng)
        device = self.model.device
        obs = torch.from_numpy(window["obs"]).to(device)
        action = torch.from_numpy(window["action"]).to(device)
        is_first = torch.zeros(count, self.context, dtype=torch.bool, device=device)
        is_first[:, 0] = True
        return self.model.observe(obs, action, is_first)

    @torch.no_grad()
    def _observe(self) -> np.ndarray:
        if self.observation == "pixels":
            return self.model.render(self._state).cpu().numpy()
        return self.model.features(self._state).float().cpu().numpy()

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Start every env from a fresh context window; ``seed`` fixes windows and sampling."""
        if seed is not None:
            self._rng = np.random.default_rng(seed)
            torch.manual_seed(seed)
        self._state = self._start_states(self.num_envs)
        self._steps[:] = 0
        self._needs_reset[:] = False
        return self._observe(), {}

    @torch.no_grad()
    def step(self, actions):
        if self._state is None:
            raise WorldlabError("call reset() before step()")
        action = self._action_tensor(actions)
        state, reward, cont = self.model.step(self._state, self.model.action_spec.to_world(action))
        reward = reward.float().cpu().numpy().astype(np.float32)
        terminated = cont.float().cpu().numpy() < self.continue_threshold
        self._steps += 1
        truncated = self._steps >= self.max_steps
        restarting = np.flatnonzero(self._needs_reset)
        if len(restarting):
            index = torch.as_tensor(restarting, device=self.model.device)
            state = scatter_state(state, index, self._start_states(len(restarting)))
            reward[restarting] = 0.0
            terminated[restarting] = False
            truncated[restarting] = False
            self._steps[restarting] = 0
        self._state = state
        self._needs_reset = terminated | truncated
        return self._observe(), reward, terminated, truncated, {}

    def _action_tensor(self, actions) -> torch.Tensor:
        actions = np.asarray(actions)
        if not self.action_space.contains(actions.astype(self.action_space.dtype)):
            raise WorldlabError(f"actions {actions.tolist()} are not in {self.action_space}")
        dtype = torch.long if self.model.action_spec.kind == "discrete" else torch.float32
        return torch.as_tensor(actions, dtype=dtype, device=self.model.device)

    def render(self) -> np.ndarray:
        """Frames ``[N, H, W, C] uint8`` of the current imagined states."""
        with torch.no_grad():
            return self.model.render(self._state).cpu().numpy()


class SingleDreamEnv(gymnasium.Env):
    """One imagined episode at a time, for libraries that expect a ``gymnasium.Env``
    (wrap it in their own vectoriser); passes Gymnasium's env checker."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 15}

    def __init__(self, model: WorldModel, dataset: EpisodeDataset, **kwargs):
        self.vector = DreamEnv(model, dataset, num_envs=1, **kwargs)
        self.action_space = self.vector.single_action_space
        self.observation_space = self.vector.single_observation_space
        self.render_mode = "rgb_array"

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        obs, info = self.vector.reset(seed=seed)
        return obs[0], info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.vector.step(np.asarray([action]))
        return obs[0], float(reward[0]), bool(terminated[0]), bool(truncated[0]), info

    def render(self) -> np.ndarray:
        return self.vector.render()[0]
