"""Settings of the ``genie`` family (Genie, Bruce et al., 2024) and its presets.

Paper settings (Section 3 "Training Details", Appendix C and the CoinRun case study of
Appendix F). Layers are ``layers × width``; heads are ``width / head_dim`` (k/q size).

| part | Genie (Platformers, 10.7B in all) | CoinRun case study |
|---|---|---|
| data | 16-frame clips, 160×90, 10 FPS | 16 frames, 64×64 |
| tokenizer (ST-ViViT) | 200M: enc. 12×512, dec. 20×1024 | enc. 8×512, dec. 8×512 |
| tokenizer codebook | patch 4, 1024 codes of dim 32 | patch 4, 1024 codes of dim 32 |
| latent action model | 300M: 20×1024 enc. and dec., patch 16 | 8×512 enc. and dec. |
| latent actions | 8 codes of dim 32 | 6 codes of dim 32 |
| dynamics (MaskGIT) | 10.1B: 48×5120, 36 heads, k/q 128 | 12×512 |
| sampling | 25 MaskGIT steps, temperature 2 | 25 steps, temperature 1 |

Our presets (the same mechanisms, smaller):

| preset | frames | tokenizer enc./dec. | patch / codes | LAM | dynamics | head dim |
|---|---|---|---|---|---|---|
| ``m`` (the case study, 8 actions) | 16 | 8×512 / 8×512 | 4 / 1024 | 8×512 | 12×512 | 64 |
| ``s`` | 16 | 4×256 / 4×256 | 4 / 1024 | 4×256 | 6×256 | 64 |
| ``demo`` (64×64 on a CPU) | 8 | 2×128 / 3×128 | 8 / 512 | 2×128 | 4×128 | 32 |
| ``tiny`` (tests) | 4 | 1×32 / 1×32 | 8 / 64 | 1×32 | 1×32 | 16 |

Shared by every Genie model: ST-transformer blocks (spatial → causal temporal → FFW) in
all three components, additive latent-action embeddings, QK-norm, bf16 for the dynamics
(``--set train.precision=bf16``). Dynamics training masks tokens at a rate drawn from
U(0.5, 1); we default to MaskGIT's cosine schedule (``mask_schedule="uniform"`` is the
paper's) and mask exactly ⌈rate · tokens⌉ random tokens of a frame (at least one). AdamW
with β = (0.9, 0.9) and weight decay 1e-4: tokenizer lr 3e-4 (10k warm-up steps, 300k
steps), dynamics lr 3e-5 → 3e-6 cosine (5k warm-up, 125k steps at batch 512). Our trainer
has no learning-rate schedule: presets use constant rates, higher for the dynamics than
the paper's since these models are small and train for few steps.

Training runs in stages (``stage``): the tokenizer first, then the latent action model, then
the dynamics on frozen tokens and frozen latent actions (the paper co-trains the last two:
``stage="all"`` trains everything at once, with stop-gradients between the parts).
"""

from __future__ import annotations

from dataclasses import dataclass

STAGES = ("tokenizer", "lam", "dynamics", "all")
LAM_DECODER_OUTPUTS = ("frame", "change", "warp")


@dataclass
class GenieConfig:
    # what a run trains: tokenizer | lam | dynamics | all (``worldlab train genie --stage``)
    stage: str = "all"
    frames: int = 16  # frames per training window and the imagination context (paper: 16)
    head_dim: int = 64  # attention head width (paper: k/q size)
    mlp_ratio: int = 4
    # video tokenizer: a VQ-VAE over patches with ST-transformer encoder and decoder
    patch: int = 4
    tokenizer_width: int = 512
    tokenizer_encoder_layers: int = 8
    tokenizer_decoder_layers: int = 8
    codebook_size: int = 1024
    code_dim: int = 32
    # latent action model (LAM): a VQ-VAE whose code is the action between two frames
    lam_patch: int = 16
    lam_width: int = 512
    lam_layers: int = 8  # in the encoder and in the decoder
    num_latent_actions: int = 8  # paper: |A| = 8, small enough for a person to play
    lam_code_dim: int = 32
    # ours (see docs/genie.md): the decoder predicts x_{t+1} from x_t alone (paper: x_1..x_t)
    lam_decoder_sees_history: bool = False
    # frame: x_{t+1} itself (paper) | change: x_t + Δ | warp: x_t moved by a flow, + Δ
    lam_decoder_output: str = "warp"
    lam_continuous_share: float = 0.5  # training transitions decoded from the unquantised action
    # both codebooks
    commitment: float = 0.25  # VQ-VAE's beta
    dead_code_steps: int = 100  # restart a code no input picked for this many training steps
    # dynamics: MaskGIT over tokenizer tokens, conditioned on latent actions
    dynamics_width: int = 512
    dynamics_layers: int = 12
    mask_schedule: str = "cosine"  # cosine (MaskGIT) | uniform (paper: U(min_mask_rate, 1))
    min_mask_rate: float = 0.5
    # imagination
    maskgit_steps: int = 25  # parallel decoding steps per generated frame
    temperature: float = 1.0  # token sampling temperature; 0 takes the most likely token
    feature_grid: int = 4  # features(): code vectors of the latest frame pooled to grid × grid
    # optimiser: AdamW
    lr: float = 3e-4  # tokenizer and latent action model
    dynamics_lr: float = 3e-4
    beta2: float = 0.9
    weight_decay: float = 1e-4
    grad_clip: float = 1.0


PRESETS: dict[str, dict] = {
    "tiny": dict(
        frames=4,
        head_dim=16,
        patch=8,
        tokenizer_width=32,
        tokenizer_encoder_layers=1,
        tokenizer_decoder_layers=1,
        codebook_size=64,
        code_dim=16,
        lam_width=32,
        lam_layers=1,
        lam_code_dim=16,
        dynamics_width=32,
        dynamics_layers=1,
        dead_code_steps=20,
        maskgit_steps=4,
        lr=1e-3,
        dynamics_lr=1e-3,
    ),
    "demo": dict(
        frames=8,
        head_dim=32,
        patch=8,
        tokenizer_width=128,
        tokenizer_encoder_layers=2,
        tokenizer_decoder_layers=3,
        codebook_size=512,
        lam_width=128,
        lam_layers=2,
        dynamics_width=128,
        dynamics_layers=4,
        dead_code_steps=10,
        dynamics_lr=5e-4,
    ),
    "s": dict(
        tokenizer_width=256,
        tokenizer_encoder_layers=4,
        tokenizer_decoder_layers=4,
        lam_width=256,
        lam_layers=4,
        dynamics_width=256,
        dynamics_layers=6,
    ),
    # Genie's reproducible CoinRun case study (Appendix F), at 8 latent actions.
    "m": dict(),
}
DEFAULT_PRESET = "demo"
