"""DreamerV3's networks: the CNN encoder and decoder and the LayerNorm (block) GRU."""

from __future__ import annotations

import math

import torch
from torch import nn

from worldlab.errors import WorldlabError
from worldlab.models.blocks import ChannelNorm, DenseBlock, mlp, symlog


def conv_stages(image_size: int, min_resolution: int) -> int:
    stages = math.log2(image_size / min_resolution)
    if image_size % min_resolution or stages != int(stages) or stages < 1:
        raise WorldlabError(
            f"image size {image_size} must be {min_resolution} times a power of "
            "two (e.g. 32, 64, 128): collect with --size 64"
        )
    return int(stages)


class ConvEncoder(nn.Module):
    """``[N, C, H, W]`` → ``[N, E]``: stride-2 4×4 convs, ``d, 2d, 4d, ...`` channels to min_res."""

    def __init__(self, channels: int, image_size: int, depth: int, min_resolution: int):
        super().__init__()
        layers: list[nn.Module] = []
        width = channels
        for stage in range(conv_stages(image_size, min_resolution)):
            out = depth * 2**stage
            layers += [nn.Conv2d(width, out, 4, 2, 1, bias=False), ChannelNorm(out), nn.SiLU()]
            width = out
        self.net = nn.Sequential(*layers)
        self.output_dims = width * min_resolution**2

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images).flatten(1)


class ConvDecoder(nn.Module):
    """``[N, F]`` → ``[N, C, H, W]`` in ``[-0.5, 0.5]``: the encoder mirrored, transposed convs."""

    def __init__(
        self, features: int, channels: int, image_size: int, depth: int, min_resolution: int
    ):
        super().__init__()
        stages = conv_stages(image_size, min_resolution)
        self.start_channels = depth * 2 ** (stages - 1)
        self.min_resolution = min_resolution
        self.project = nn.Linear(features, self.start_channels * min_resolution**2)
        layers: list[nn.Module] = []
        width = self.start_channels
        for stage in reversed(range(stages - 1)):
            out = depth * 2**stage
            layers += [
                nn.ConvTranspose2d(width, out, 4, 2, 1, bias=False),
                ChannelNorm(out),
                nn.SiLU(),
            ]
            width = out
        layers.append(nn.ConvTranspose2d(width, channels, 4, 2, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        x = self.project(features).reshape(
            -1, self.start_channels, self.min_resolution, self.min_resolution
        )
        return self.net(x.contiguous(memory_format=torch.channels_last))


class VectorEncoder(nn.Module):
    """Vector observations ``[N, S]``: symlog, then dense blocks (DreamerV3's MLP encoder)."""

    def __init__(self, inputs: int, hidden: int, layers: int):
        super().__init__()
        blocks = [DenseBlock(inputs if i == 0 else hidden, hidden) for i in range(layers)]
        self.net = nn.Sequential(*blocks)
        self.output_dims = hidden

    def forward(self, vectors: torch.Tensor) -> torch.Tensor:
        return self.net(symlog(vectors.float()))


def vector_decoder(features: int, hidden: int, layers: int, outputs: int) -> nn.Module:
    """Predicts ``symlog(vector)``: the loss compares in symlog space, decoding uses symexp."""
    return mlp(features, hidden, layers, outputs)


class NormGRUCell(nn.Module):
    """GRU with LayerNorm on the gates and update bias −1 (DreamerV2/V3).

    With ``blocks > 1`` the recurrent weights are block-diagonal: the state is split
    into ``blocks`` groups that each see the whole input but only their own state,
    cutting recurrent parameters and FLOPs by ``blocks``×.
    """

    def __init__(self, inputs: int, units: int, blocks: int = 1):
        super().__init__()
        if units % blocks:
            raise WorldlabError(f"GRU units {units} must be divisible by gru_blocks {blocks}")
        self.units, self.blocks = units, blocks
        self.input_weights = nn.Linear(inputs, 3 * units, bias=False)
        size = units // blocks
        self.recurrent_weights = nn.Parameter(torch.empty(blocks, size, 3 * size))
        nn.init.uniform_(self.recurrent_weights, -1 / math.sqrt(size), 1 / math.sqrt(size))
        self.norm = nn.LayerNorm(3 * units, eps=1e-3)

    def input_part(self, x: torch.Tensor) -> torch.Tensor:
        """The input's share of the gates; precompute it for many steps at once."""
        return self.input_weights(x)

    def forward(self, gates_from_input: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        batch = state.shape[0]
        if self.blocks == 1:
            gates = torch.addmm(gates_from_input, state, self.recurrent_weights[0])
        else:
            grouped = state.reshape(batch, self.blocks, 1, -1)
            recurrent = (grouped @ self.recurrent_weights).reshape(batch, self.blocks, 3, -1)
            gates = gates_from_input + recurrent.transpose(1, 2).reshape(batch, 3 * self.units)
        reset, candidate, update = self.norm(gates).chunk(3, -1)
        candidate = torch.tanh(torch.sigmoid(reset) * candidate)
        # update * candidate + (1 - update) * state, in one op
        update = torch.sigmoid(update - 1).to(state.dtype)
        return torch.lerp(state, candidate.to(state.dtype), update)
