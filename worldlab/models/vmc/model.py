"""``vmc``: Ha & Schmidhuber's World Models (V and M) behind the shared ``WorldModel`` interface.

V, a convolutional VAE, compresses each frame to a latent ``z``. M, an LSTM with a
mixture density output (MDN-RNN), predicts the next latent from ``[z_t, a_{t+1}]``,
plus reward and continue heads on its hidden state. C, the linear controller evolved
by CMA-ES inside M's dream, lives in ``worldlab.agents.vmc``: it reads ``features =
[z, h]``, as in the paper.

Alignment (Dreamer's, used across worldlab): ``action[:, t]`` led to ``obs[:, t]``, and
``reward[:, t]``, ``terminated[:, t]`` came with ``obs[:, t]``. So the LSTM state ``h_t``
that has read ``z_{t-1}`` and ``a_t`` predicts ``z_t``, ``reward_t`` and ``continue_t``;
an episode's first frame (``is_first``) gets the zero state, like the paper's
``initial_state``.
"""

from __future__ import annotations

import dataclasses
import functools

import torch
from torch import nn
from torch.nn import functional as F

from worldlab.errors import WorldlabError
from worldlab.models.base import ActionSpec, SamplingOption, WorldModel
from worldlab.models.blocks import frames_to_input, mlp, output_to_frames, symexp, symlog
from worldlab.models.registry import register
from worldlab.models.vmc.config import DEFAULT_PRESET, PRESETS, VMCConfig
from worldlab.models.vmc.networks import (
    ConvVAE,
    MixtureDensityHead,
    check_frames,
    gaussian_kl,
    mixture_log_prob,
    sample_mixture,
)


@dataclasses.dataclass
class VMCState:
    """Belief after a frame; batch-first tensors, so ``worldlab.models.state`` helpers apply."""

    z: torch.Tensor  # [B, Z] the frame's latent (μ when observed, M's sample when imagined)
    h: torch.Tensor  # [B, U] LSTM hidden state
    c: torch.Tensor  # [B, U] LSTM cell state


def _masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    mask = mask.to(values.dtype)
    return (values * mask).sum() / mask.sum().clamp(min=1.0)


@register
class VMCWorldModel(WorldModel):
    """Conv VAE (V) + MDN-RNN (M) with reward and continue heads (Ha & Schmidhuber, 2018)."""

    family = "vmc"
    Config = VMCConfig
    presets = PRESETS
    default_preset = DEFAULT_PRESET
    sampling_options = (SamplingOption("temperature", "temperature", low=0.0, high=2.0),)

    def __init__(self, config: VMCConfig, obs_shape: tuple[int, ...], action_spec: ActionSpec):
        super().__init__(config, obs_shape, action_spec)
        self._check_config(config)
        size, channels = check_frames(tuple(obs_shape))
        self.vae = ConvVAE(channels, size, config.vae_depth, config.z_dims)
        self.lstm = nn.LSTMCell(config.z_dims + action_spec.input_dims, config.lstm_units)
        self.mdn = MixtureDensityHead(config.lstm_units, config.z_dims, config.mixtures)
        head_layers = 1 if config.head_units else 0
        self.reward_head = mlp(config.lstm_units, config.head_units, head_layers, 1)
        self.continue_head = mlp(config.lstm_units, config.head_units, head_layers, 1)
        if config.mdn_grad_clip > 0:
            # The paper clips each of M's gradient values; V's gradients are left alone.
            clip = functools.partial(
                torch.clamp, min=-config.mdn_grad_clip, max=config.mdn_grad_clip
            )
            for parameter in self.memory_parameters():
                parameter.register_hook(clip)

    @staticmethod
    def _check_config(config: VMCConfig) -> None:
        if config.mdn_inputs not in ("sample", "mean"):
            raise WorldlabError(
                f"model.mdn_inputs must be 'sample' or 'mean', got '{config.mdn_inputs}'"
            )
        if config.reward_loss not in ("mse", "symlog"):
            raise WorldlabError(
                f"model.reward_loss must be 'mse' or 'symlog', got '{config.reward_loss}'"
            )
        if min(config.z_dims, config.vae_depth, config.lstm_units, config.mixtures) < 1:
            raise WorldlabError("model.z_dims, vae_depth, lstm_units and mixtures must be ≥ 1")

    def memory_parameters(self) -> list[nn.Parameter]:
        """M's parameters: the LSTM, the mixture density head, the reward and continue heads."""
        modules = (self.lstm, self.mdn, self.reward_head, self.continue_head)
        return [p for module in modules for p in module.parameters()]

    @property
    def feature_dims(self) -> int:
        return self.config.z_dims + self.config.lstm_units

    @property
    def z_dims(self) -> int:
        """V's part of ``features``, which comes first (a controller on V alone reads it)."""
        return self.config.z_dims

    # -- training --------------------------------------------------------------------
    def loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """V's loss on every frame plus M's losses on V's detached latents (stop-gradient)."""
        c = self.config
        obs = batch["obs"]
        self.check_obs(obs)
        batch_size, steps = obs.shape[:2]
        images = frames_to_input(obs)
        mean, logvar = self.vae.encode(images)
        z = mean + (0.5 * logvar).exp() * torch.randn_like(mean)
        reconstruction = self.vae.decode(z)
        # Paper: squared error summed over pixels, KL floored at kl_tolerance nats per dim.
        image_loss = (reconstruction.float() - images).square().sum((1, 2, 3)).mean()
        kl = gaussian_kl(mean, logvar)
        kl_loss = kl.clamp(min=c.kl_tolerance * c.z_dims).mean()

        latents = (z if c.mdn_inputs == "sample" else mean).detach()
        latents = latents.reshape(batch_size, steps, -1)
        resets = batch["is_first"].clone()
        resets[:, 0] = True  # every window starts M from the zero state
        hidden, _, _ = self._recur(latents, self.action_spec.encode(batch["action"]), resets)
        predicted = ~resets  # a reset frame has no history to be predicted from
        mdn_loss = _masked_mean(-mixture_log_prob(self.mdn(hidden), latents).mean(-1), predicted)
        reward_loss = _masked_mean(
            self._reward_error(self.reward_head(hidden).squeeze(-1), batch["reward"]), predicted
        )
        terminated = batch["terminated"].float()
        continue_loss = _masked_mean(
            F.binary_cross_entropy_with_logits(
                self.continue_head(hidden).squeeze(-1).float(), 1 - terminated, reduction="none"
            )
            * (1 + (c.terminal_weight - 1) * terminated),
            predicted,
        )
        total = (
            c.vae_scale * (image_loss + kl_loss)
            + c.mdn_scale * mdn_loss
            + c.reward_scale * reward_loss
            + c.continue_scale * continue_loss
        )
        metrics = {
            "loss": total.detach(),
            "image": image_loss.detach(),
            "kl": kl.mean().detach(),
            "mdn": mdn_loss.detach(),
            "reward": reward_loss.detach(),
            "continue": continue_loss.detach(),
        }
        return total, metrics

    def _reward_error(self, prediction: torch.Tensor, reward: torch.Tensor) -> torch.Tensor:
        target = reward.float()
        if self.config.reward_loss == "symlog":
            target = symlog(target)
        return (prediction.float() - target).square()

    def _reward_value(self, prediction: torch.Tensor) -> torch.Tensor:
        prediction = prediction.float()
        return symexp(prediction) if self.config.reward_loss == "symlog" else prediction

    def _recur(
        self,
        latents: torch.Tensor,
        actions: torch.Tensor,
        resets: torch.Tensor,
        state: VMCState | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Run M's LSTM over ``latents [B, T, Z]`` and ``actions [B, T, A]``.

        Step ``t`` reads ``[z_{t-1}, a_t]`` (``z_{-1}`` from ``state``); where ``resets [B, T]``
        is true the state is zeroed instead. Returns hidden states ``[B, T, U]`` and the
        final ``(h, c)``.
        """
        batch_size = latents.shape[0]
        if state is None:
            h = latents.new_zeros(batch_size, self.config.lstm_units)
            cell = torch.zeros_like(h)
            previous = torch.zeros_like(latents[:, 0])
        else:
            h, cell, previous = state.h, state.c, state.z
        inputs = torch.cat([torch.cat([previous[:, None], latents[:, :-1]], 1), actions], -1)
        keep = (~resets).unsqueeze(-1).to(latents.dtype)
        hidden = []
        for t in range(latents.shape[1]):
            h, cell = self.lstm(inputs[:, t], (h, cell))
            h, cell = h * keep[:, t], cell * keep[:, t]
            hidden.append(h)
        return torch.stack(hidden, 1), h, cell

    # -- simulation ------------------------------------------------------------------
    def observe(
        self,
        obs: torch.Tensor,
        action: torch.Tensor,
        is_first: torch.Tensor | None = None,
        state: VMCState | None = None,
    ) -> VMCState:
        """Encode ``obs [B, T, H, W, C]`` with V's mean and run M over them; deterministic."""
        self.check_obs(obs)
        batch_size, steps = obs.shape[:2]
        mean, _ = self.vae.encode(frames_to_input(obs))
        latents = mean.reshape(batch_size, steps, -1)
        if is_first is None:
            is_first = torch.zeros(batch_size, steps, dtype=torch.bool, device=obs.device)
        resets = is_first.bool().clone()
        if state is None:
            resets[:, 0] = True  # nothing came before: start from the zero state
        _, h, cell = self._recur(latents, self.action_spec.encode(action), resets, state)
        return VMCState(latents[:, -1], h, cell)

    def step(self, state: VMCState, action: torch.Tensor):
        """Advance M by ``action``; sample the next latent from the mixture at ``temperature``."""
        inputs = torch.cat([state.z, self.action_spec.encode(action)], -1)
        h, cell = self.lstm(inputs, (state.h, state.c))
        z = sample_mixture(self.mdn(h), self.config.temperature)
        reward = self._reward_value(self.reward_head(h).squeeze(-1))
        cont = torch.sigmoid(self.continue_head(h).squeeze(-1).float())
        return VMCState(z, h, cell), reward, cont

    def render(self, state: VMCState) -> torch.Tensor:
        return output_to_frames(self.vae.decode(state.z))

    def features(self, state: VMCState) -> torch.Tensor:
        """``[z, h]``: the paper's controller input, ``[B, z_dims + lstm_units]``."""
        return torch.cat([state.z, state.h], -1)

    def optimizer(self) -> torch.optim.Optimizer:
        """One Adam with the paper's two learning rates: V 1e-4, M 1e-3 (by default)."""
        memory = {id(p) for p in self.memory_parameters()}
        vision = [p for p in self.parameters() if id(p) not in memory]
        return torch.optim.Adam(
            [
                {"params": vision, "lr": self.config.vae_lr},
                {"params": self.memory_parameters(), "lr": self.config.mdn_lr},
            ]
        )


__all__ = ["VMCState", "VMCWorldModel"]
