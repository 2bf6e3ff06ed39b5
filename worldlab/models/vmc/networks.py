"""World Models' networks: the convolutional VAE (V) and the mixture density head of M."""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

from worldlab.errors import WorldlabError

CONVS = 4  # the paper's 4 stride-2 convs (and 4 deconvs): frames shrink 16×
LOG_STD_RANGE = (-7.0, 3.0)  # keeps the mixture's σ away from 0 and ∞


def check_frames(obs_shape: tuple[int, ...]) -> tuple[int, int]:
    """``(side, channels)`` of square frames whose side is a multiple of 16, or a clear error."""
    if len(obs_shape) != 3:
        raise WorldlabError(
            f"vmc models frames [H, W, C], got observations of shape {list(obs_shape)}: "
            "train it on pixels (drop --set train.observation=state)"
        )
    height, width, channels = obs_shape
    if height != width or height % 16 or height < 16:
        raise WorldlabError(
            f"vmc needs square frames whose side is a multiple of 16 (e.g. 32, 64), got "
            f"{height}×{width}: collect with --size 64"
        )
    return height, channels


class ConvVAE(nn.Module):
    """V: ``[N, C, S, S]`` frames in ``[-0.5, 0.5]`` ↔ a diagonal Gaussian over ``z [N, Z]``.

    Encoder: 4 convs (4×4, stride 2, ReLU) with ``d, 2d, 4d, 8d`` channels, then linear
    layers to the mean and log-variance. Decoder: a linear layer back to the bottleneck,
    then 4 transposed convs mirroring the encoder, ending in a sigmoid (as the paper).
    """

    def __init__(self, channels: int, image_size: int, depth: int, z_dims: int):
        super().__init__()
        widths = [depth * 2**stage for stage in range(CONVS)]
        encoder: list[nn.Module] = []
        for inputs, outputs in zip([channels, *widths[:-1]], widths, strict=True):
            encoder += [nn.Conv2d(inputs, outputs, 4, 2, 1), nn.ReLU()]
        self.encoder = nn.Sequential(*encoder, nn.Flatten())
        self.bottleneck = (widths[-1], image_size // 2**CONVS, image_size // 2**CONVS)
        flat = math.prod(self.bottleneck)
        self.to_mean = nn.Linear(flat, z_dims)
        self.to_logvar = nn.Linear(flat, z_dims)
        self.from_z = nn.Linear(z_dims, flat)
        decoder: list[nn.Module] = []
        for inputs, outputs in zip(widths[::-1], widths[-2::-1], strict=False):
            decoder += [nn.ConvTranspose2d(inputs, outputs, 4, 2, 1), nn.ReLU()]
        decoder.append(nn.ConvTranspose2d(widths[0], channels, 4, 2, 1))
        self.decoder = nn.Sequential(*decoder)

    def encode(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``[N, C, S, S]`` → ``(mean, logvar)``, each ``[N, Z]``."""
        hidden = self.encoder(images)
        return self.to_mean(hidden), self.to_logvar(hidden)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """``[N, Z]`` → ``[N, C, S, S]`` in ``[-0.5, 0.5]``."""
        hidden = F.relu(self.from_z(z)).reshape(-1, *self.bottleneck)
        return torch.sigmoid(self.decoder(hidden)) - 0.5


def gaussian_kl(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """``KL(N(mean, exp(logvar)) || N(0, I))`` over the last dim, ``[..., Z]`` → ``[...]``."""
    return -0.5 * (1 + logvar - mean.square() - logvar.exp()).sum(-1)


class Mixture(NamedTuple):
    """One mixture of ``K`` Gaussians per latent dim; every field ``[..., Z, K]``."""

    log_weights: torch.Tensor  # log π, normalised over K (paper: logmix)
    means: torch.Tensor
    log_stds: torch.Tensor


class MixtureDensityHead(nn.Module):
    """M's output layer (paper: MDN): hidden ``[..., U]`` → a ``Mixture`` over ``z [..., Z]``."""

    def __init__(self, inputs: int, z_dims: int, mixtures: int):
        super().__init__()
        self.z_dims, self.mixtures = z_dims, mixtures
        self.linear = nn.Linear(inputs, z_dims * mixtures * 3)

    def forward(self, hidden: torch.Tensor) -> Mixture:
        out = self.linear(hidden).reshape(*hidden.shape[:-1], self.z_dims, 3, self.mixtures)
        logits, means, log_stds = out.unbind(-2)
        return Mixture(logits.log_softmax(-1), means, log_stds.clamp(*LOG_STD_RANGE))


def mixture_log_prob(mixture: Mixture, target: torch.Tensor) -> torch.Tensor:
    """``log Σ_k π_k N(target; μ_k, σ_k)`` per latent dim: ``target [..., Z]`` → ``[..., Z]``."""
    target = target.unsqueeze(-1)
    normal = (
        -0.5 * ((target - mixture.means) / mixture.log_stds.exp()).square()
        - mixture.log_stds
        - 0.5 * math.log(2 * math.pi)
    )
    return torch.logsumexp(mixture.log_weights + normal, -1)


def sample_mixture(mixture: Mixture, temperature: float = 1.0) -> torch.Tensor:
    """Draw ``z [..., Z]`` at temperature τ, as the paper: component logits ``/ τ``, σ ``· √τ``.

    ``τ → 0`` concentrates on the most likely component's mean; ``τ = 0`` returns it.
    """
    if temperature <= 0:
        best = mixture.log_weights.argmax(-1, keepdim=True)
        return mixture.means.gather(-1, best).squeeze(-1)
    logits = mixture.log_weights / temperature
    component = torch.distributions.Categorical(logits=logits).sample().unsqueeze(-1)
    mean = mixture.means.gather(-1, component).squeeze(-1)
    std = mixture.log_stds.gather(-1, component).squeeze(-1).exp()
    return mean + std * math.sqrt(temperature) * torch.randn_like(mean)
