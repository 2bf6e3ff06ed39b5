"""``rssm``: DreamerV3's world model behind the shared ``WorldModel`` interface."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from worldlab.errors import WorldlabError
from worldlab.models.base import ActionSpec, SamplingOption, WorldModel
from worldlab.models.blocks import (
    TwoHot,
    frames_to_input,
    mlp,
    output_to_frames,
    symexp,
    symlog,
)
from worldlab.models.registry import register
from worldlab.models.rssm.config import DEFAULT_PRESET, PRESETS, RSSMConfig
from worldlab.models.rssm.core import RSSM, RSSMState, categorical_kl
from worldlab.models.rssm.networks import (
    ConvDecoder,
    ConvEncoder,
    VectorEncoder,
    vector_decoder,
)


@register
class RSSMWorldModel(WorldModel):
    """Encoder → RSSM → decoder, reward and continue heads (Hafner et al., 2023)."""

    family = "rssm"
    Config = RSSMConfig
    presets = PRESETS
    default_preset = DEFAULT_PRESET
    sampling_options = (SamplingOption("imagine_latents", "latents", choices=("sample", "mode")),)

    def __init__(self, config: RSSMConfig, obs_shape: tuple[int, ...], action_spec: ActionSpec):
        """``obs_shape``: ``(H, W, C)`` frames (CNN encoder/decoder) or ``(S,)`` vectors
        (symlog MLP encoder/decoder), as DreamerV3 handles both."""
        super().__init__(config, obs_shape, action_spec)
        features = config.deter + config.stoch * config.classes
        self.pixels = len(obs_shape) == 3
        if self.pixels:
            height, width, channels = obs_shape
            if height != width:
                raise WorldlabError(
                    f"rssm needs square frames, got {height}×{width}: collect with "
                    "--size N for N×N frames"
                )
            depth, min_res = config.cnn_depth, config.min_resolution
            self.encoder = ConvEncoder(channels, height, depth, min_res)
            self.decoder = ConvDecoder(features, channels, height, depth, min_res)
        else:
            (dims,) = obs_shape
            self.encoder = VectorEncoder(dims, config.hidden, max(config.head_layers, 2))
            self.decoder = vector_decoder(features, config.hidden, max(config.head_layers, 2), dims)
        self.rssm = RSSM(config, self.encoder.output_dims, action_spec.input_dims)
        self.reward_head = mlp(
            features, config.hidden, config.head_layers, config.reward_bins, zero_last=True
        )
        self.continue_head = mlp(features, config.hidden, config.head_layers, 1)
        self.two_hot = TwoHot(config.reward_bins)
        if self.pixels:
            self.to(memory_format=torch.channels_last)

    @property
    def feature_dims(self) -> int:
        return self.config.deter + self.config.stoch * self.config.classes

    # -- training --------------------------------------------------------------------
    def loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        c = self.config
        obs = batch["obs"]
        batch_size, steps = obs.shape[:2]
        inputs = self._inputs(obs)
        embeds = self.encoder(inputs).reshape(batch_size, steps, -1)
        actions = self.action_spec.encode(batch["action"])
        deter, post, stoch = self.rssm.observe(embeds, actions, batch["is_first"])
        prior = self.rssm.prior(deter)
        features = torch.cat([deter, stoch.flatten(-2)], -1)

        reconstruction = self.decoder(features.reshape(batch_size * steps, -1))
        # Unit-variance Gaussian log-likelihood = squared error summed over pixels (or over
        # symlog vector entries).
        target = inputs if self.pixels else symlog(inputs)
        image_loss = F.mse_loss(reconstruction.float(), target, reduction="sum") / len(inputs)
        reward_loss = self.two_hot.loss(self.reward_head(features), batch["reward"]).mean()
        continues = (~batch["terminated"]).float()
        continue_loss = F.binary_cross_entropy_with_logits(
            self.continue_head(features).squeeze(-1).float(), continues
        )
        # KL balancing with free bits (DreamerV3 eq. 5): the prior learns 5× faster.
        dyn = categorical_kl(post.detach(), prior)
        rep = categorical_kl(post, prior.detach())
        dyn_loss = dyn.clamp(min=c.free_nats).mean()
        rep_loss = rep.clamp(min=c.free_nats).mean()
        total = (
            c.image_scale * image_loss
            + c.reward_scale * reward_loss
            + c.continue_scale * continue_loss
            + c.dyn_scale * dyn_loss
            + c.rep_scale * rep_loss
        )
        metrics = {}
        if c.overshoot > 0:
            reward_ahead, continue_ahead = self._overshoot_losses(deter, stoch, actions, batch)
            total = total + c.overshoot_scale * (
                c.reward_scale * reward_ahead + c.continue_scale * continue_ahead
            )
            metrics["reward_ahead"] = reward_ahead.detach()
        metrics |= {
            "loss": total.detach(),
            "image": image_loss.detach(),
            "reward": reward_loss.detach(),
            "continue": continue_loss.detach(),
            "kl": dyn.mean().detach(),
        }
        return total, metrics

    def _overshoot_losses(
        self,
        deter: torch.Tensor,
        stoch: torch.Tensor,
        actions: torch.Tensor,
        batch: dict[str, torch.Tensor],
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Reward and continue losses on states imagined ``k = 1..overshoot`` steps ahead.

        From the posterior state at each step ``t < T - K`` the prior rolls forward under
        the batch's actions ``a_{t+1..t+k}`` and the heads are scored against
        ``r_{t+k}`` and ``terminated_{t+k}``; a rollout that would cross into a new
        episode (``is_first``) stops counting there. Gradients flow through the imagined
        steps (straight-through latents), so the dynamics learn to keep what the heads need.
        """
        c = self.config
        batch_size, steps = deter.shape[:2]
        ahead = min(c.overshoot, steps - 1)
        if ahead < 1:
            zero = deter.new_zeros(())
            return zero, zero
        starts = steps - ahead
        state = RSSMState(deter[:, :starts].flatten(0, 1), stoch[:, :starts].flatten(0, 1))
        valid = torch.ones(batch_size, starts, device=deter.device)
        mode = c.imagine_latents == "mode"
        reward_sum = continue_sum = count = deter.new_zeros(())
        for k in range(1, ahead + 1):
            window = slice(k, starts + k)
            state = self.rssm.imagine_step(state, actions[:, window].flatten(0, 1), mode=mode)
            valid = valid * (~batch["is_first"][:, window]).float()
            weight = valid.flatten()
            rewards = self.two_hot.loss(
                self.reward_head(state.features), batch["reward"][:, window].flatten()
            )
            continues = (~batch["terminated"][:, window]).float().flatten()
            continue_logits = self.continue_head(state.features).squeeze(-1).float()
            bce = F.binary_cross_entropy_with_logits(continue_logits, continues, reduction="none")
            reward_sum = reward_sum + (rewards * weight).sum()
            continue_sum = continue_sum + (bce * weight).sum()
            count = count + weight.sum()
        count = count.clamp(min=1.0)
        return reward_sum / count, continue_sum / count

    # -- simulation ------------------------------------------------------------------
    def observe(
        self,
        obs: torch.Tensor,
        action: torch.Tensor,
        is_first: torch.Tensor | None = None,
        state: RSSMState | None = None,
    ) -> RSSMState:
        batch_size, steps = obs.shape[:2]
        embeds = self.encoder(self._inputs(obs)).reshape(batch_size, steps, -1)
        if is_first is None:
            is_first = torch.zeros(batch_size, steps, dtype=torch.bool, device=obs.device)
            is_first[:, 0] = state is None
        deter, _, stoch = self.rssm.observe(
            embeds, self.action_spec.encode(action), is_first, state
        )
        return RSSMState(deter[:, -1], stoch[:, -1])

    def observe_all(
        self, obs: torch.Tensor, action: torch.Tensor, is_first: torch.Tensor | None = None
    ) -> RSSMState:
        batch_size, steps = obs.shape[:2]
        embeds = self.encoder(self._inputs(obs)).reshape(batch_size, steps, -1)
        if is_first is None:
            is_first = torch.zeros(batch_size, steps, dtype=torch.bool, device=obs.device)
            is_first[:, 0] = True
        deter, _, stoch = self.rssm.observe(embeds, self.action_spec.encode(action), is_first)
        return RSSMState(deter.flatten(0, 1), stoch.flatten(0, 1))

    def step(self, state: RSSMState, action: torch.Tensor):
        mode = self.config.imagine_latents == "mode"
        state = self.rssm.imagine_step(state, self.action_spec.encode(action), mode=mode)
        features = state.features
        reward = self.two_hot.mean(self.reward_head(features))
        cont = torch.sigmoid(self.continue_head(features).squeeze(-1))
        return state, reward, cont

    def _inputs(self, obs: torch.Tensor) -> torch.Tensor:
        """``[B, T, H, W, C] uint8`` → ``[B·T, C, H, W]`` or ``[B, T, S]`` → ``[B·T, S]``."""
        self.check_obs(obs)
        return frames_to_input(obs) if self.pixels else obs.reshape(-1, obs.shape[-1]).float()

    def render(self, state: RSSMState) -> torch.Tensor:
        if not self.pixels:
            raise WorldlabError(
                "this rssm models state vectors, not frames: it has nothing to "
                "render; use decode_vector(state) for its predicted state"
            )
        return output_to_frames(self.decoder(state.features))

    def decode_vector(self, state: RSSMState) -> torch.Tensor:
        """Predicted observation vector ``[B, S]`` of a state-vector model."""
        return symexp(self.decoder(state.features).float())

    def features(self, state: RSSMState) -> torch.Tensor:
        return state.features

    def optimizer(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.config.lr, eps=self.config.adam_eps)


__all__ = ["RSSMWorldModel", "RSSMState"]
