"""Settings of the ``flow`` family (a frame- and action-conditioned flow-matching denoiser)
and its size presets.

What the systems it follows do, and what we keep (paper settings → CPU defaults):

- **Objective.** DIAMOND: EDM denoising in pixel space. Cosmos Predict 2.5: velocity flow
  matching. Dreamer 4: x-prediction with shortcut forcing. Ours: flow matching with
  x-prediction and shortcut forcing (``shortcut_levels=6``: finest step 1/64).
- **Timesteps in training.** Cosmos: logit-normal, shifted. Ours: logit-normal (mean 0,
  std 1) shifted toward noise by 3: few-step sampling starts from pure noise, where the
  first prediction places every object (on ``bounce`` at a 4-minute budget, shift 3 beat
  shift 1 by 1.2–1.7 dB at horizons 1–5; docs/flow.md).
- **Context.** DIAMOND: 4 frames (its CS:GO model noises them, ``noise_previous_obs``).
  GameNGen calls context noise critical against drift; Oasis holds the context at a small
  ``stabilization_level`` while sampling. Cosmos overwrites clean conditioning frames at
  every step. Ours: 4 frames, noised by U(0, 0.3) in training with the level as an input,
  held at 0.1 while sampling.
- **Sampling.** DIAMOND 3 Euler steps, GameNGen 4 DDIM steps, Dreamer 4 about 4 shortcut
  steps. Ours: 2 Euler steps by default (any of 1–64; Heun optional), or the expected
  frame in one call (``prediction="mean"``: best PSNR, what a deterministic model predicts;
  on ``bounce`` 1.6–2.6 dB above the 2-step draw at horizon 5, docs/flow.md).
- **Backbone.** DIAMOND's Atari U-Net: 64 channels × 4 levels, 4.4M parameters. Cosmos: a
  DiT with 3-D RoPE. Ours: a slim U-Net (32/64/64/96, one block per level, ≈3M) or a DiT
  with 3-D RoPE (``backbone="dit"``).
- **Action.** Ours: an AdaGN embedding (as DIAMOND), dropped for 10% of samples so
  classifier-free guidance on the action works (``guidance``).
- **Weights that imagine.** EMA of the denoiser (0.999, warmed up).

- **Control transfer.** Cosmos Transfer 2.5: ControlNet branches (copies of the first
  blocks) per control (edge, blur, depth, segmentation), weights per control at inference.
  Ours (``controls``): per control, a zero-initialised copy of the U-Net's encoder feeding
  every ``control_every``-th skip, or on the DiT a copy of every ``control_every``-th
  block; controls dropped per sample in training, so any subset works; a style
  embedding (``styles``) and, for skins that draw object hues at random, the hue turn as
  an input of its own (``hue_input``), so a caller picks the palette, optionally laid
  over the seg control pixel by pixel (``hue_map``, after T2I-Adapter's colour map);
  ``first_frame_dropout`` teaches it to start a video without context. See docs/transfer.md.

Reward and continuation come from a small convolutional head reading the last two frames
and the action (DIAMOND trains a separate reward/termination model; ours is one head).
``time_shift`` > 1 moves training toward noisier timesteps, as SD3 and Cosmos do for high
resolutions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

BACKBONES = ("unet", "dit")
SOLVERS = ("euler", "heun")
PREDICTIONS = ("sample", "mean")


@dataclass
class FlowConfig:
    # what the denoiser sees
    context_frames: int = 4  # past frames the next one is predicted from (DIAMOND: 4)
    backbone: str = "unet"  # "unet" (CPU default) or "dit"
    # U-Net: channels per resolution level (one down-sampling between levels)
    channels: list[int] = field(default_factory=lambda: [32, 64, 64, 96])
    blocks: int = 1  # residual blocks per level
    cond_dims: int = 128  # width of the time / noise / step / action embedding
    # DiT: patch size, width, depth and heads (head size must split into 3 even parts)
    patch: int = 4
    width: int = 192
    depth: int = 6
    heads: int = 4
    # flow matching: x_τ = τ·x + (1 − τ)·ε, τ = 1 is data; the network predicts x
    time_mean: float = 0.0  # logit-normal timestep schedule: τ = sigmoid(N(mean, std))
    time_std: float = 1.0
    time_shift: float = 3.0  # > 1 favours noisier timesteps (SD3 / Cosmos resolution shift)
    train_context_noise: float = 0.3  # context frames noised by U(0, this) in training
    # shortcut forcing (Dreamer 4): the step size d is an input; d = 2^-k, k ≤ shortcut_levels
    shortcut_levels: int = 6  # finest step 1/64; 0 disables (plain flow matching)
    shortcut_fraction: float = 0.25  # share of samples trained on bootstrapped big steps
    action_dropout: float = 0.1  # share of samples without action (classifier-free guidance)
    targets_per_window: int = 4  # frames predicted per training window
    # reward / continue heads
    head_dims: int = 256
    reward_bins: int = 255
    reward_scale: float = 1.0
    continue_scale: float = 1.0
    # optimiser
    lr: float = 3e-4
    adam_eps: float = 1e-8
    weight_decay: float = 1e-2
    grad_clip: float = 1.0
    ema_decay: float = 0.999  # 0 imagines with the trained weights
    # sampling (callers change these through WorldModel.sampling)
    sampling_steps: int = 2
    solver: str = "euler"
    # "sample": a draw in sampling_steps steps (sharp); "mean": the expected frame, one
    # prediction from noise at the finest step (least squared error, blurred where unsure)
    prediction: str = "sample"
    guidance: float = 1.0  # classifier-free guidance on the action; 1 = conditional only
    context_noise: float = 0.1  # noise the context is held at while sampling (Oasis)
    # control transfer (Cosmos Transfer): ControlNet branches and a style input
    controls: list[str] = field(default_factory=list)  # of edge, blur, seg, depth (controls.py)
    control_every: int = 1  # a branch feeds every k-th down block of the U-Net / DiT block
    control_dropout: float = 0.25  # share of samples each control is left out of in training
    seg_classes: int = 8  # segmentation classes read one-hot (higher ids share the last)
    styles: int = 0  # style embeddings (a built-in world's skins); 0 = no style input
    style_dropout: float = 0.1  # share of samples trained without their style
    hue_input: bool = False  # read the data's per-step object hue turn (array ``hue``)
    hue_dropout: float = 0.1  # share of samples trained without their hue
    # The hue also reaches the seg branch pixel by pixel: each class's one-hot channel times
    # the hue's Fourier features, a palette map (as T2I-Adapter's colour control). A colour
    # is then a near-linear function of what the branch reads where the object is.
    hue_map: bool = False
    first_frame_dropout: float = 0.0  # share trained with no context, so a video can start
    # text prompts (Cosmos Text2World): a caption embedding per frame (batch["text"])
    text_dims: int = 0  # width of the caption embedding; 0 = no text input
    text_encoder: str = "hash"  # which encoder made it (worldlab.models.text_encoder)
    text_dropout: float = 0.1  # share of samples trained without their text (guidance)
    prompt_guidance: float = 1.0  # classifier-free guidance on the text; 1 = conditional only
    hue_guidance: float = 1.0  # classifier-free guidance on the hue (hue_input); 1 = conditional


PRESETS: dict[str, dict] = {
    "tiny": dict(
        channels=[8, 16],
        cond_dims=32,
        head_dims=32,
        width=32,
        depth=1,
        heads=2,
        patch=4,
        shortcut_levels=3,
        targets_per_window=2,
    ),
    "demo": dict(channels=[32, 64, 64, 96]),
    "xs": dict(channels=[32, 64, 64, 96]),
    "s": dict(channels=[64, 64, 64, 64], blocks=2),  # DIAMOND's Atari denoiser
    "m": dict(channels=[64, 128, 128, 256], blocks=2, cond_dims=256, head_dims=512),
    "dit-s": dict(backbone="dit", width=192, depth=6, heads=4, patch=4),
    "dit-m": dict(backbone="dit", width=384, depth=12, heads=6, patch=4, cond_dims=256),
}
DEFAULT_PRESET = "xs"
