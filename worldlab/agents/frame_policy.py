"""A policy that reads frames: the network behind behavioural cloning.

``FramePolicy`` maps the last ``frames`` observations (``[B, K, H, W, 3] uint8``) to logits
over ``classes`` actions: a world's real actions (behavioural cloning) or a latent-action
model's codes (latent BC, ``worldlab.agents.imitation``). ``fit_frame_policy`` trains it
by cross-entropy on ``(frame stack, label)`` pairs; ``FrameHistory`` keeps the stack while
acting in a real world.

Labels follow the episode layout: ``action[t]`` led to ``obs[t]``, so the label of frame
``t`` is what was done next, ``action[t + 1]`` (or the code inferred for ``t → t + 1``).
A frame's stack repeats the episode's first frame where the episode is younger than
``frames``. ``fit_decoder`` reads a trained policy's features out into other labels
(latent BC's real actions).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from worldlab.models.blocks import frames_to_input
from worldlab.progress import progress_bar


class FramePolicy(nn.Module):
    """Four stride-2 3×3 convolutions over the stacked frames (any frame size), pooled to
    4×4, then an MLP."""

    def __init__(self, classes: int, frames: int = 2, channels: int = 3, width: int = 32):
        super().__init__()
        self.classes, self.frames = classes, frames
        layers: list[nn.Module] = []
        inputs = channels * frames
        for outputs in (width, 2 * width, 2 * width, 2 * width):
            layers += [nn.Conv2d(inputs, outputs, 3, stride=2, padding=1), nn.SiLU()]
            inputs = outputs
        self.encoder = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(4), nn.Flatten())
        self.head = nn.Sequential(nn.Linear(inputs * 16, 256), nn.SiLU(), nn.Linear(256, classes))

    def forward(self, stack: torch.Tensor) -> torch.Tensor:
        """``[B, K, H, W, C] uint8`` → logits ``[B, classes]``."""
        return self.head(self.encoder(self._images(stack)))

    def features(self, stack: torch.Tensor) -> torch.Tensor:
        """What the policy knows of a frame stack: its last hidden layer and its output
        distribution, ``[B, 256 + classes]`` (the input of ``fit_decoder``)."""
        hidden = self.head[:-1](self.encoder(self._images(stack)))
        return torch.cat([hidden, self.head[-1](hidden).softmax(1)], 1)

    @staticmethod
    def _images(stack: torch.Tensor) -> torch.Tensor:
        batch, frames = stack.shape[:2]
        images = frames_to_input(stack)  # [B·K, C, H, W]
        return images.reshape(batch, frames * images.shape[1], *images.shape[2:])


def stack_indices(length: int, frames: int) -> np.ndarray:
    """``[length, frames]`` frame indices of each step's stack, oldest first, clamped at 0."""
    steps = np.arange(length)[:, None] + np.arange(1 - frames, 1)[None]
    return np.maximum(steps, 0)


@dataclass
class Transitions:
    """Frames of several episodes and the labelled steps among them.

    ``obs``: all frames ``[F, H, W, C]`` uint8; ``stacks``: ``[N, K]`` indices into
    ``obs`` (each labelled step's stack); ``labels``: ``[N]`` int64."""

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
    """Pairs from episodes ``obs [T+1, H, W, C]`` and per-episode labels ``[T]`` (label
    ``t`` is what was done at frame ``t``); the episodes' last frames get no label."""
    stacks, offset = [], 0
    for obs, label in zip(episodes, labels, strict=True):
        if len(label) != len(obs) - 1:
            raise ValueError(f"{len(obs)} frames need {len(obs) - 1} labels, got {len(label)}")
        stacks.append(stack_indices(len(obs), frames)[:-1] + offset)
        offset += len(obs)
    return Transitions(
        obs=np.concatenate(episodes),
        stacks=np.concatenate(stacks).astype(np.int64),
        labels=np.concatenate(labels).astype(np.int64),
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
) -> tuple[FramePolicy, dict[str, Any]]:
    """Train a ``FramePolicy`` by cross-entropy; returns it (in eval mode) and its training
    record: the loss and accuracy over the last 10% of updates, and the label counts."""
    if len(data) == 0:
        raise ValueError("no labelled transitions to learn from")
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    policy = FramePolicy(classes, frames)
    optimizer = torch.optim.AdamW(policy.parameters(), lr=lr, weight_decay=1e-4)
    obs = torch.from_numpy(np.ascontiguousarray(data.obs))
    stacks, labels = torch.from_numpy(data.stacks), torch.from_numpy(data.labels)
    tail_losses, tail_hits, tail_seen = [], 0, 0
    policy.train()
    with progress_bar(progress) as bar:
        task = bar.add_task("behavioural cloning", total=updates, unit="updates")
        for update in range(updates):
            chosen = torch.randint(
                len(labels), (min(batch_size, len(labels)),), generator=generator
            )
            logits = policy(obs[stacks[chosen]])
            loss = F.cross_entropy(logits, labels[chosen])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if update >= updates - max(updates // 10, 1):
                tail_losses.append(loss.item())
                tail_hits += int((logits.argmax(1) == labels[chosen]).sum())
                tail_seen += len(chosen)
            bar.advance(task)
    policy.eval()
    record = {
        "updates": updates,
        "batch_size": batch_size,
        "lr": lr,
        "transitions": len(data),
        "label_counts": np.bincount(data.labels, minlength=classes).tolist(),
        "final_loss": float(np.mean(tail_losses)),
        "final_accuracy": tail_hits / max(tail_seen, 1),
    }
    return policy, record


@torch.no_grad()
def policy_features(policy: FramePolicy, data: Transitions, batch_size: int = 256) -> torch.Tensor:
    """``policy.features`` of every labelled step of ``data``, ``[N, F]``."""
    obs, stacks = torch.from_numpy(np.ascontiguousarray(data.obs)), torch.from_numpy(data.stacks)
    parts = [
        policy.features(obs[stacks[start : start + batch_size]])
        for start in range(0, len(stacks), batch_size)
    ]
    return torch.cat(parts) if parts else torch.zeros(0, 256 + policy.classes)


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
