"""A policy that reads frames: the network behind behavioural cloning.

``FramePolicy`` maps the last ``frames`` observations (``[B, K, H, W, 3] uint8``) to logits
over ``classes`` actions: a world's real actions (behavioural cloning) or a latent-action
model's codes (latent BC, ``worldlab.agents.imitation``). Given ``action_bounds`` instead,
it outputs continuous actions inside them (a world's ``Box`` actions). Its ``encoder`` is
``"conv"`` (strided convolutions, average-pooled: what a frame looks like) or
``"keypoints"`` (full-resolution convolutions read out by a spatial softmax as the image
coordinates of ``KEYPOINTS`` features per frame, after Levine et al. 2016: where things
are). ``fit_frame_policy`` trains it on ``(frame stack, label)`` pairs, by cross-entropy
or, for continuous actions, mean squared error; ``FrameHistory`` keeps the stack while
acting in a real world.

Labels follow the episode layout: ``action[t]`` led to ``obs[t]``, so the label of frame
``t`` is what was done next, ``action[t + 1]`` (or the code inferred for ``t → t + 1``).
A frame's stack repeats the episode's first frame where the episode is younger than
``frames``. ``fit_decoder`` reads a trained policy's features out into other labels
(latent BC's real actions).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from worldlab.models.blocks import frames_to_input
from worldlab.progress import progress_bar

# A continuous action space's bounds, per dimension: ``(low, high)``.
ActionBounds = tuple[Sequence[float], Sequence[float]]
ENCODERS = ("conv", "keypoints")
KEYPOINTS = 16  # features the keypoint encoder locates in each frame


class SpatialSoftmax(nn.Module):
    """``[N, C, H, W]`` feature maps → ``[N, C·2]``: per channel, the expected (x, y) in
    ``[-1, 1]`` under the softmax of its map over pixels."""

    def forward(self, maps: torch.Tensor) -> torch.Tensor:
        count, channels, height, width = maps.shape
        weights = maps.flatten(2).softmax(-1).reshape(count, channels, height, width)
        xs = torch.linspace(-1, 1, width, device=maps.device, dtype=maps.dtype)
        ys = torch.linspace(-1, 1, height, device=maps.device, dtype=maps.dtype)
        x = (weights.sum(2) * xs).sum(-1)
        y = (weights.sum(3) * ys).sum(-1)
        return torch.stack([x, y], -1).flatten(1)


class FramePolicy(nn.Module):
    """An encoder, then an MLP. ``"conv"``: four stride-2 3×3 convolutions over the stacked
    frames (any frame size), pooled to 4×4. ``"keypoints"``: three 3×3 convolutions at full
    resolution on each frame alone, a 1×1 to ``KEYPOINTS`` maps and a spatial softmax; an
    MLP of two hidden layers reads every frame's coordinates.

    Discrete (``action_bounds`` None): logits over ``classes``. Continuous: ``classes`` is
    0 and the ``len(low)`` outputs go through tanh, scaled from ``[-1, 1]`` to ``[low, high]``.
    """

    def __init__(
        self,
        classes: int,
        frames: int = 2,
        channels: int = 3,
        width: int = 32,
        action_bounds: ActionBounds | None = None,
        encoder: str = "conv",
    ):
        super().__init__()
        if encoder not in ENCODERS:
            raise ValueError(f"encoder must be one of {', '.join(ENCODERS)}, got {encoder!r}")
        self.classes, self.frames, self.encoder_kind = classes, frames, encoder
        self.continuous = action_bounds is not None
        self.action_dims = len(action_bounds[0]) if self.continuous else 0
        if self.continuous:
            low, high = (torch.tensor(bound, dtype=torch.float32) for bound in action_bounds)
            finite = bool(torch.isfinite(low).all() and torch.isfinite(high).all())
            if classes != 0 or low.shape != high.shape or not finite or not (low < high).all():
                raise ValueError(
                    f"continuous actions need classes=0 and finite low < high, got classes="
                    f"{classes}, low={low.tolist()}, high={high.tolist()}"
                )
            # Not saved with the weights: the agent's card records the bounds.
            self.register_buffer("low", low, persistent=False)
            self.register_buffer("high", high, persistent=False)
        head_outputs = self.action_dims if self.continuous else classes
        layers: list[nn.Module] = []
        if encoder == "conv":
            inputs = channels * frames
            for outputs in (width, 2 * width, 2 * width, 2 * width):
                layers += [nn.Conv2d(inputs, outputs, 3, stride=2, padding=1), nn.SiLU()]
                inputs = outputs
            self.encoder = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(4), nn.Flatten())
            hidden: list[nn.Module] = [nn.Linear(inputs * 16, 256), nn.SiLU()]
        else:
            inputs = channels
            for _ in range(3):
                layers += [nn.Conv2d(inputs, width, 3, padding=1), nn.SiLU()]
                inputs = width
            self.encoder = nn.Sequential(*layers, nn.Conv2d(width, KEYPOINTS, 1), SpatialSoftmax())
            hidden = [nn.Linear(frames * KEYPOINTS * 2, 256), nn.SiLU()]
            hidden += [nn.Linear(256, 256), nn.SiLU()]
        self.head = nn.Sequential(*hidden, nn.Linear(256, head_outputs))

    @property
    def action_bounds(self) -> tuple[list[float], list[float]] | None:
        """``(low, high)`` of continuous actions; None for a discrete policy."""
        return (self.low.tolist(), self.high.tolist()) if self.continuous else None

    def forward(self, stack: torch.Tensor) -> torch.Tensor:
        """``[B, K, H, W, C] uint8`` → logits ``[B, classes]``, or continuous actions
        ``[B, action_dims]`` float inside the bounds."""
        return self._output(self.head(self._encode(stack)))

    def features(self, stack: torch.Tensor) -> torch.Tensor:
        """What the policy knows of a frame stack: its last hidden layer and its output
        distribution (or its actions), ``[B, 256 + classes]`` (the input of ``fit_decoder``)."""
        hidden = self.head[:-1](self._encode(stack))
        output = self._output(self.head[-1](hidden))
        return torch.cat([hidden, output if self.continuous else output.softmax(1)], 1)

    def _output(self, raw: torch.Tensor) -> torch.Tensor:
        if not self.continuous:
            return raw
        return self.low + (raw.tanh() + 1) * 0.5 * (self.high - self.low)

    def _encode(self, stack: torch.Tensor) -> torch.Tensor:
        batch, frames = stack.shape[:2]
        images = frames_to_input(stack)  # [B·K, C, H, W]
        if self.encoder_kind == "keypoints":  # each frame alone, then its coordinates side by side
            return self.encoder(images).reshape(batch, -1)
        return self.encoder(images.reshape(batch, frames * images.shape[1], *images.shape[2:]))


def stack_indices(length: int, frames: int) -> np.ndarray:
    """``[length, frames]`` frame indices of each step's stack, oldest first, clamped at 0."""
    steps = np.arange(length)[:, None] + np.arange(1 - frames, 1)[None]
    return np.maximum(steps, 0)


@dataclass
class Transitions:
    """Frames of several episodes and the labelled steps among them.

    ``obs``: all frames ``[F, H, W, C]`` uint8; ``stacks``: ``[N, K]`` indices into
    ``obs`` (each labelled step's stack); ``labels``: ``[N]`` int64 (discrete actions or
    codes) or ``[N, D]`` float32 (continuous actions)."""

    obs: np.ndarray
    stacks: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, chosen: np.ndarray) -> Transitions:
        return Transitions(self.obs, self.stacks[chosen], self.labels[chosen])


def episode_transitions(
    episodes: list[np.ndarray], labels: list[np.ndarray], frames: int
) -> Transitions:
    """Pairs from episodes ``obs [T+1, H, W, C]`` and per-episode labels ``[T]`` (or
    ``[T, D]``: continuous; label ``t`` is what was done at frame ``t``); the episodes' last
    frames get no label."""
    stacks, offset = [], 0
    for obs, label in zip(episodes, labels, strict=True):
        if len(label) != len(obs) - 1:
            raise ValueError(f"{len(obs)} frames need {len(obs) - 1} labels, got {len(label)}")
        stacks.append(stack_indices(len(obs), frames)[:-1] + offset)
        offset += len(obs)
    every = np.concatenate(labels)
    return Transitions(
        obs=np.concatenate(episodes),
        stacks=np.concatenate(stacks).astype(np.int64),
        labels=every.astype(np.float32 if every.ndim == 2 else np.int64),
    )


def fit_frame_policy(
    data: Transitions,
    classes: int,
    frames: int,
    updates: int = 3000,
    batch_size: int = 64,
    lr: float = 1e-3,
    seed: int = 0,
    progress: bool = True,
    action_bounds: ActionBounds | None = None,
    encoder: str = "conv",
) -> tuple[FramePolicy, dict[str, Any]]:
    """Train a ``FramePolicy`` by cross-entropy, or with ``action_bounds`` (``classes`` 0,
    labels ``[N, D]`` float) on continuous actions by mean squared error; returns it (in
    eval mode) and its training record: the loss over the last 10% of updates and, there,
    the accuracy and the label counts (discrete) or the mean absolute error (continuous)."""
    if len(data) == 0:
        raise ValueError("no labelled transitions to learn from")
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    policy = FramePolicy(classes, frames, action_bounds=action_bounds, encoder=encoder)
    if policy.continuous and data.labels.shape[1:] != (policy.action_dims,):
        raise ValueError(
            f"labels {list(data.labels.shape)} do not match {policy.action_dims} action dims"
        )
    optimizer = torch.optim.AdamW(policy.parameters(), lr=lr, weight_decay=1e-4)
    obs = torch.from_numpy(np.ascontiguousarray(data.obs))
    stacks, labels = torch.from_numpy(data.stacks), torch.from_numpy(data.labels)
    tail_losses, tail_hits, tail_seen, tail_errors = [], 0, 0, 0.0
    policy.train()
    with progress_bar(progress) as bar:
        task = bar.add_task("behavioural cloning", total=updates, unit="updates")
        for update in range(updates):
            chosen = torch.randint(
                len(labels), (min(batch_size, len(labels)),), generator=generator
            )
            output = policy(obs[stacks[chosen]])
            if policy.continuous:
                loss = F.mse_loss(output, labels[chosen])
            else:
                loss = F.cross_entropy(output, labels[chosen])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if update >= updates - max(updates // 10, 1):
                tail_losses.append(loss.item())
                if policy.continuous:
                    tail_errors += float((output.detach() - labels[chosen]).abs().mean(1).sum())
                else:
                    tail_hits += int((output.argmax(1) == labels[chosen]).sum())
                tail_seen += len(chosen)
            bar.advance(task)
    policy.eval()
    record = {
        "updates": updates,
        "batch_size": batch_size,
        "lr": lr,
        "transitions": len(data),
    }
    if policy.continuous:
        record["final_loss"] = float(np.mean(tail_losses))
        record["final_mae"] = tail_errors / max(tail_seen, 1)
    else:
        record["label_counts"] = np.bincount(data.labels, minlength=classes).tolist()
        record["final_loss"] = float(np.mean(tail_losses))
        record["final_accuracy"] = tail_hits / max(tail_seen, 1)
    return policy, record


@torch.no_grad()
def policy_features(policy: FramePolicy, data: Transitions, batch_size: int = 256) -> torch.Tensor:
    """``policy.features`` of every labelled step of ``data``, ``[N, F]``."""
    obs, stacks = torch.from_numpy(np.ascontiguousarray(data.obs)), torch.from_numpy(data.stacks)
    parts = [
        policy.features(obs[stacks[start : start + batch_size]])
        for start in range(0, len(stacks), batch_size)
    ]
    return torch.cat(parts) if parts else torch.zeros(0, 256 + policy.classes + policy.action_dims)


def fit_decoder(
    features: torch.Tensor, labels: torch.Tensor, classes: int, steps: int = 500, seed: int = 0
) -> nn.Linear:
    """A linear read-out ``features → classes`` by full-batch cross-entropy (AdamW, weight
    decay 1e-3): small enough to learn from a few hundred labelled transitions."""
    torch.manual_seed(seed)
    decoder = nn.Linear(features.shape[1], classes)
    optimizer = torch.optim.AdamW(decoder.parameters(), lr=1e-2, weight_decay=1e-3)
    for _ in range(steps):
        loss = F.cross_entropy(decoder(features), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return decoder.eval()


class FrameHistory:
    """The last ``frames`` real observations of one episode, as a policy's input."""

    def __init__(self, frames: int):
        self.frames = frames
        self.stack: list[np.ndarray] = []

    def reset(self, obs: np.ndarray) -> torch.Tensor:
        self.stack = [np.asarray(obs)] * self.frames
        return self.tensor()

    def update(self, action: Any, obs: np.ndarray) -> torch.Tensor:
        self.stack = [*self.stack[1:], np.asarray(obs)]
        return self.tensor()

    def tensor(self) -> torch.Tensor:
        return torch.from_numpy(np.stack(self.stack))[None]  # [1, K, H, W, C]
