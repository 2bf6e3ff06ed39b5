"""``flow``: a flow-matching video world model (DIAMOND / Cosmos Predict / Dreamer 4 style).

The next frame is generated from the last ``context_frames`` frames and the action by a
denoiser trained with flow matching. Read top to bottom: state, networks, the training
loss (denoising, shortcut forcing, reward and continue heads), imagination (few-step
sampling with the context held at a small noise level, guidance on the action).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn
from torch.nn import functional as F

from worldlab.errors import WorldlabError
from worldlab.models.base import ActionSpec, SamplingOption, WorldModel
from worldlab.models.controls import check_controls, control_channels
from worldlab.models.flow import flow
from worldlab.models.flow.conditioning import Conditioning, palette_channels, palette_map
from worldlab.models.flow.config import (
    BACKBONES,
    DEFAULT_PRESET,
    PREDICTIONS,
    PRESETS,
    SOLVERS,
    FlowConfig,
)
from worldlab.models.flow.control import ControlBranch, ControlNet, DiTControlBranch
from worldlab.models.flow.dit import DiTDenoiser
from worldlab.models.flow.heads import FramePairHeads
from worldlab.models.flow.sample_conditions import (
    training_controls,
    training_hue,
    training_style,
    training_text,
)
from worldlab.models.flow.unet import UNetDenoiser
from worldlab.models.registry import register


@dataclass
class FlowState:
    """The last ``max(context_frames, 2)`` frames, oldest first: ``[B, F, H, W, C] uint8``,
    and the text prompt's embedding ``[B, D]`` every step is conditioned on, if any."""

    frames: torch.Tensor
    text: torch.Tensor | None = None


def to_unit(frames: torch.Tensor) -> torch.Tensor:
    """``[..., H, W, C] uint8`` → ``[..., C, H, W]`` float in [-1, 1]."""
    return frames.movedim(-1, -3).float() / 127.5 - 1


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """``[..., C, H, W]`` float in [-1, 1] → ``[..., H, W, C] uint8``."""
    return ((images.float().clamp(-1, 1) + 1) * 127.5 + 0.5).to(torch.uint8).movedim(-3, -1)


def _episode_starts(is_first: torch.Tensor) -> torch.Tensor:
    """``[B, T]``: the window position where each frame's episode starts, or -1 where it
    started before the window."""
    positions = torch.arange(is_first.shape[1], device=is_first.device)
    return torch.cummax(torch.where(is_first, positions, -1), dim=1).values


def check_config(config: FlowConfig, obs_shape: tuple[int, ...]) -> None:
    for name, allowed in (
        ("backbone", BACKBONES),
        ("solver", SOLVERS),
        ("prediction", PREDICTIONS),
    ):
        value = getattr(config, name)
        if value not in allowed:
            raise WorldlabError(f"model.{name} must be one of {', '.join(allowed)}, got '{value}'")
    if len(obs_shape) != 3:
        raise WorldlabError(
            f"flow models frames [H, W, C], got observations of shape {list(obs_shape)}; "
            "train it on pixels (train.observation=pixels)"
        )
    check_controls(config.controls)
    if config.hue_map and not (config.hue_input and "seg" in config.controls):
        raise WorldlabError(
            "model.hue_map lays the hue over the seg control: it needs model.hue_input=true "
            "and seg among model.controls"
        )
    if config.control_every < 1:
        raise WorldlabError(f"model.control_every must be ≥ 1, got {config.control_every}")
    if config.context_frames < 1:
        raise WorldlabError(f"model.context_frames must be ≥ 1, got {config.context_frames}")
    if config.backbone == "dit" and (config.width // config.heads) % 2:
        raise WorldlabError(
            f"model.width / model.heads = {config.width / config.heads:g} must be an even "
            "whole number (rotary positions rotate pairs)"
        )


@register
class FlowWorldModel(WorldModel):
    """Frame- and action-conditioned denoiser, flow matching, few-step sampling."""

    family = "flow"
    Config = FlowConfig
    presets = PRESETS
    default_preset = DEFAULT_PRESET
    sampling_options = (
        SamplingOption("sampling_steps", "sampling steps", low=1, high=64, integer=True),
        SamplingOption("solver", "solver", choices=SOLVERS),
        SamplingOption("prediction", "prediction", choices=PREDICTIONS),
        SamplingOption("guidance", "action guidance", low=0.0, high=10.0),
        SamplingOption("context_noise", "context noise", low=0.0, high=0.9),
        SamplingOption("prompt_guidance", "prompt guidance", low=0.0, high=10.0),
        SamplingOption("hue_guidance", "hue guidance", low=0.0, high=10.0),
    )
    resumable_fields: ClassVar[frozenset[str]] = frozenset(
        f"model.{option.name}" for option in sampling_options
    )

    def __init__(self, config: FlowConfig, obs_shape: tuple[int, ...], action_spec: ActionSpec):
        check_config(config, obs_shape)
        super().__init__(config, obs_shape, action_spec)
        height, width, channels = obs_shape
        self.conditioning = Conditioning(
            config.cond_dims,
            action_spec.input_dims,
            config.shortcut_levels,
            config.styles,
            config.text_dims,
            config.hue_input,
        )
        if config.backbone == "unet":
            self.denoiser = UNetDenoiser(
                channels,
                config.context_frames,
                list(config.channels),
                config.blocks,
                config.cond_dims,
            )
        else:
            self.denoiser = DiTDenoiser(
                channels, config.patch, config.width, config.depth, config.heads, config.cond_dims
            )
        multiple = self.denoiser.multiple
        if height % multiple or width % multiple:
            raise WorldlabError(
                f"flow's {config.backbone} needs frame sides that are multiples of {multiple}, "
                f"got {height}×{width}: collect with --size N (N a multiple of {multiple}) or "
                "use fewer model.channels levels / a smaller model.patch"
            )
        self.heads = FramePairHeads(
            channels, (height, width), action_spec.input_dims, config.head_dims, config.reward_bins
        )
        self.control: ControlNet | None = None
        if config.controls:
            maps = {name: control_channels(name, config.seg_classes) for name in config.controls}
            if config.hue_map:
                maps["seg"] += palette_channels(config.seg_classes)
            if config.backbone == "unet":
                self.control = ControlNet(
                    maps,
                    ControlBranch,
                    image_channels=channels,
                    context_frames=config.context_frames,
                    channels=list(config.channels),
                    blocks=config.blocks,
                    cond_dims=config.cond_dims,
                    every=config.control_every,
                )
            else:
                self.control = ControlNet(
                    maps,
                    DiTControlBranch,
                    image_channels=channels,
                    patch=config.patch,
                    width=config.width,
                    depth=config.depth,
                    heads=config.heads,
                    cond_dims=config.cond_dims,
                    every=config.control_every,
                )
        self.ema: nn.ModuleDict | None = None
        if config.ema_decay > 0:
            self.ema = copy.deepcopy(self._online()).requires_grad_(False)
            self.register_buffer("ema_updates", torch.zeros((), dtype=torch.long))
        self.to(memory_format=torch.channels_last)

    @property
    def feature_dims(self) -> int:
        return self.config.head_dims

    @property
    def kept_frames(self) -> int:
        return max(self.config.context_frames, 2)

    def _online(self) -> nn.ModuleDict:
        """The networks that imagine (their EMA copy is ``self.ema``)."""
        nets = {"conditioning": self.conditioning, "denoiser": self.denoiser}
        if self.control is not None:
            nets["control"] = self.control
        return nn.ModuleDict(nets)

    @property
    def text_dims(self) -> int:
        return self.config.text_dims

    def _denoise_fn(
        self,
        context,
        context_noise,
        action,
        keep,
        ema: bool,
        style=None,
        controls=None,
        text=None,
        hue=None,
    ) -> flow.Denoise:
        """The denoiser as a function of ``(x_τ, τ, step level)`` for fixed conditions;
        ``controls``: name → ``(map, weight)`` for the control branches."""
        nets = self.ema if ema and self.ema is not None else self._online()
        conditioning, denoiser = nets["conditioning"], nets["denoiser"]
        control = nets["control"] if controls and "control" in nets else None
        if control is not None and self.config.hue_map and "seg" in controls:
            seg, weight = controls["seg"]
            controls = {**controls, "seg": (palette_map(seg, hue), weight)}

        def denoise(x, time, level):
            cond = conditioning(time, context_noise, level, action, keep, style, text, hue)
            x = x.to(memory_format=torch.channels_last)
            if control is None:
                return denoiser(x, context, cond)
            residuals, middle = control(x, context, cond, controls)
            return denoiser(x, context, cond, residuals, middle)

        return denoise

    # -- training --------------------------------------------------------------------
    def loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, Any]]:
        """Denoise ``targets_per_window`` frames of each window from their context."""
        c = self.config
        obs, is_first = batch["obs"], batch["is_first"].bool()
        self.check_obs(obs, torch.uint8)
        steps = obs.shape[1]
        if steps < 2:
            raise WorldlabError(
                f"flow learns from consecutive frames: windows need ≥ 2 frames, got {steps} "
                "(set train.seq_len)"
            )
        frames = to_unit(obs)  # [B, T, C, H, W]
        rows, times = self._pick_targets(is_first)
        context = frames[rows[:, None], self._context_index(is_first, rows, times)]
        target = frames[rows, times]
        action = self.action_spec.encode(batch["action"])[rows, times]
        n, device = len(rows), obs.device
        # Noise the context (GameNGen, DIAMOND's CS:GO model) and say how much.
        context_noise = torch.rand(n, device=device) * c.train_context_noise
        if c.first_frame_dropout > 0:  # no context at all: pure noise, and said so
            blank = torch.rand(n, device=device) < c.first_frame_dropout
            context_noise = torch.where(blank, torch.ones_like(context_noise), context_noise)
        context = flow.interpolate(context, torch.randn_like(context), 1 - context_noise)
        keep = torch.rand(n, device=device) >= c.action_dropout
        style = training_style(c, batch, rows, times)
        hue = training_hue(c, batch, rows, times)
        controls = training_controls(c, batch, rows, times)
        text = training_text(c, batch, rows, times)
        # Plain flow matching at the finest step; shortcut samples at bigger steps.
        shortcut = round(n * c.shortcut_fraction) if c.shortcut_levels > 0 else 0
        plain = n - shortcut
        time = flow.sample_times(plain, c.time_mean, c.time_std, c.time_shift, device)
        x = flow.interpolate(target[:plain], torch.randn_like(target[:plain]), time)
        level = torch.full((plain,), c.shortcut_levels, dtype=torch.long, device=device)
        goal = target[:plain]
        if shortcut:
            part = slice(plain, n)
            denoise = self._denoise_fn(
                context[part],
                context_noise[part],
                action[part],
                keep[part],
                ema=False,
                style=None if style is None else style[part],
                controls={name: (m[part], w[part]) for name, (m, w) in controls.items()},
                text=None if text is None else text[part],
                hue=None if hue is None else hue[part],
            )
            x_s, time_s, level_s, goal_s = flow.shortcut_targets(
                denoise, target[part], c.shortcut_levels
            )
            x, time = torch.cat([x, x_s]), torch.cat([time, time_s])
            level, goal = torch.cat([level, level_s]), torch.cat([goal, goal_s])
        denoise = self._denoise_fn(
            context,
            context_noise,
            action,
            keep,
            ema=False,
            style=style,
            controls=controls,
            text=text,
            hue=hue,
        )
        prediction = denoise(x, time, level).float()
        errors = (prediction - goal).pow(2).flatten(1).mean(1)
        denoise_loss = errors.mean()
        # Reward and continuation of the step into each target frame, from clean frames.
        features = self.heads.features(frames[rows, times - 1], target)
        reward_logits, continue_logit = self.heads.predict(features, action)
        reward_loss = self.heads.two_hot.loss(reward_logits, batch["reward"][rows, times]).mean()
        continues = 1.0 - batch["terminated"][rows, times].float()
        continue_loss = F.binary_cross_entropy_with_logits(continue_logit.float(), continues)
        total = denoise_loss + c.reward_scale * reward_loss + c.continue_scale * continue_loss
        metrics = {
            "loss": total.detach(),
            "denoise_loss": denoise_loss.detach(),
            "flow_loss": errors[:plain].mean().detach(),
            "reward_loss": reward_loss.detach(),
            "continue_loss": continue_loss.detach(),
        }
        if shortcut:
            metrics["shortcut_loss"] = errors[plain:].mean().detach()
        return total, metrics

    def _pick_targets(self, is_first: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Up to ``targets_per_window`` random frames per window that have a predecessor in
        their episode: ``(rows [N], times [N])``.

        Frames whose whole context lies in the window come first. A frame fewer than
        ``context_frames`` into a window that starts mid-episode would see the window's
        first frame repeated (``_context_index``), a scene that seems to stand still while
        the target moves; sampling never sees such a context. Near an episode's true start
        the repeat is what sampling sees too, so those frames count as whole."""
        batch_size, steps = is_first.shape
        positions = torch.arange(steps, device=is_first.device)
        valid = ~is_first
        valid[:, 0] = False
        started_here = _episode_starts(is_first) >= 0
        whole = valid & ((positions >= self.config.context_frames) | started_here)
        scores = torch.rand(batch_size, steps, device=is_first.device)
        scores += 2 * valid.float() + 2 * whole.float()
        picks = scores.topk(min(self.config.targets_per_window, steps - 1), dim=1).indices
        rows = torch.arange(batch_size, device=is_first.device)[:, None].expand_as(picks)
        chosen = valid.gather(1, picks)
        if not chosen.any():
            raise WorldlabError(
                "no training window has two frames of the same episode: episodes must be ≥ 2 "
                "frames long"
            )
        return rows[chosen], picks[chosen]

    def _context_index(self, is_first, rows, times) -> torch.Tensor:
        """Indices ``[N, K]`` of the K frames before each target, repeating the episode's
        first frame where the episode is younger than K."""
        start = _episode_starts(is_first).clamp(min=0)[rows, times]
        k = self.config.context_frames
        index = times[:, None] - k + torch.arange(k, device=is_first.device)
        return torch.maximum(index, start[:, None])

    def optimizer(self) -> torch.optim.Optimizer:
        c = self.config
        trained = [p for p in self.parameters() if p.requires_grad]
        return torch.optim.AdamW(trained, lr=c.lr, eps=c.adam_eps, weight_decay=c.weight_decay)

    @torch.no_grad()
    def after_step(self) -> None:
        """EMA of the denoiser, warmed up so early checkpoints are not stuck at init; frozen
        weights (a base under ``train.freeze_init``) keep the average they were given."""
        if self.ema is None:
            return
        self.ema_updates += 1
        updates = float(self.ema_updates)
        decay = min(self.config.ema_decay, (1 + updates) / (10 + updates))
        pairs = zip(self.ema.parameters(), self._online().parameters(), strict=True)
        averaged, online = zip(*[(a, o) for a, o in pairs if o.requires_grad], strict=True)
        torch._foreach_lerp_(list(averaged), list(online), 1 - decay)

    # -- imagination -----------------------------------------------------------------
    @torch.no_grad()
    def observe(
        self,
        obs: torch.Tensor,
        action: torch.Tensor,
        is_first: torch.Tensor | None = None,
        state: FlowState | None = None,
    ) -> FlowState:
        """Keep the last frames of ``obs [B, T, H, W, C]``; an episode's start is repeated to
        fill the context (``action`` is not needed: the next step's action conditions)."""
        self.check_obs(obs, torch.uint8)
        batch_size, steps = obs.shape[:2]
        if is_first is None:
            is_first = torch.zeros(batch_size, steps, dtype=torch.bool, device=obs.device)
        first = is_first.bool().reshape(batch_size, steps).clone()
        frames = None if state is None else state.frames
        if frames is None:
            first[:, 0] = True
            frames = obs[:, :1].expand(-1, self.kept_frames, -1, -1, -1)
        for t in range(steps):
            new = obs[:, t : t + 1]
            appended = torch.cat([frames[:, 1:], new], 1)
            restart = new.expand(-1, self.kept_frames, -1, -1, -1)
            frames = torch.where(first[:, t, None, None, None, None], restart, appended)
        return FlowState(frames.contiguous(), None if state is None else state.text)

    @torch.no_grad()
    def step(
        self, state: FlowState, action: torch.Tensor
    ) -> tuple[FlowState, torch.Tensor, torch.Tensor]:
        """Generate the next frame in ``sampling_steps`` steps (torch's global generator)."""
        batch_size = state.frames.shape[0]
        encoded = self._encode_step_action(action, batch_size)
        keep = torch.ones(batch_size, dtype=torch.bool)
        frame = self._generate(state.frames, encoded, keep, text=state.text)
        frames = torch.cat([state.frames[:, 1:], frame[:, None]], 1)
        features = self.heads.features(to_unit(state.frames[:, -1]), to_unit(frame))
        reward_logits, continue_logit = self.heads.predict(features, encoded)
        reward = self.heads.two_hot.mean(reward_logits.float())
        return FlowState(frames, state.text), reward, torch.sigmoid(continue_logit.float())

    @torch.no_grad()
    def generate_frame(
        self,
        frames: torch.Tensor | None,
        action: torch.Tensor | None = None,
        style: torch.Tensor | None = None,
        controls: dict[str, tuple[torch.Tensor, torch.Tensor]] | None = None,
        batch_size: int | None = None,
        text: torch.Tensor | None = None,
        hue: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The next frame ``[B, H, W, C] uint8`` under any of the model's conditions.

        ``frames``: the past ``[B, T, H, W, C] uint8`` (the last ``context_frames`` are
        read), or ``None`` to start from nothing (needs ``first_frame_dropout`` > 0 in
        training; give ``batch_size``). ``action``: one per sample, or ``None`` (no action).
        ``style [B]``: style ids (−1: none). ``controls``: name → ``(map, weight)`` with the
        map from ``worldlab.models.controls.control_input`` and the weight ``[B]`` or a
        spatial map ``[B, 1, H, W]``; several are summed (control transfer). ``hue [B]``:
        the objects' hue turn (< 0: none; needs ``hue_input``).
        """
        batch_size = batch_size if frames is None else frames.shape[0]
        if batch_size is None:
            raise WorldlabError("generate_frame without frames needs batch_size")
        if action is None:
            encoded = self.action_spec.null((batch_size,)).to(self.device)
            encoded = self.action_spec.encode(encoded)
            keep = torch.zeros(batch_size, dtype=torch.bool)
        else:
            encoded = self._encode_step_action(action, batch_size)
            keep = torch.ones(batch_size, dtype=torch.bool)
        unknown = sorted(set(controls or {}) - set(self.config.controls))
        if unknown:
            raise WorldlabError(
                f"this model has no branch for control {', '.join(unknown)}; it was trained "
                f"with {', '.join(self.config.controls) or 'none'}"
            )
        if style is not None and not self.config.styles:
            raise WorldlabError("this model was trained without styles (model.styles = 0)")
        if hue is not None:
            if not self.config.hue_input:
                raise WorldlabError(
                    "this model was trained without a hue input (model.hue_input = false)"
                )
            hue = torch.as_tensor(hue, dtype=torch.float32, device=self.device).reshape(-1)
            if len(hue) != batch_size:
                raise WorldlabError(f"give one hue per sample ({batch_size}), got {len(hue)}")
        self._check_text(text, batch_size)
        return self._generate(frames, encoded, keep, style, controls or None, text, hue)

    def _check_text(self, text: torch.Tensor | None, batch_size: int) -> None:
        if text is None:
            return
        if not self.config.text_dims:
            raise WorldlabError(
                "this model takes no text prompt: train it on embedded captions with "
                "--set model.text_dims=D (worldlab data embed-captions)"
            )
        if tuple(text.shape) != (batch_size, self.config.text_dims):
            raise WorldlabError(
                f"text embeddings must be [{batch_size}, {self.config.text_dims}], got "
                f"{list(text.shape)}: encode prompts with the model's encoder "
                f"({self.config.text_encoder})"
            )

    @torch.no_grad()
    def prompt(self, text: torch.Tensor, frames: torch.Tensor | None = None) -> FlowState:
        """A state that starts a world from a caption embedding ``text [B, D]``: after the
        prompt ``frames [B, T, H, W, C]`` (image2world / video2world with text), or from
        a first frame generated from the text alone (text2world). Every later ``step``
        stays conditioned on the text."""
        self._check_text(text, len(text))
        text = text.to(self.device, torch.float32)
        if frames is not None:
            return FlowState(
                self.observe(frames, self.action_spec.null(frames.shape[:2])).frames, text
            )
        if self.config.first_frame_dropout <= 0:
            raise WorldlabError(
                "this model never learned to start a world without frames "
                "(model.first_frame_dropout = 0): give an image or video with the prompt"
            )
        batch_size = len(text)
        encoded = self.action_spec.encode(self.action_spec.null((batch_size,)).to(self.device))
        keep = torch.zeros(batch_size, dtype=torch.bool)
        first = self._generate(None, encoded, keep, text=text)
        frames = first[:, None].expand(-1, self.kept_frames, -1, -1, -1).contiguous()
        return FlowState(frames, text)

    def _generate(
        self, frames, encoded, keep, style=None, controls=None, text=None, hue=None
    ) -> torch.Tensor:
        """Sample the next frame from past ``frames`` (``None``: no context)."""
        c = self.config
        batch_size, device = len(encoded), encoded.device
        keep = keep.to(device)
        if frames is None:  # told "no context": pure noise at noise level 1
            height, width, channels = self.obs_shape
            shape = (batch_size, c.context_frames, channels, height, width)
            context = torch.randn(shape, device=device)
            context_noise = torch.ones(batch_size, device=device)
        else:
            frames = frames[:, -c.context_frames :]
            if frames.shape[1] < c.context_frames:  # a young episode: repeat its first frame
                missing = c.context_frames - frames.shape[1]
                frames = torch.cat([frames[:, :1].expand(-1, missing, -1, -1, -1), frames], 1)
            context = to_unit(frames)
            context_noise = torch.full((batch_size,), c.context_noise, device=device)
            context = flow.interpolate(context, torch.randn_like(context), 1 - context_noise)
        # Classifier-free guidance, conditional and unconditional in one batch: on the text
        # when there is one and prompt_guidance ≠ 1, else on the hue likewise, else on the
        # action.
        on_text = text is not None and c.prompt_guidance != 1.0
        on_hue = not on_text and hue is not None and c.hue_guidance != 1.0
        on_action = c.guidance != 1.0 and self.action_spec.input_dims > 0 and bool(keep.all())
        guided = on_text or on_hue or on_action
        scale = c.prompt_guidance if on_text else c.hue_guidance if on_hue else c.guidance
        if guided:

            def twice(value):
                return None if value is None else torch.cat([value, value])

            denoise_both = self._denoise_fn(
                twice(context),
                twice(context_noise),
                twice(encoded),
                torch.cat([keep, keep if on_text or on_hue else ~keep]),
                ema=True,
                style=twice(style),
                controls={k: (twice(m), twice(w)) for k, (m, w) in (controls or {}).items()},
                text=torch.cat([text, torch.zeros_like(text)]) if on_text else twice(text),
                hue=torch.cat([hue, torch.full_like(hue, -1.0)]) if on_hue else twice(hue),
            )

            def denoise(x, time, level):
                both = denoise_both(twice(x), twice(time), twice(level))
                conditional, unconditional = both.float().chunk(2)
                return unconditional + scale * (conditional - unconditional)
        else:
            denoise = self._denoise_fn(
                context,
                context_noise,
                encoded,
                keep,
                ema=True,
                style=style,
                controls=controls,
                text=text,
                hue=hue,
            )
        noise = torch.randn(batch_size, *context.shape[2:], device=device)
        if c.prediction == "mean":
            image = flow.expected(denoise, noise, c.shortcut_levels)
        else:
            image = flow.sample(denoise, noise, c.sampling_steps, c.shortcut_levels, c.solver)
        return to_uint8(image)

    def _encode_step_action(self, action: torch.Tensor, batch_size: int) -> torch.Tensor:
        encoded = self.action_spec.encode(action)
        if encoded.shape != (batch_size, self.action_spec.input_dims):
            raise WorldlabError(
                f"flow steps one action per imagined episode: expected {batch_size} actions "
                f"({self.action_spec.kind}), got {action.dtype} {list(action.shape)}"
            )
        return encoded

    def render(self, state: FlowState) -> torch.Tensor:
        """The newest frame ``[B, H, W, C] uint8``."""
        return state.frames[:, -1]

    def features(self, state: FlowState) -> torch.Tensor:
        """The heads' reading of the last two frames: ``[B, head_dims]``."""
        frames = to_unit(state.frames[:, -2:])
        return self.heads.features(frames[:, 0], frames[:, 1]).float()


__all__ = ["FlowState", "FlowWorldModel"]
