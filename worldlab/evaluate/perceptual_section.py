"""The perceptual section of an evaluation: FVD, FID and LPIPS of imagined clips against
the real ones (from weight files the user supplies) and the always-available FD/KID in a
small encoder's features (``perceptual.perceptual_metrics``).

The model observes ``context`` real frames of each window and imagines ``CLIP_LENGTH``
(16) frames under the recorded actions, FVD's clip length, whatever the evaluation's
horizon. It is computed by default only when a detector's weights are given
(``WORLDLAB_I3D``, ``WORLDLAB_INCEPTION``, ``WORLDLAB_LPIPS``); ``worldlab evaluate
--section perceptual`` computes it anyway (the encoder FD/KID then, the rest skipped with
what to supply). The encoder is cached under ``$WORLDLAB_CACHE`` (default
``~/.cache/worldlab``).
"""

from __future__ import annotations

import html
import os
from pathlib import Path
from typing import Any

import numpy as np

from worldlab.data.dataset import EpisodeDataset
from worldlab.evaluate.open_loop import imagine_windows, sample_windows
from worldlab.evaluate.perceptual import CLIP_LENGTH, DETECTORS, perceptual_metrics
from worldlab.evaluate.sections import EvalOptions, Section, cell
from worldlab.models.base import WorldModel

METRICS = ("fvd", "fid", "lpips", "encoder_fd", "encoder_kid")


def cache_dir() -> Path:
    return Path(os.environ.get("WORLDLAB_CACHE", Path.home() / ".cache" / "worldlab")) / "encoders"


def _weights_given() -> bool:
    return any(os.environ.get(detector.env_var) for detector in DETECTORS.values())


def _clips(model: WorldModel, dataset: EpisodeDataset, options: EvalOptions):
    """Real and imagined clips ``[N, CLIP_LENGTH, H, W, 3] uint8`` of the same windows."""
    window = options.context + CLIP_LENGTH
    pairs = sample_windows(dataset, options.episodes, window, options.starts, options.seed)
    real, fake = [], []
    windows = imagine_windows(
        model, dataset, pairs, options.context, CLIP_LENGTH, options.seed,
        progress=options.progress, label="perceptual eval",
    )  # fmt: skip
    for arrays, _, frames, _ in windows:
        real.append(arrays["obs"][:, options.context :])
        fake.append(frames.cpu().numpy())
    return np.concatenate(real), np.concatenate(fake)


def encoder_key(dataset: EpisodeDataset) -> str:
    """The offline encoder's cache key for ``dataset``: its path and its episode files'
    names, sizes and modification times, so a dataset collected again at the same path
    gets an encoder of its own, while a resumed collection keeps its encoder until new
    episodes arrive."""
    import hashlib

    digest = hashlib.sha256(str(dataset.root.resolve()).encode())
    for path in sorted(dataset.paths):
        stat = path.stat()
        digest.update(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns};".encode())
    return digest.hexdigest()


def _compute(model: WorldModel, dataset: EpisodeDataset, options: EvalOptions) -> dict[str, Any]:
    real, fake = _clips(model, dataset, options)
    return perceptual_metrics(
        real, fake, CLIP_LENGTH, encoder_dir=cache_dir(), encoder_key=encoder_key(dataset)
    )


def _describe(entry: dict[str, Any]) -> str:
    if "skipped" in entry:
        return f"skipped: {entry['skipped']}"
    text = f"{entry['value']:.4g}"
    if entry.get("std") is not None:
        text += f" ± {entry['std']:.2g}"
    if entry.get("sha256"):
        text += f" (weights sha256 {entry['sha256'][:12]}…)"
    return text


def _lines(section: dict[str, Any]) -> list[str]:
    protocol = section["protocol"]
    lines = [
        f"perceptual over {protocol['num_sequences']} imagined clips of "
        f"{protocol['frames_per_sequence']} frames (lower is better):"
    ]
    for key in METRICS:
        if key in section:
            label = section[key].get("label", key.upper())
            lines.append(f"  {label}: {_describe(section[key])}")
    return lines


def _html(section: dict[str, Any]) -> str:
    rows = []
    for key in METRICS:
        entry = section.get(key)
        if entry is None:
            continue
        label = html.escape(entry.get("label", key.upper()))
        if "skipped" in entry:
            rows.append(
                f'<tr><td class="name">{label}</td><td>{html.escape(entry["skipped"])}</td></tr>'
            )
        else:
            rows.append(f'<tr><td class="name">{label}</td>{cell(entry["value"], None, 4)}</tr>')
    protocol = html.escape(str(section["protocol"]))
    return (
        "<h2>Perceptual</h2><p>Imagined clips against the real ones of the same windows; "
        "lower is better. The worldlab-encoder numbers are not comparable with published "
        f"FID/FVD. Protocol: {protocol}</p>"
        f"<table><tr><th>metric</th><th>value</th></tr>{''.join(rows)}</table>"
    )


SECTION = Section(
    key="perceptual",
    title="Perceptual",
    applies=lambda dataset: _weights_given(),
    compute=_compute,
    lines=_lines,
    html=_html,
)
