"""Dreamer's behaviour learning (DreamerV3): an actor and a critic trained in imagination.

From model states (the posterior after each replayed frame) the actor imagines
``horizon`` steps inside the world model; the critic learns the λ-returns of those
trajectories; the actor follows the advantages. DreamerV3's robustness tricks are
all here:

- returns are λ-returns (λ = 0.95, discount 0.997) bootstrapped with the critic;
- the critic is a symlog two-hot categorical (255 bins) regularised towards a slow
  EMA copy of itself (decay 0.98);
- advantages are divided by ``max(1, S)`` where ``S`` is an EMA (decay 0.99) of the
  5th–95th percentile range of the returns, so rewards of any scale need no tuning,
  while small returns are not blown up;
- the actor maximises advantage-weighted log-likelihood (REINFORCE) for discrete
  actions and the λ-return backpropagated through the model's dynamics for continuous
  ones (``actor_grad``), plus an entropy bonus (3e-4); discrete policies mix in 1%
  uniform, continuous ones are normals with bounded mean and standard deviation.

Nothing here knows the model's family: it calls ``model.step`` and ``model.features``.
Paper settings are the ``BehaviorConfig`` defaults.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.distributions import Categorical, Independent, Normal

from worldlab.models import ActionSpec, WorldModel
from worldlab.models.blocks import TwoHot, mlp


@dataclass
class BehaviorConfig:
    horizon: int = 15  # imagined steps per update
    starts: int = 0  # imagined trajectories per update, from random replayed states (0: all)
    discount: float = 0.997  # 1 - 1/333
    lam: float = 0.95  # λ of the λ-returns
    hidden: int = 256  # width of actor and critic MLPs
    layers: int = 2
    actor_lr: float = 3e-5
    critic_lr: float = 3e-5
    adam_eps: float = 1e-5
    grad_clip: float = 100.0
    entropy: float = 3e-4  # η, the entropy bonus
    # How the actor learns: REINFORCE, backpropagation of returns through the model's
    # dynamics, or auto = backprop for continuous and REINFORCE for discrete actions (the
    # DreamerV3 paper's first version; its later code uses REINFORCE for both).
    actor_grad: str = "auto"
    unimix: float = 0.01  # uniform mixed into discrete policies
    min_std: float = 0.1  # bounds of a continuous policy's standard deviation
    max_std: float = 1.0
    critic_bins: int = 255
    slow_critic_decay: float = 0.98  # EMA of the slow critic (fraction kept per update)
    slow_critic_scale: float = 1.0  # weight of the regulariser towards the slow critic
    return_norm_decay: float = 0.99
    return_low: float = 0.05  # percentiles of the return range
    return_high: float = 0.95


def lambda_returns(
    rewards: torch.Tensor,
    continues: torch.Tensor,
    values: torch.Tensor,
    discount: float,
    lam: float,
) -> torch.Tensor:
    """λ-returns of an imagined trajectory, time first.

    ``rewards [H, ...]`` and ``continues [H, ...]`` are those of steps ``1..H``;
    ``values [H + 1, ...]`` are the critic's for states ``0..H``. Returns ``[H, ...]``::

        R_H = V_H
        R_t = r_{t+1} + γ c_{t+1} ((1 - λ) V_{t+1} + λ R_{t+1})
    """
    horizon = rewards.shape[0]
    returns = []
    last = values[horizon]
    for t in reversed(range(horizon)):
        last = rewards[t] + discount * continues[t] * ((1 - lam) * values[t + 1] + lam * last)
        returns.append(last)
    return torch.stack(returns[::-1])


class ReturnNormalizer(nn.Module):
    """EMA of the ``low``–``high`` percentile range of returns; scale = ``max(1, range)``."""

    def __init__(self, decay: float = 0.99, low: float = 0.05, high: float = 0.95):
        super().__init__()
        self.decay, self.low, self.high = decay, low, high
        self.register_buffer("range", torch.zeros(()))
        self.register_buffer("updates", torch.zeros((), dtype=torch.long))

    def update(self, returns: torch.Tensor) -> torch.Tensor:
        """Fold a batch of returns into the EMA; return the current scale."""
        flat = returns.detach().float().flatten()
        spread = torch.quantile(flat, self.high) - torch.quantile(flat, self.low)
        # The first batch sets the range directly: an EMA started at 0 would under-scale.
        first = self.updates == 0
        self.range.copy_(
            torch.where(first, spread, self.decay * self.range + (1 - self.decay) * spread)
        )
        self.updates += 1
        return self.scale

    @property
    def scale(self) -> torch.Tensor:
        return self.range.clamp(min=1.0)


class Actor(nn.Module):
    """Policy on model features: a categorical (discrete) or bounded normal (continuous)."""

    def __init__(self, features: int, spec: ActionSpec, config: BehaviorConfig):
        super().__init__()
        if spec.kind not in ("discrete", "continuous"):
            from worldlab.errors import WorldlabError

            raise WorldlabError(
                "an actor needs a model trained with actions (discrete or continuous); "
                "map a latent-action model's codes to real actions first"
            )
        self.spec, self.config = spec, config
        outputs = spec.n if spec.kind == "discrete" else 2 * spec.dims
        self.net = mlp(features, config.hidden, config.layers, outputs)

    def forward(self, features: torch.Tensor):
        raw = self.net(features).float()
        c = self.config
        if self.spec.kind == "discrete":
            probs = raw.softmax(-1) * (1 - c.unimix) + c.unimix / self.spec.n
            return Categorical(probs=probs)
        mean, std = raw.chunk(2, -1)
        std = (c.max_std - c.min_std) * torch.sigmoid(std + 2.0) + c.min_std
        return Independent(Normal(torch.tanh(mean), std), 1)

    def act(self, features: torch.Tensor, sample: bool = True) -> torch.Tensor:
        """Actions for a batch of features: sampled, or the mode; continuous ones clipped."""
        dist = self(features)
        if self.spec.kind == "discrete":
            return dist.sample() if sample else dist.probs.argmax(-1)
        action = dist.sample() if sample else dist.mean
        return action.clamp(-1, 1)


class Critic(nn.Module):
    """Symlog two-hot value distribution over ``bins`` on model features."""

    def __init__(self, features: int, config: BehaviorConfig):
        super().__init__()
        self.net = mlp(features, config.hidden, config.layers, config.critic_bins, zero_last=True)
        self.two_hot = TwoHot(config.critic_bins)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(features)

    def value(self, features: torch.Tensor) -> torch.Tensor:
        return self.two_hot.mean(self(features))


class ActorCritic(nn.Module):
    """Actor, critic, slow critic and return normaliser for one world model."""

    def __init__(self, model: WorldModel, config: BehaviorConfig | None = None):
        super().__init__()
        self.config = config or BehaviorConfig()
        self.actor = Actor(model.feature_dims, model.action_spec, self.config)
        self.critic = Critic(model.feature_dims, self.config)
        self.slow_critic = copy.deepcopy(self.critic).requires_grad_(False)
        self.normalizer = ReturnNormalizer(
            self.config.return_norm_decay, self.config.return_low, self.config.return_high
        )
        c = self.config
        self.actor_optimizer = torch.optim.Adam(
            self.actor.parameters(), lr=c.actor_lr, eps=c.adam_eps
        )
        self.critic_optimizer = torch.optim.Adam(
            self.critic.parameters(), lr=c.critic_lr, eps=c.adam_eps
        )

    @property
    def backprop(self) -> bool:
        """Does the actor learn by backpropagating returns through the model's dynamics?"""
        grad = self.config.actor_grad
        if grad not in ("auto", "reinforce", "backprop"):
            from worldlab.errors import WorldlabError

            raise WorldlabError(
                f"behavior.actor_grad must be auto, reinforce or backprop, not {grad!r}"
            )
        if grad == "auto":
            return self.actor.spec.kind == "continuous"
        if grad == "backprop" and self.actor.spec.kind == "discrete":
            from worldlab.errors import WorldlabError

            raise WorldlabError(
                "behavior.actor_grad=backprop needs continuous actions: discrete actions "
                "cannot be reparameterised; use reinforce (or auto)"
            )
        return grad == "backprop"

    # -- imagination ---------------------------------------------------------------
    def imagine(self, model: WorldModel, start: Any, grad: bool = False) -> dict[str, torch.Tensor]:
        """Roll the actor out ``horizon`` steps from ``start`` states (batch ``N``).

        Returns time-first tensors: ``features [H+1, N, F]``, ``actions [H, N, ...]``,
        ``rewards [H, N]`` and ``continues [H, N]`` of steps ``1..H``. With ``grad``,
        continuous actions are reparameterised samples and everything stays differentiable
        with respect to the actor (dynamics backpropagation).
        """
        with torch.set_grad_enabled(grad):
            return self._imagine(model, start, grad)

    def _imagine(self, model: WorldModel, start: Any, grad: bool) -> dict[str, torch.Tensor]:
        state = start
        features = [model.features(state).float()]
        actions, rewards, continues = [], [], []
        for _ in range(self.config.horizon):
            if grad:
                # Into [-1, 1] by a stop-gradient rescale, as DreamerV3 does: clamp(-1, 1)
                # would give every sample beyond the bounds a zero gradient.
                raw = self.actor(features[-1]).rsample()
                action = raw / raw.detach().abs().clamp(min=1)
            else:
                # The raw sample: REINFORCE scores its log-probability (the model clamps it).
                action = self.actor(features[-1]).sample()
            state, reward, cont = model.step(state, model.action_spec.to_world(action))
            actions.append(action)
            rewards.append(reward.float())
            continues.append(cont.float())
            features.append(model.features(state).float())
        return {
            "features": torch.stack(features),
            "actions": torch.stack(actions),
            "rewards": torch.stack(rewards),
            "continues": torch.stack(continues),
        }

    # -- learning ------------------------------------------------------------------
    def update(
        self, model: WorldModel, start: Any, start_continue: torch.Tensor | None = None
    ) -> dict[str, float]:
        """One actor and one critic step on trajectories imagined from ``start``.

        ``start_continue [N]``: 0 for start states that ended their episode (terminal
        frames), whose imagined futures then carry no weight.
        """
        c = self.config
        backprop = self.backprop
        # The actor's gradient flows through the world model and the critic, but neither
        # learns from it: frozen while the graph is built, the backward computes no
        # weight gradients for them.
        with _frozen(model, self.critic):
            traj = self.imagine(model, start, grad=backprop)
            if backprop:
                # Returns stay differentiable with respect to the actions that led to them.
                differentiable = lambda_returns(
                    traj["rewards"],
                    traj["continues"],
                    self.critic.value(traj["features"]),
                    c.discount,
                    c.lam,
                )
            traj = {key: value.detach() for key, value in traj.items()}
        features = traj["features"]
        with torch.no_grad():
            values = self.critic.value(features)
            returns = lambda_returns(traj["rewards"], traj["continues"], values, c.discount, c.lam)
            # Weight of step t: the probability the episode is still running there.
            first = torch.ones_like(traj["continues"][:1])
            if start_continue is not None:
                first = start_continue.to(first)[None]
            alive = torch.cumprod(torch.cat([first, traj["continues"][:-1]]), 0)
            weights = alive * c.discount ** torch.arange(len(alive), device=alive.device).unsqueeze(
                -1
            )
            scale = self.normalizer.update(returns)
            advantages = (returns - values[:-1]) / scale
            slow_values = self.slow_critic.value(features[:-1])

        dist = self.actor(features[:-1])
        entropy = dist.entropy()
        if backprop:
            # DreamerV2-style: maximise the normalised λ-return itself (no baseline needed,
            # the gradient flows through the dynamics, not through a score function).
            objective = differentiable / scale
        else:
            objective = advantages * dist.log_prob(traj["actions"])
        actor_loss = -(weights * (objective + c.entropy * entropy)).mean()
        self._step(self.actor_optimizer, self.actor, actor_loss)

        logits = self.critic(features[:-1])
        critic_loss = self.critic.two_hot.loss(logits, returns)
        critic_loss = critic_loss + c.slow_critic_scale * self.critic.two_hot.loss(
            logits, slow_values
        )
        critic_loss = (weights * critic_loss).mean()
        self._step(self.critic_optimizer, self.critic, critic_loss)
        self._update_slow_critic()
        return {
            "actor_loss": float(actor_loss.detach()),
            "critic_loss": float(critic_loss.detach()),
            "entropy": float(entropy.detach().mean()),
            "imagined_reward": float(traj["rewards"].mean()),
            "return": float(returns.mean()),
            "value": float(values.mean()),
            "return_scale": float(scale),
        }

    def _step(self, optimizer: torch.optim.Optimizer, net: nn.Module, loss: torch.Tensor) -> None:
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), self.config.grad_clip)
        optimizer.step()

    @torch.no_grad()
    def _update_slow_critic(self) -> None:
        decay = self.config.slow_critic_decay
        for slow, fast in zip(self.slow_critic.parameters(), self.critic.parameters(), strict=True):
            slow.lerp_(fast, 1 - decay)

    # -- state -----------------------------------------------------------------------
    def full_state(self) -> dict[str, Any]:
        """Weights and optimiser states, for a checkpoint."""
        return {
            "weights": self.state_dict(),
            "actor_optimizer": self.actor_optimizer.state_dict(),
            "critic_optimizer": self.critic_optimizer.state_dict(),
        }

    def load_full_state(self, state: dict[str, Any]) -> None:
        self.load_state_dict(state["weights"])
        self.actor_optimizer.load_state_dict(state["actor_optimizer"])
        self.critic_optimizer.load_state_dict(state["critic_optimizer"])


@contextlib.contextmanager
def _frozen(*modules: nn.Module) -> Iterator[None]:
    """Turn off ``requires_grad`` on every parameter of ``modules``, then restore each flag."""
    params = [p for module in modules for p in module.parameters()]
    flags = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(params, flags, strict=True):
            p.requires_grad_(flag)
