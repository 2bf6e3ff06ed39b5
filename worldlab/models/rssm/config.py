"""Settings of the ``rssm`` family (DreamerV3's world model) and its size presets.

Paper settings (Hafner et al., 2023, "Mastering Diverse Domains through World
Models", tables of hyperparameters), which ``--preset`` reproduces:

| preset | GRU units (deter) | dense units (hidden) | MLP layers | CNN multiplier (cnn_depth) |
|---|---|---|---|---|
| xs | 256 | 256 | 1 | 24 |
| s  | 512 | 512 | 2 | 32 |
| m  | 1024 | 640 | 3 | 48 |
| l  | 2048 | 768 | 4 | 64 |
| xl | 4096 | 1024 | 5 | 96 |

Every size uses 32 categoricals of 32 classes with 1% unimix, KL balancing
(dynamics 0.5, representation 0.1) with 1 nat free bits, symlog two-hot reward
regression over 255 bins, Adam with learning rate 1e-4, epsilon 1e-8 and
global-norm gradient clipping at 1000, batch 16 × sequence 64.

CPU defaults: ``tiny`` (≈1M parameters) for tests and quick checks, and
``demo`` for the 5-minute laptop demo; both keep every mechanism above and
shrink only widths.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class RSSMConfig:
    # sizes
    deter: int = 256  # GRU state (paper: recurrent units)
    hidden: int = 256  # width of dense layers (paper: dense units)
    stoch: int = 32  # number of categorical latents
    classes: int = 32  # classes per latent
    gru_blocks: int = 1  # >1: block-diagonal recurrent weights (DreamerV3's later block GRU)
    cnn_depth: int = 24  # channels of the first conv stage, doubled per stage (CNN multiplier)
    min_resolution: int = 4  # convs halve the image down to this size
    head_layers: int = 1  # dense layers in the reward and continue heads (paper: MLP layers)
    unimix: float = 0.01  # mix 1% uniform into every categorical
    # loss
    dyn_scale: float = 0.5  # KL(sg(posterior) || prior): trains the prior
    rep_scale: float = 0.1  # KL(posterior || sg(prior)): regularises the posterior
    free_nats: float = 1.0  # free bits, applied to each KL after summing over latents
    image_scale: float = 1.0
    reward_scale: float = 1.0
    continue_scale: float = 1.0
    reward_bins: int = 255
    # Overshooting (not in DreamerV3): also train the reward and continue heads on states
    # imagined 1..overshoot steps ahead of each posterior state under the batch's actions,
    # weighted overshoot_scale on top of reward_scale / continue_scale. The heads otherwise
    # only see posterior states, while a planner reads them on imagined ones.
    overshoot: int = 0
    overshoot_scale: float = 1.0
    # optimiser
    lr: float = 1e-4
    adam_eps: float = 1e-8
    grad_clip: float = 1000.0
    # imagination: "sample" draws each latent; "mode" takes each category's most likely class
    imagine_latents: str = "sample"


PRESETS: dict[str, dict] = {
    "tiny": dict(deter=128, hidden=128, stoch=16, classes=16, cnn_depth=8, head_layers=1),
    "demo": dict(deter=256, hidden=256, stoch=32, classes=16, cnn_depth=16, head_layers=1),
    "xs": dict(deter=256, hidden=256, head_layers=1, cnn_depth=24),
    "s": dict(deter=512, hidden=512, head_layers=2, cnn_depth=32),
    "m": dict(deter=1024, hidden=640, head_layers=3, cnn_depth=48),
    "l": dict(deter=2048, hidden=768, head_layers=4, cnn_depth=64),
    "xl": dict(deter=4096, hidden=1024, head_layers=5, cnn_depth=96),
}
DEFAULT_PRESET = "xs"
