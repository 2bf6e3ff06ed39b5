"""How good a transfer is: structure kept, style reached, steady over time.

- **Structure kept** (``edge_f1``): Canny edges of the output against the input's, as
  precision / recall / F1 with a 1-pixel tolerance (Cosmos Transfer scores its edge
  control the same way, by F1 between the input's and the output's Canny maps).
  Textured styles add edges the input never had, so the simulator's own render of the
  same episode in the target style is the reference a perfect transfer would score.
- **Style reached** (``style_distance``): Fréchet distance, in the offline worldlab
  encoder's features, between the output frames and real frames of the target style
  (not comparable with published FID).
- **Fidelity** (``psnr``): where the simulator re-renders the same episode in the target
  style (built-in worlds: same seed and actions, other skin), PSNR against it.
- **Segmentation kept** (``fit_segmenter``, ``segmentation_iou``): a small per-pixel
  classifier, trained on real frames of the target style with their ground-truth
  segmentation, reads the output back; its classes are compared with the input's
  segmentation as mean IoU. Read on held-out real frames it gives the ceiling.
- **Steady** (``flicker``): mean absolute change between consecutive output frames where
  the input did not change (0–255); a real video of a static scene scores 0.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from worldlab.evaluate.frame_encoder import encoder_features, train_frame_encoder
from worldlab.evaluate.frechet import frechet_from_features
from worldlab.models.controls import canny


def _edges(frames: np.ndarray) -> torch.Tensor:
    flat = torch.from_numpy(np.asarray(frames, np.uint8).reshape(-1, *frames.shape[-3:]))
    return canny(flat)


def _near(edges: torch.Tensor, tolerance: int) -> torch.Tensor:
    size = 2 * tolerance + 1
    return F.max_pool2d(edges[:, None].float(), size, 1, tolerance)[:, 0] > 0


def edge_f1(reference: np.ndarray, output: np.ndarray, tolerance: int = 1) -> dict[str, float]:
    """Precision, recall and F1 of the output's Canny edges against the reference's
    (frames ``[..., H, W, 3] uint8`` of equal shape); an edge pixel counts as matched
    within ``tolerance`` pixels."""
    want, got = _edges(reference), _edges(output)
    precision = float((got & _near(want, tolerance)).sum()) / max(int(got.sum()), 1)
    recall = float((want & _near(got, tolerance)).sum()) / max(int(want.sum()), 1)
    f1 = 2 * precision * recall / max(precision + recall, 1e-9)
    return {"precision": precision, "recall": recall, "f1": f1}


def flicker(source: np.ndarray, output: np.ndarray) -> float:
    """Mean absolute frame-to-frame change of ``output [B, T, H, W, C]`` over the pixels
    where ``source`` (same shape) stayed still, with a 1-pixel margin around motion."""
    source = np.asarray(source, np.int16)
    output = np.asarray(output, np.int16)
    moved = np.abs(np.diff(source, axis=1)).sum(-1) > 0  # [B, T-1, H, W]
    grown = F.max_pool2d(
        torch.from_numpy(moved.reshape(-1, *moved.shape[-2:])).float()[:, None], 3, 1, 1
    )
    still = (grown[:, 0] == 0).numpy().reshape(moved.shape)
    change = np.abs(np.diff(output, axis=1)).mean(-1)
    return float(change[still].mean()) if still.any() else 0.0


def psnr(reference: np.ndarray, output: np.ndarray) -> float:
    """PSNR in dB over all frames (uint8 scale)."""
    error = np.mean((np.asarray(reference, np.float64) - np.asarray(output, np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / max(error, 1e-10)))


def style_distance(real: np.ndarray, frames: dict[str, np.ndarray], seed: int = 0) -> dict:
    """Fréchet distance (worldlab encoder, trained on ``real``) from ``real`` frames of the
    target style to each entry of ``frames`` (name → ``[..., H, W, 3] uint8``)."""
    real = np.asarray(real, np.uint8).reshape(-1, *real.shape[-3:])
    encoder = train_frame_encoder(real, seed=seed)
    reference = encoder_features(encoder, real)
    # Raw features, not standardised by the real ones: a plain style (a flat backdrop)
    # leaves some features almost constant, and dividing by their spread blows up.
    scores = {}
    for name, fake in frames.items():
        fake = np.asarray(fake, np.uint8).reshape(-1, *fake.shape[-3:])
        scores[name] = frechet_from_features(reference, encoder_features(encoder, fake))
    return scores


def fit_segmenter(
    frames: np.ndarray, seg: np.ndarray, classes: int, steps: int = 400, seed: int = 0
) -> nn.Module:
    """A per-pixel classifier ``[N, H, W, 3] uint8 → [N, classes, H, W]`` logits, trained by
    cross-entropy on ``frames`` and their ``seg`` ids (a 9×9 receptive field: enough to
    tell a textured backdrop from an object)."""
    frames = torch.from_numpy(np.asarray(frames, np.uint8).reshape(-1, *frames.shape[-3:]))
    labels = torch.from_numpy(np.asarray(seg).reshape(-1, *seg.shape[-2:]).astype(np.int64))
    labels = labels.clamp(max=classes - 1)
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = nn.Sequential(
            nn.Conv2d(3, 32, 3, padding=1), nn.SiLU(),
            nn.Conv2d(32, 32, 3, padding=1), nn.SiLU(),
            nn.Conv2d(32, 32, 3, padding=2, dilation=2), nn.SiLU(),
            nn.Conv2d(32, classes, 1),
        )  # fmt: skip
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(steps):
        chosen = torch.randint(len(frames), (min(32, len(frames)),), generator=generator)
        logits = model(_unit(frames[chosen]))
        loss = F.cross_entropy(logits, labels[chosen])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return model.eval()


def _unit(frames: torch.Tensor) -> torch.Tensor:
    return frames.movedim(-1, 1).float() / 127.5 - 1


@torch.no_grad()
def segment(model: nn.Module, frames: np.ndarray) -> np.ndarray:
    """Class ids ``[..., H, W]`` of ``frames [..., H, W, 3] uint8``."""
    flat = torch.from_numpy(np.asarray(frames, np.uint8).reshape(-1, *frames.shape[-3:]))
    ids = torch.cat([model(_unit(flat[i : i + 256])).argmax(1) for i in range(0, len(flat), 256)])
    return ids.numpy().reshape(frames.shape[:-1])


def segmentation_iou(predicted: np.ndarray, truth: np.ndarray, classes: int) -> float:
    """Mean IoU over the classes present in ``truth`` (ids ≥ ``classes`` share the last)."""
    truth = np.minimum(np.asarray(truth, np.int64), classes - 1)
    scores = []
    for label in np.unique(truth):
        want, got = truth == label, predicted == label
        scores.append((want & got).sum() / max((want | got).sum(), 1))
    return float(np.mean(scores))
