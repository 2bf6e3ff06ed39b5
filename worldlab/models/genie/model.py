"""``genie``: Genie's world model behind the shared ``WorldModel`` interface.

Three parts, trained in stages (``config.stage``): a video tokenizer (frames ↔ tokens), a
latent action model (the action between two frames, one of a few codes, learned from video
alone) and a MaskGIT dynamics model (next frame's tokens from past tokens and a latent
action). The model's actions are its latent actions, whatever the dataset recorded:
``action_spec`` is ``discrete`` with ``num_latent_actions`` choices, so imagination,
evaluation, ``DreamEnv`` and play drive it like any other model, and ``infer_actions``
labels real video with the latent actions that explain it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch.nn import functional as F

from worldlab.errors import WorldlabError
from worldlab.models.base import ActionSpec, SamplingOption, WorldModel
from worldlab.models.genie.config import (
    DEFAULT_PRESET,
    LAM_DECODER_OUTPUTS,
    PRESETS,
    STAGES,
    GenieConfig,
)
from worldlab.models.genie.dynamics import MaskGITDynamics
from worldlab.models.genie.lam import LatentActionModel
from worldlab.models.genie.patches import to_uint8, to_unit
from worldlab.models.genie.tokenizer import VideoTokenizer
from worldlab.models.genie.transformer import segments_from_is_first
from worldlab.models.registry import register

COMPONENTS = ("tokenizer", "lam", "dynamics")


@dataclass
class GenieState:
    """The last ``frames`` frames (oldest first, newest last), batch first.

    Slots not yet filled have ``segment == -1``; a new episode (``is_first``) starts a new
    segment, and no frame attends across segments.
    """

    frames: torch.Tensor  # [B, F, H, W, C] uint8: observed or imagined pixels (the LAM reads them)
    tokens: torch.Tensor  # [B, F, N] int64: tokenizer tokens
    actions: torch.Tensor  # [B, F] int64: the latent action that led to each frame
    segment: torch.Tensor  # [B, F] int64
    rendered: torch.Tensor  # [B, H, W, C] uint8: the tokenizer's decoding of the newest frame


def check_config(config: GenieConfig, obs_shape: tuple[int, ...]) -> None:
    """Clear errors for settings the networks cannot be built with."""
    if config.stage not in STAGES:
        raise WorldlabError(f"model.stage must be one of {', '.join(STAGES)}, got '{config.stage}'")
    if config.lam_decoder_output not in LAM_DECODER_OUTPUTS:
        raise WorldlabError(
            f"model.lam_decoder_output must be one of {', '.join(LAM_DECODER_OUTPUTS)}, "
            f"got '{config.lam_decoder_output}'"
        )
    if len(obs_shape) != 3:
        raise WorldlabError(
            f"genie models frames [H, W, C], got observations of shape {list(obs_shape)}; "
            "train it on pixels (train.observation=pixels)"
        )
    height, width, _ = obs_shape
    for name in ("patch", "lam_patch"):
        size = getattr(config, name)
        if height % size or width % size:
            raise WorldlabError(
                f"model.{name}={size} does not divide {height}×{width} frames: choose a "
                f"patch size that divides both sides"
            )
    for name in ("tokenizer_width", "lam_width", "dynamics_width"):
        if getattr(config, name) % config.head_dim:
            raise WorldlabError(
                f"model.{name}={getattr(config, name)} is not a multiple of "
                f"model.head_dim={config.head_dim}"
            )
    if config.frames < 2:
        raise WorldlabError(
            f"model.frames must be ≥ 2 (a frame and its successor), got {config.frames}"
        )


@register
class GenieWorldModel(WorldModel):
    """Video tokenizer + latent action model + MaskGIT dynamics (Bruce et al., 2024)."""

    family = "genie"
    Config = GenieConfig
    presets = PRESETS
    default_preset = DEFAULT_PRESET
    # Fields that may change on --resume: the stage moves a run on to its next part;
    # sampling settings change imagination, not training.
    resumable_fields: ClassVar[frozenset[str]] = frozenset(
        {"model.stage", "model.maskgit_steps", "model.temperature"}
    )

    latent_actions = True
    sampling_options = (
        SamplingOption("maskgit_steps", "MaskGIT steps", low=1, high=64, integer=True),
        SamplingOption("temperature", "temperature", low=0.0, high=2.0),
    )

    def __init__(self, config: GenieConfig, obs_shape: tuple[int, ...], action_spec: ActionSpec):
        """``action_spec`` (the dataset's actions) is not used: Genie learns its own."""
        check_config(config, obs_shape)
        super().__init__(config, obs_shape, action_spec)
        self.action_spec = ActionSpec("discrete", n=config.num_latent_actions)
        self.tokenizer = VideoTokenizer(config, obs_shape)
        self.lam = LatentActionModel(config, obs_shape)
        self.dynamics = MaskGITDynamics(config, self.tokenizer.tokens)
        for name in COMPONENTS:
            getattr(self, name).requires_grad_(name in self.trained_components)

    @property
    def trained_components(self) -> tuple[str, ...]:
        """The parts this stage trains; the others stay frozen (and in eval mode)."""
        return COMPONENTS if self.config.stage == "all" else (self.config.stage,)

    def train(self, mode: bool = True) -> GenieWorldModel:
        super().train(mode)
        for name in COMPONENTS:
            if name not in self.trained_components:
                getattr(self, name).eval()  # frozen codebooks restart no codes
        return self

    @property
    def feature_dims(self) -> int:
        return self.config.code_dim * self.config.feature_grid**2

    # -- training --------------------------------------------------------------------
    def loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, Any]]:
        """The loss of ``config.stage``: tokenizer, LAM, dynamics, or their sum (``all``).

        The dynamics learns from the tokenizer's tokens and the LAM's codes, both discrete,
        so no gradient flows back into them (the paper's stop-gradient).
        """
        obs, is_first = self._training_window(batch["obs"], batch["is_first"])
        segment = segments_from_is_first(is_first)
        pixels = to_unit(obs)
        stage = self.config.stage
        total = pixels.new_zeros(())
        metrics: dict[str, Any] = {"stage": stage}
        tokens = codes = None
        if stage in ("tokenizer", "all"):
            loss, parts, tokens = self.tokenizer.loss(pixels, segment)
            total, metrics = total + loss, {**metrics, **parts}
        if stage in ("lam", "all"):
            loss, parts, codes = self.lam.loss(pixels, segment)
            total, metrics = total + loss, {**metrics, **parts}
        if stage in ("dynamics", "all"):
            with torch.no_grad():
                tokens = self.tokenizer.tokenize(pixels, segment) if tokens is None else tokens
                codes = self.lam.infer(pixels, segment) if codes is None else codes
            loss, parts = self.dynamics.loss(tokens, codes, segment)
            total, metrics = total + loss, {**metrics, **parts}
        metrics["loss"] = total.detach()
        return total, metrics

    def _training_window(
        self, obs: torch.Tensor, is_first: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """A random ``config.frames``-long piece of longer windows (the attention span)."""
        self.check_obs(obs, torch.uint8)
        steps, frames = obs.shape[1], self.config.frames
        if steps < 2:
            raise WorldlabError(
                f"genie learns from consecutive frames: windows need ≥ 2 frames, got {steps} "
                "(set train.seq_len)"
            )
        if steps <= frames:
            return obs, is_first
        start = int(torch.randint(0, steps - frames + 1, ()))
        return obs[:, start : start + frames], is_first[:, start : start + frames]

    # -- simulation ------------------------------------------------------------------
    def initial_state(self, batch_size: int, device: torch.device | str = "cpu") -> GenieState:
        """A state with no frames yet (every slot empty)."""
        frames, tokens = self.config.frames, self.tokenizer.tokens
        return GenieState(
            frames=torch.zeros(
                batch_size, frames, *self.obs_shape, dtype=torch.uint8, device=device
            ),
            tokens=torch.zeros(batch_size, frames, tokens, dtype=torch.long, device=device),
            actions=torch.zeros(batch_size, frames, dtype=torch.long, device=device),
            segment=torch.full((batch_size, frames), -1, dtype=torch.long, device=device),
            rendered=torch.zeros(batch_size, *self.obs_shape, dtype=torch.uint8, device=device),
        )

    @torch.no_grad()
    def observe(
        self,
        obs: torch.Tensor,
        action: torch.Tensor,
        is_first: torch.Tensor | None = None,
        state: GenieState | None = None,
    ) -> GenieState:
        """Append ``obs [B, T, H, W, C]`` to ``state``'s frames (``action`` is ignored: the LAM
        infers the latent actions), keep the last ``config.frames`` and re-encode them."""
        self.check_obs(obs, torch.uint8)
        batch_size, steps = obs.shape[:2]
        if is_first is None:
            is_first = torch.zeros(batch_size, steps, dtype=torch.bool, device=obs.device)
        is_first = is_first.bool().clone()
        if state is None:
            state = self.initial_state(batch_size, obs.device)
            is_first[:, 0] = True  # nothing came before
        segment = state.segment[:, -1:] + is_first.long().cumsum(1)
        keep = self.config.frames
        frames = torch.cat([state.frames, obs], 1)[:, -keep:]
        segment = torch.cat([state.segment, segment], 1)[:, -keep:]
        pixels = to_unit(frames)
        tokens = self.tokenizer.tokenize(pixels, segment)
        rendered = to_uint8(self.tokenizer.decode(tokens, segment)[:, -1])
        return GenieState(frames, tokens, self.lam.infer(pixels, segment), segment, rendered)

    @torch.no_grad()
    def infer_actions(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """Latent actions ``[B, T] int64`` that explain ``obs [B, T, H, W, C]`` (``action`` is
        ignored): index ``t`` led to ``obs[:, t]``, index 0 is 0. Long videos are read in
        overlapping pieces of ``config.frames``."""
        self.check_obs(obs, torch.uint8)
        batch_size, steps = obs.shape[:2]
        codes = torch.zeros(batch_size, steps, dtype=torch.long, device=obs.device)
        window = self.config.frames
        for start in range(0, max(steps - 1, 1), window - 1):
            piece = obs[:, start : start + window]
            segment = torch.zeros(piece.shape[:2], dtype=torch.long, device=obs.device)
            inferred = self.lam.infer(to_unit(piece), segment)
            codes[:, start + 1 : start + piece.shape[1]] = inferred[:, 1:]
        return codes

    @torch.no_grad()
    def step(
        self, state: GenieState, action: torch.Tensor
    ) -> tuple[GenieState, torch.Tensor, torch.Tensor]:
        """Generate the next frame under latent ``action [B] int64`` by MaskGIT decoding
        (``config.maskgit_steps``, ``config.temperature``; torch's global random generator).
        Genie predicts no reward or termination: reward 0, continue 1."""
        batch_size = state.segment.shape[0]
        action = self._check_latent_actions(action, batch_size)
        c = self.config
        tokens, actions, segment = state.tokens[:, 1:], state.actions[:, 1:], state.segment[:, 1:]
        new = self.dynamics.generate(
            tokens, actions, segment, action, c.maskgit_steps, c.temperature
        )
        tokens = torch.cat([tokens, new[:, None]], 1)
        actions = torch.cat([actions, action[:, None]], 1)
        segment = torch.cat([segment, segment[:, -1:]], 1)
        frame = to_uint8(self.tokenizer.decode(tokens, segment)[:, -1])
        frames = torch.cat([state.frames[:, 1:], frame[:, None]], 1)
        next_state = GenieState(frames, tokens, actions, segment, frame)
        zeros = torch.zeros(batch_size, device=action.device)
        return next_state, zeros, torch.ones_like(zeros)

    def _check_latent_actions(self, action: torch.Tensor, batch_size: int) -> torch.Tensor:
        n = self.config.num_latent_actions
        if action.dtype.is_floating_point or tuple(action.shape) != (batch_size,):
            raise WorldlabError(
                f"genie steps under latent actions: int64 [{batch_size}] in 0..{n - 1}, got "
                f"{action.dtype} {list(action.shape)}. To replay a video, infer its latent "
                "actions with model.infer_actions(obs, action)"
            )
        if (action < 0).any() or (action >= n).any():
            raise WorldlabError(
                f"discrete actions must lie in 0..{n - 1}, got "
                f"{int(action.min())}..{int(action.max())}"
            )
        return action.long()

    def render(self, state: GenieState) -> torch.Tensor:
        """The tokenizer's decoding of the newest frame's tokens ``[B, H, W, C] uint8``."""
        return state.rendered

    def features(self, state: GenieState) -> torch.Tensor:
        """Code vectors of the newest frame's tokens, average-pooled to a ``feature_grid²``
        grid (where things are, coarsely): ``[B, code_dim · feature_grid²]``."""
        codes = self.tokenizer.quantizer.lookup(state.tokens[:, -1])  # [B, N, code_dim]
        rows, cols = self.tokenizer.grid
        grid = codes.transpose(1, 2).reshape(len(codes), -1, rows, cols)
        return F.adaptive_avg_pool2d(grid, self.config.feature_grid).flatten(1)

    def optimizer(self) -> torch.optim.Optimizer:
        """AdamW with the paper's β = (0.9, 0.9) and weight decay; one rate per part."""
        c = self.config
        groups = [
            {"params": [*self.tokenizer.parameters(), *self.lam.parameters()], "lr": c.lr},
            {"params": list(self.dynamics.parameters()), "lr": c.dynamics_lr},
        ]
        return torch.optim.AdamW(groups, betas=(0.9, c.beta2), weight_decay=c.weight_decay)


__all__ = ["GenieState", "GenieWorldModel"]
