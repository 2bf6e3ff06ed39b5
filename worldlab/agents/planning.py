"""Model-predictive control: CEM and MPPI over action sequences (TD-MPC2-style).

A planner searches ``horizon``-step action sequences that maximise a return
function — any ``[N, H, A] actions → [N] returns`` callable, usually
``model_return`` on a world model with a reward head. Each call refines a sampling
distribution for ``iterations`` rounds, keeping the ``elites`` best of ``samples``
sequences: CEM refits mean and std to the elites; MPPI weights them by
``exp((return - best) / temperature)``. The next call starts from the previous plan
shifted by one step (warm start). An optional policy prior adds its own proposals.
Discrete actions are planned as per-step categorical distributions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from worldlab.errors import WorldlabError
from worldlab.models import WorldModel
from worldlab.models.state import index_state


@dataclass
class PlannerConfig:
    method: str = "mppi"  # mppi | cem
    horizon: int = 12
    iterations: int = 6
    samples: int = 256
    elites: int = 32
    temperature: float = 0.5  # MPPI: lower → closer to picking the single best sequence
    min_std: float = 0.05
    max_std: float = 2.0
    discount: float = 0.99


class Planner:
    """Plans ``horizon`` actions of width ``action_dims`` in [-1, 1], or ``discrete`` choices."""

    def __init__(
        self,
        config: PlannerConfig,
        action_dims: int = 0,
        discrete: int = 0,
        generator: torch.Generator | None = None,
        device: str | torch.device = "cpu",
    ):
        if config.method not in ("cem", "mppi"):
            raise WorldlabError(f"planner method must be cem or mppi, got '{config.method}'")
        if not 0 < config.elites <= config.samples:
            raise WorldlabError("planner needs 0 < elites ≤ samples")
        if bool(action_dims) == bool(discrete):
            raise WorldlabError("give either action_dims (continuous) or discrete (choices)")
        self.config, self.action_dims, self.discrete = config, action_dims, discrete
        self.generator, self.device = generator, torch.device(device)
        self._previous: torch.Tensor | None = None

    def reset(self) -> None:
        """Forget the warm start (call at the start of an episode)."""
        self._previous = None

    # -- continuous ----------------------------------------------------------------
    def _initial(self) -> tuple[torch.Tensor, torch.Tensor]:
        c = self.config
        shape = (c.horizon, self.discrete or self.action_dims)
        if self.discrete:
            probs = torch.full(shape, 1.0 / self.discrete, device=self.device)
            if self._previous is not None:  # shift the last plan, uniform at the end
                probs[:-1] = 0.5 * self._previous[1:] + 0.5 * probs[:-1]
            return probs, probs
        mean = torch.zeros(shape, device=self.device)
        if self._previous is not None:
            mean[:-1] = self._previous[1:]
        return mean, torch.full(shape, c.max_std, device=self.device)

    def _weights(self, returns: torch.Tensor) -> torch.Tensor:
        if self.config.method == "cem":
            return torch.full_like(returns, 1.0 / len(returns))
        return torch.softmax((returns - returns.max()) / self.config.temperature, 0)

    def plan(
        self, returns_of: Callable[[torch.Tensor], torch.Tensor], prior: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The first action of the best plan: ``[A]`` float in [-1, 1], or a 0-d index.

        ``returns_of``: ``[N, H, A] (or [N, H] indices) → [N]``. ``prior``: extra
        proposals ``[P, H, A]`` (or ``[P, H]``), e.g. from a policy network.
        """
        c = self.config
        mean, std = self._initial()
        for _ in range(c.iterations):
            if self.discrete:
                flat = mean.repeat(c.samples, 1)
                candidates = torch.multinomial(flat, 1, True, generator=self.generator)
                candidates = candidates.reshape(c.samples, c.horizon)
            else:
                noise = torch.randn(
                    (c.samples, *mean.shape), generator=self.generator, device=self.device
                )
                candidates = (mean + std * noise).clamp(-1, 1)
            if prior is not None:
                candidates = torch.cat([candidates, prior.to(candidates.dtype)], 0)
            returns = returns_of(candidates).float()
            top = returns.topk(c.elites).indices
            elites, weights = candidates[top], self._weights(returns[top])
            if self.discrete:
                one_hot = torch.nn.functional.one_hot(elites, self.discrete).float()
                mean = torch.einsum("n,nhk->hk", weights, one_hot).clamp_min(1e-3)
                mean = mean / mean.sum(-1, keepdim=True)
            else:
                mean = torch.einsum("n,nha->ha", weights, elites)
                variance = torch.einsum("n,nha->ha", weights, (elites - mean) ** 2)
                std = variance.sqrt().clamp(c.min_std, c.max_std)
        self._previous = mean
        return mean[0].argmax() if self.discrete else mean[0]


@torch.no_grad()
def model_return(
    model: WorldModel, state: Any, actions: torch.Tensor, discount: float = 0.99
) -> torch.Tensor:
    """Discounted imagined return of each action sequence from one model ``state``.

    ``state``: batch 1; ``actions [N, H, A]`` in [-1, 1] (``ActionSpec.to_world`` maps them
    to the world's bounds) or ``[N, H]`` indices. Rewards are weighted by the
    continue head's running survival probability, so plans that end the episode lose
    their later rewards.
    """
    count, horizon = actions.shape[:2]
    state = index_state(state, torch.zeros(count, dtype=torch.long, device=actions.device))
    total = torch.zeros(count, device=actions.device)
    alive = torch.ones(count, device=actions.device)
    for t in range(horizon):
        state, reward, cont = model.step(state, model.action_spec.to_world(actions[:, t]))
        total += (discount**t) * alive * reward.float()
        alive = alive * cont.float()
    return total
