"""Re-render frames under control maps in another style: the core of control transfer.

A control-conditioned ``flow`` model (``model.controls``, ``model.styles``) generates each
output frame from its control maps (computed from the input frame, or the input's
recorded segmentation and depth), the target style, the action that led to it, and the
output frames already made: frame 0 from no context, frame t from frames t − K … t − 1 of
the output, so the video stays consistent with itself (Cosmos Transfer generates a clip
at once; a frame-autoregressive model does it this way).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from worldlab.errors import WorldlabError
from worldlab.models.base import WorldModel
from worldlab.models.controls import COMPUTED, check_controls, control_input


@dataclass
class ControlSpec:
    """Which controls steer the output and how strongly.

    ``weights``: one number per control (Cosmos Transfer's control weights; they need not
    sum to 1). ``spatial``: optional weight maps per control, ``[H, W]`` or ``[T, H, W]``
    floats, multiplied into that control's weight where given (Cosmos' spatiotemporal
    control maps: strong structure in one region, free elsewhere).
    """

    controls: list[str]
    weights: list[float] | None = None
    spatial: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_controls(self.controls)
        if not self.controls:
            raise WorldlabError("name at least one control (--controls edge,seg)")
        if self.weights is None:
            self.weights = [1.0] * len(self.controls)
        if len(self.weights) != len(self.controls):
            raise WorldlabError(
                f"{len(self.controls)} controls ({','.join(self.controls)}) need as many "
                f"weights, got {len(self.weights)}"
            )
        unknown = sorted(set(self.spatial) - set(self.controls))
        if unknown:
            raise WorldlabError(f"weight maps for controls not in use: {', '.join(unknown)}")

    def describe(self) -> dict:
        return {
            "controls": list(self.controls),
            "weights": [float(w) for w in self.weights],
            "spatial": sorted(self.spatial),
        }


def check_model(model: WorldModel, spec: ControlSpec) -> None:
    """A clear error unless ``model`` has a branch for every control of ``spec``."""
    have = list(getattr(model.config, "controls", []) or [])
    if not have:
        raise WorldlabError(
            f"the {model.family} model was not trained with control branches: train a flow "
            "model with --set model.controls=edge,seg (and model.styles, "
            "model.first_frame_dropout); see docs/transfer.md"
        )
    missing = [name for name in spec.controls if name not in have]
    if missing:
        raise WorldlabError(
            f"this model has branches for {', '.join(have)}, not for {', '.join(missing)}"
        )
    if getattr(model.config, "first_frame_dropout", 0) <= 0:
        raise WorldlabError(
            "this model never learned to start a video without context "
            "(model.first_frame_dropout = 0), so it cannot re-render one: retrain with "
            "--set model.first_frame_dropout=0.1"
        )


def _weight(spec: ControlSpec, index: int, step: int, batch: int, device) -> torch.Tensor:
    name, weight = spec.controls[index], float(spec.weights[index])
    if name not in spec.spatial:
        return torch.full((batch,), weight, device=device)
    maps = np.asarray(spec.spatial[name], np.float32)
    frame = maps[min(step, len(maps) - 1)] if maps.ndim == 3 else maps
    return torch.from_numpy(frame * weight).to(device)[None, None].expand(batch, 1, -1, -1)


@torch.no_grad()
def transfer_frames(
    model: WorldModel,
    frames: np.ndarray,
    spec: ControlSpec,
    style: int | None,
    maps: dict[str, np.ndarray] | None = None,
    actions: np.ndarray | None = None,
    seed: int = 0,
    hue: float | np.ndarray | None = None,
) -> np.ndarray:
    """Re-render ``frames [B, T, H, W, C] uint8`` in ``style`` under ``spec``'s controls.

    ``maps``: recorded ``seg`` / ``depth`` ``[B, T, H, W]`` for those controls.
    ``actions``: ``[B, T, ...]`` in the episode layout (``actions[:, t]`` led to frame
    t), or ``None`` to generate without actions. ``hue``: the objects' hue turn, one for
    all or one per episode ``[B]`` (models with ``hue_input``; ``None``: the model picks).
    Returns ``[B, T, H, W, C] uint8``.
    """
    check_model(model, spec)
    frames = np.asarray(frames, np.uint8)
    if frames.ndim != 5 or tuple(frames.shape[2:]) != tuple(model.obs_shape):
        raise WorldlabError(
            f"frames to transfer must be [B, T, {', '.join(map(str, model.obs_shape))}] uint8 "
            f"(the model's frame size), got {list(frames.shape)}"
        )
    batch, steps = frames.shape[:2]
    device = model.device
    styles = None if style is None else torch.full((batch,), int(style), device=device)
    hues = None
    if hue is not None:
        given = np.asarray(hue, np.float32).reshape(-1)
        if len(given) not in (1, batch):
            raise WorldlabError(f"give one hue or one per episode ({batch}), got {len(given)}")
        hues = torch.from_numpy(np.resize(given, batch))
    seg_classes, context = model.config.seg_classes, model.config.context_frames
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        output: list[torch.Tensor] = []
        for t in range(steps):
            controls = {}
            for index, name in enumerate(spec.controls):
                source = torch.from_numpy(frames[:, t]).to(device)
                recorded = None
                if name not in COMPUTED and maps is not None and name in maps:
                    recorded = torch.from_numpy(np.asarray(maps[name][:, t])).to(device)
                control = control_input(name, source, recorded, seg_classes)
                controls[name] = (control, _weight(spec, index, t, batch, device))
            action = None if actions is None else torch.from_numpy(np.asarray(actions[:, t]))
            past = torch.stack(output[-context:], 1) if output else None
            output.append(
                model.generate_frame(
                    past, action, style=styles, controls=controls, batch_size=batch, hue=hues
                )
            )
    finally:
        torch.random.set_rng_state(generator_state)
    return torch.stack(output, 1).cpu().numpy()
