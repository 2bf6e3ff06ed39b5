"""The recurrent state-space model: deterministic GRU state ``h`` + categorical latents ``z``.

Paper notation: sequence model ``h_t = f(h_{t-1}, z_{t-1}, a_t)``, representation
(posterior) ``z_t ~ q(z_t | h_t, x_t)``, dynamics (prior) ``ẑ_t ~ p(ẑ_t | h_t)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from worldlab.models.blocks import DenseBlock
from worldlab.models.rssm.config import RSSMConfig
from worldlab.models.rssm.networks import NormGRUCell


@dataclass
class RSSMState:
    """A batch of model states: ``deter [B, D]``, ``stoch [B, S, K]`` one-hot (straight-through)."""

    deter: torch.Tensor
    stoch: torch.Tensor

    @property
    def features(self) -> torch.Tensor:
        return torch.cat([self.deter, self.stoch.flatten(-2)], -1)

    def detach(self) -> RSSMState:
        return RSSMState(self.deter.detach(), self.stoch.detach())

    def __getitem__(self, index) -> RSSMState:
        return RSSMState(self.deter[index], self.stoch[index])


class RSSM(nn.Module):
    def __init__(self, config: RSSMConfig, embed_dims: int, action_dims: int):
        super().__init__()
        self.config = config
        stoch_dims = config.stoch * config.classes
        # img_in: [z_{t-1}, a_t] → hidden. Split in two linears so the action part can be
        # computed for a whole sequence at once outside the sequential loop.
        self.stoch_in = nn.Linear(stoch_dims, config.hidden, bias=False)
        self.action_in = nn.Linear(action_dims, config.hidden, bias=False) if action_dims else None
        self.in_norm = nn.Sequential(nn.LayerNorm(config.hidden, eps=1e-3), nn.SiLU())
        self.gru = NormGRUCell(config.hidden, config.deter, config.gru_blocks)
        self.prior_net = nn.Sequential(
            DenseBlock(config.deter, config.hidden), nn.Linear(config.hidden, stoch_dims)
        )
        # obs_out: [h_t, embed_t] → hidden, split likewise so embed's part is batched.
        self.post_deter = nn.Linear(config.deter, config.hidden, bias=False)
        self.post_embed = nn.Linear(embed_dims, config.hidden, bias=False)
        self.post_net = nn.Sequential(
            nn.LayerNorm(config.hidden, eps=1e-3), nn.SiLU(), nn.Linear(config.hidden, stoch_dims)
        )

    # -- distributions --------------------------------------------------------------
    def _probs(self, raw: torch.Tensor) -> torch.Tensor:
        """Reshape to ``[..., S, K]`` probabilities with ``unimix`` uniform mixed in."""
        c = self.config
        probs = raw.float().reshape(*raw.shape[:-1], c.stoch, c.classes).softmax(-1)
        return probs.mul(1 - c.unimix).add_(c.unimix / c.classes)

    def _sample(self, probs: torch.Tensor, mode: bool = False) -> torch.Tensor:
        """One-hot sample ``[..., S, K]`` with straight-through gradients."""
        if mode:
            index = probs.argmax(-1, keepdim=True)
        else:
            flat = probs.detach().reshape(-1, self.config.classes)
            index = torch.multinomial(flat, 1).reshape(*probs.shape[:-1], 1)
        one_hot = torch.zeros_like(probs).scatter_(-1, index, 1.0)
        return probs + (one_hot - probs).detach()

    # -- state ---------------------------------------------------------------------
    def initial(self, batch: int, device: torch.device) -> RSSMState:
        c = self.config
        return RSSMState(
            torch.zeros(batch, c.deter, device=device),
            torch.zeros(batch, c.stoch, c.classes, device=device),
        )

    def _action_part(self, actions: torch.Tensor) -> torch.Tensor:
        if self.action_in is None:
            return actions.new_zeros((*actions.shape[:-1], self.config.hidden))
        return self.action_in(actions)

    # -- filtering and imagination -------------------------------------------------
    def observe(
        self,
        embeds: torch.Tensor,
        actions: torch.Tensor,
        is_first: torch.Tensor,
        state: RSSMState | None = None,
    ):
        """Run the posterior over a sequence.

        ``embeds [B, T, E]``, ``actions [B, T, A]`` (one-hot / continuous, leading to step t),
        ``is_first [B, T]`` resets the state. Returns ``(deter [B, T, D], post_logprobs
        [B, T, S, K], post_stoch [B, T, S, K])``.
        """
        batch, steps = embeds.shape[:2]
        state = state or self.initial(batch, embeds.device)
        keep = (~is_first).to(embeds.dtype).unsqueeze(-1)  # [B, T, 1]
        # Everything that does not depend on the previous step is computed for all
        # steps at once, time-major so each step reads a contiguous slice.
        action_part = self._action_part(actions * keep).transpose(0, 1).contiguous()
        embed_part = self.post_embed(embeds).transpose(0, 1).contiguous()
        mask = keep.transpose(0, 1).contiguous()
        resets = is_first.any(0).tolist()
        stoch_weight, post_weight = self.stoch_in.weight.t(), self.post_deter.weight.t()
        deter, stoch = state.deter, state.stoch.flatten(-2)
        deters, probs, stochs = [], [], []
        for t in range(steps):
            if resets[t]:
                deter, stoch = deter * mask[t], stoch * mask[t]
            x = self.in_norm(torch.addmm(action_part[t], stoch, stoch_weight))
            deter = self.gru(self.gru.input_part(x), deter)
            post = self._probs(self.post_net(torch.addmm(embed_part[t], deter, post_weight)))
            sample = self._sample(post)
            stoch = sample.flatten(-2)
            deters.append(deter)
            probs.append(post)
            stochs.append(sample)
        post_logprobs = torch.stack(probs, 1).log()
        return torch.stack(deters, 1), post_logprobs, torch.stack(stochs, 1)

    def prior(self, deter: torch.Tensor) -> torch.Tensor:
        """Prior log-probabilities ``[..., S, K]`` from deterministic states ``[..., D]``."""
        return self._probs(self.prior_net(deter)).log()

    def imagine_step(self, state: RSSMState, action: torch.Tensor, mode: bool = False) -> RSSMState:
        """``h' = f(h, z, a)``, ``z' ~ p(z' | h')``: one step without observations."""
        x = self.in_norm(self.stoch_in(state.stoch.flatten(-2)) + self._action_part(action))
        deter = self.gru(self.gru.input_part(x), state.deter)
        return RSSMState(deter, self._sample(self._probs(self.prior_net(deter)), mode=mode))


def categorical_kl(log_p: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
    """KL(p || q) for ``[..., S, K]`` log-probabilities, summed over latents → ``[...]``."""
    return (log_p.exp() * (log_p - log_q)).sum((-2, -1))
