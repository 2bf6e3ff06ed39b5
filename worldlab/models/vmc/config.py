"""Settings of the ``vmc`` family (Ha & Schmidhuber's World Models) and its size presets.

Paper settings (Ha & Schmidhuber, 2018, "Recurrent World Models Facilitate Policy
Evolution", and the authors' released code), which ``--preset paper`` / ``doom`` reproduce:

| setting | CarRacing (``paper``) | VizDoom: Take Cover (``doom``) |
|---|---|---|
| frames | 64×64×3 | 64×64×3 |
| V: conv VAE | 4 convs 4×4 stride 2, 32/64/128/256 channels, ReLU; 4 deconvs | same |
| z (``z_dims``) | 32 | 64 |
| V loss | summed squared error + KL, KL floored at 0.5 nat per dim | same |
| V optimiser | Adam 1e-4, batch 100 frames | same |
| M: LSTM units (``lstm_units``) | 256 | 512 |
| M: Gaussians per z dim (``mixtures``) | 5 | 5 |
| M predicts | z_{t+1} | z_{t+1} and done (loss weight 10 on done steps) |
| M optimiser | Adam 1e-3, gradients clipped to ±1, sequences of 1000 | same |
| sampling temperature τ | 1.0 | 1.15 (best transfer; the dream was trained at 1.25 in code) |
| C | linear on [z, h]: 867 parameters | linear on [z, h] (the code also feeds c) |

Deviations, all deliberate:

- V and M train **together**, in one ``loss``, with a stop-gradient between them (M reads
  detached VAE latents), so ``worldlab train vmc`` is one generic run; the paper trained V
  to completion first, then encoded the data and trained M.
- M also predicts **reward** and **continue** from its hidden state (the Doom model
  predicted only done), because ``DreamEnv``, planners and the CMA-ES controller need
  rewards inside the dream.
- The convs use padding 1, so any square frame whose side is a multiple of 16 works
  (bottleneck ``256 × (side/16)²``); the paper's valid padding gave ``256 × 2 × 2`` at 64.
- M trains on windows of ``train.seq_len`` (default 64) rather than whole 1000-step
  episodes; its LSTM starts each window from the zero state.

CPU presets: ``tiny`` for tests, ``demo`` for a laptop run; they keep every mechanism and
shrink widths. ``demo`` also raises V's learning rate to 3e-3 (at 1e-3 V still drew only
the background after 1,500 steps on ``reach``) and feeds M V's means instead of samples:
with little data the posterior noise (σ ≈ 0.7 per dim) swamps the small frame-to-frame
changes M must learn.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class VMCConfig:
    # V: the convolutional VAE
    z_dims: int = 32  # latent size (paper: z)
    vae_depth: int = 32  # channels of the first conv, doubled per conv: 32/64/128/256
    kl_tolerance: float = 0.5  # free nats per latent dim (the paper code's kl_tolerance)
    # M: the MDN-RNN
    lstm_units: int = 256
    mixtures: int = 5  # Gaussians per latent dim
    head_units: int = 256  # hidden width of the reward and continue heads (0: linear heads)
    mdn_inputs: str = "sample"  # "sample" (paper: z ~ q(z|x)) or "mean" (μ) as M's data
    temperature: float = 1.0  # τ when imagining; 0 takes the most likely component's mean
    # losses
    vae_scale: float = 1.0
    mdn_scale: float = 1.0
    reward_scale: float = 1.0
    continue_scale: float = 1.0
    reward_loss: str = "mse"  # "mse" or "symlog" (MSE between symlog values)
    terminal_weight: float = 1.0  # weight of terminal steps in the continue loss (Doom: 10)
    # optimiser: one Adam, two learning rates (paper: V 1e-4, M 1e-3)
    vae_lr: float = 1e-4
    mdn_lr: float = 1e-3
    mdn_grad_clip: float = 1.0  # clip each gradient value of M to ±this (paper); 0: off
    grad_clip: float | None = None  # global-norm clip over all parameters (the trainer's)


PRESETS: dict[str, dict] = {
    "tiny": dict(z_dims=8, vae_depth=8, lstm_units=32, head_units=32, vae_lr=1e-3),
    "demo": dict(
        z_dims=32, vae_depth=16, lstm_units=128, head_units=128, vae_lr=3e-3, mdn_inputs="mean"
    ),
    "paper": dict(z_dims=32, vae_depth=32, lstm_units=256, head_units=256),
    "doom": dict(
        z_dims=64,
        vae_depth=32,
        lstm_units=512,
        head_units=512,
        temperature=1.15,
        terminal_weight=10.0,
    ),
}
DEFAULT_PRESET = "paper"
