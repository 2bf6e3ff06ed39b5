"""A latent-action model driven by a world's real actions.

A family that learns from action-free video (``genie``) invents its own actions, a few
latent codes. An action map (``worldlab.evaluate.action_map.fit_action_map`` fits one
from labelled episodes) translates real actions to codes and back; ``RealActionModel``
wraps the model so that it takes real actions, and any agent, planner or the player can
use it as it uses a model trained with actions.
"""

from __future__ import annotations

from typing import Protocol

import torch

from worldlab.errors import WorldlabError
from worldlab.models.base import ActionSpec, WorldModel


class ActionTranslator(Protocol):
    """What ``RealActionModel`` needs of an action map."""

    @property
    def real_spec(self) -> ActionSpec: ...

    def to_real(self, latent: torch.Tensor) -> torch.Tensor: ...

    def to_latent(self, real: torch.Tensor) -> torch.Tensor: ...


class RealActionModel(WorldModel):
    """``model`` seen through an ``ActionMap``: its ``action_spec`` is the real one, and
    ``step`` translates real actions to latent codes. Everything else is the model's."""

    Config = dict

    def __init__(self, model: WorldModel, action_map: ActionTranslator):
        super().__init__(model.config, model.obs_shape, action_map.real_spec)
        self.model = model
        self.action_map = action_map
        self.family = getattr(model, "family", type(model).__name__)
        self.run_config = model.run_config

    @property
    def sampling_options(self):
        """The wrapped model's (their values live in the config the two share)."""
        return self.model.sampling_options

    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)
        except AttributeError:
            if name == "model":
                raise
            return getattr(super().__getattr__("model"), name)

    def _is_real(self, action: torch.Tensor) -> bool:
        spec = self.action_spec
        if spec.kind == "discrete":
            return action.ndim == 2 and not action.dtype.is_floating_point
        return action.ndim == 3 and action.dtype.is_floating_point and action.shape[-1] == spec.dims

    def _context_codes(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """Codes for context frames: translated real actions, else inferred from frames."""
        if self._is_real(action):
            return self.action_map.to_latent(action)
        if obs.shape[1] >= 2:
            return self.model.infer_actions(obs, action)
        return torch.zeros(obs.shape[:2], dtype=torch.int64, device=obs.device)

    def observe(self, obs, action, is_first=None, state=None):
        codes = self._context_codes(obs, action)
        if state is None:
            return self.model.observe(obs, codes, is_first)
        return self.model.observe(obs, codes, is_first, state)

    def infer_actions(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        return self.action_map.to_real(self.model.infer_actions(obs, action))

    def step(self, state, action):
        return self.model.step(state, self.action_map.to_latent(action))

    def render(self, state):
        return self.model.render(state)

    def features(self, state):
        return self.model.features(state)

    @property
    def feature_dims(self) -> int:
        return self.model.feature_dims

    def loss(self, batch):
        raise WorldlabError("train the underlying model, not its real-action view")
