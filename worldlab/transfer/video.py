"""``transfer``: a video or some episodes in, the same motion in another style out.

Writes ``out`` (.mp4 / .gif) with three rows per episode: the input, its first control
map and the output; and ``out`` with ``.json``: the settings and the quality measures of
``worldlab.transfer.quality`` (with a ``reference`` dataset of the same episodes rendered
in the target style, also PSNR and style distance against the untransferred input).

A model with ``hue_input`` is told the objects' hue turn: ``hue`` where given, else the
reference's own per episode (so the output is scored against the palette it was asked
for), else the style's fixed turn; a style that draws hues at random with neither is
left to the model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

import worldlab
from worldlab.data import write_video
from worldlab.data.dataset import EpisodeDataset
from worldlab.data.episode import write_json
from worldlab.data.import_video import VideoReadError, read_video
from worldlab.errors import WorldlabError
from worldlab.models.base import WorldModel
from worldlab.models.controls import canny, control_input
from worldlab.transfer import quality
from worldlab.transfer.augment import trained_styles
from worldlab.transfer.clutter import placed_maps
from worldlab.transfer.render import ControlSpec, transfer_frames
from worldlab.worlds.skins import fixed_hue, skin_id


def load_input(
    source: str | Path, size: int, episodes: int = 4, frames: int | None = None
) -> dict[str, Any]:
    """Frames ``[B, T, H, W, 3]`` (and recorded maps, actions) from a dataset directory
    (its first ``episodes`` episodes, cut to a common length) or from a video file."""
    source = Path(source)
    if source.is_dir():
        dataset = EpisodeDataset(source)
        if len(dataset) == 0:
            raise WorldlabError(f"{source} has no readable episodes")
        chosen = [dataset.episode(i) for i in range(min(episodes, len(dataset)))]
        length = min(len(e["obs"]) for e in chosen)
        length = min(length, frames) if frames else length
        manifest = dataset.manifest
        out = {
            "frames": np.stack([e["obs"][:length] for e in chosen]),
            "kind": "dataset",
            "env_id": manifest.env_id,
            "seg_classes": list(manifest.seg_classes or []),
        }
        for name in ("seg", "depth"):
            if all(name in e for e in chosen):
                out.setdefault("maps", {})[name] = np.stack([e[name][:length] for e in chosen])
        if all(e["action"].size for e in chosen):
            out["actions"] = np.stack([e["action"][:length] for e in chosen])
        if all("hue" in e for e in chosen):
            out["hue"] = np.array([float(e["hue"][0]) for e in chosen], np.float32)
        return out
    if not source.exists():
        raise WorldlabError(f"{source} does not exist: give a video file or a dataset directory")
    try:
        decoded = [frame for frame, *_ in read_video(source, size)]
    except VideoReadError as error:
        raise WorldlabError(f"cannot read the video {source}: {error}") from None
    if not decoded:
        raise WorldlabError(f"the video {source} holds no frames")
    decoded = decoded[:frames] if frames else decoded
    return {"frames": np.stack(decoded)[None].astype(np.uint8), "kind": "video"}


def _control_row(frames: np.ndarray, spec: ControlSpec, maps: dict | None) -> np.ndarray:
    """The first control as a picture (edges white on black, seg / depth as grey)."""
    name = spec.controls[0]
    flat = frames.reshape(-1, *frames.shape[-3:])
    if name == "edge":
        picture = canny(torch.from_numpy(flat)).numpy().astype(np.uint8) * 255
    elif name == "blur":
        image = control_input("blur", torch.from_numpy(flat)).numpy()
        return ((image.transpose(0, 2, 3, 1) + 1) * 127.5).astype(np.uint8).reshape(frames.shape)
    else:
        recorded = (maps or {}).get(name)
        if recorded is None:
            return np.zeros_like(frames)
        values = recorded.reshape(-1, *recorded.shape[-2:]).astype(np.float32)
        picture = (values * (255.0 / max(values.max(), 1))).astype(np.uint8)
    return np.repeat(picture[..., None], 3, -1).reshape(frames.shape)


def transfer(
    run: str | Path,
    source: str | Path,
    out: str | Path,
    spec: ControlSpec,
    style: str,
    episodes: int = 4,
    frames: int | None = None,
    reference: str | Path | None = None,
    seed: int = 0,
    sampling: dict[str, Any] | None = None,
    model: WorldModel | None = None,
    hue: float | None = None,
    clutter: bool = True,
) -> dict[str, Any]:
    """Re-render ``source`` in ``style`` with the control-conditioned model in ``run``;
    ``hue``: the objects' hue turn in [0, 1) (models with ``hue_input``); ``clutter``:
    a style with distractors gets them in the seg control, where the reference's episodes
    have theirs, else laid out as the simulator would (``clutter.py``)."""
    model = model or worldlab.load(run)
    known = trained_styles(model, run)
    if style not in known:
        skin_id(style)  # unknown names get the registry's error
        raise WorldlabError(
            f"the model in {run} learned the styles {', '.join(known)}, not '{style}'"
        )
    loaded = load_input(source, model.obs_shape[0], episodes, frames)
    inputs = loaded["frames"]
    # The same episodes in the target style, read once: their hues and the measures.
    real = None
    if reference is not None:
        real = load_input(reference, inputs.shape[2], inputs.shape[0], inputs.shape[1])
    hues = _hues(model, style, hue, real, inputs)
    maps, placed = _maps(loaded, real, spec, style, seed, clutter)
    with model.sampling(**(sampling or {})):
        output = transfer_frames(
            model,
            inputs,
            spec,
            skin_id(style),
            maps=maps,
            actions=loaded.get("actions"),
            seed=seed,
            hue=hues,
        )
        settings = model.sampling_settings()
    rows = [inputs, _control_row(inputs, spec, maps), output]
    # One video: for each episode, input | control | output side by side.
    picture = np.concatenate([np.concatenate(list(row), axis=2) for row in rows], axis=1)
    path = write_video(picture, out)
    measures: dict[str, Any] = {
        "edge": quality.edge_f1(inputs, output),
        "flicker": quality.flicker(inputs, output),
        "flicker_input": quality.flicker(inputs, inputs),
    }
    if reference is not None:
        measures.update(_against_reference(reference, real, inputs, output, maps))
    record = {
        "run": str(run),
        "input": str(source),
        "style": style,
        "hue": None if hues is None else [round(float(h), 6) for h in hues],
        "clutter": placed,
        **spec.describe(),
        "sampling": settings,
        "seed": seed,
        "episodes": int(inputs.shape[0]),
        "frames": int(inputs.shape[1]),
        "measures": measures,
    }
    write_json(Path(path).with_suffix(".json"), record)
    return record


def _maps(loaded: dict, real: dict | None, spec: ControlSpec, style: str, seed: int, clutter: bool):
    """The input's recorded maps, with ``style``'s clutter placed in the seg where it can
    be: at the reference's layouts when it records them, else drawn from ``seed``. Returns
    the maps and whether clutter was placed."""
    maps = loaded.get("maps")
    if not clutter or "seg" not in spec.controls:
        return maps, False
    references = (real or {}).get("maps", {}).get("seg")
    return placed_maps(maps, style, loaded["env_id"], loaded["seg_classes"], seed, references)


def _hues(model, style, hue, real, inputs) -> np.ndarray | None:
    """The hue turn per episode the model is told (see the module's docstring)."""
    if hue is not None:
        if not getattr(model.config, "hue_input", False):
            raise WorldlabError(
                "this model was trained without a hue input: leave out --hue, or train it "
                "with --set model.hue_input=true"
            )
        if not 0.0 <= hue <= 1.0:
            raise WorldlabError(f"--hue is a turn of the colour wheel in [0, 1], got {hue}")
        return np.full(len(inputs), hue, np.float32)
    if not getattr(model.config, "hue_input", False):
        return None
    if real is not None and "hue" in real and len(real["hue"]) == len(inputs):
        return real["hue"]
    own = fixed_hue(style)
    return None if own is None else np.full(len(inputs), own, np.float32)


def _against_reference(reference, loaded, inputs, output, input_maps) -> dict[str, Any]:
    """The simulator's render of the same episodes in the target style: how close."""
    real = loaded["frames"]
    if real.shape != inputs.shape:
        raise WorldlabError(
            f"the reference {reference} holds {list(real.shape)} frames, the input "
            f"{list(inputs.shape)}: render the same episodes in the target style"
        )
    measures = {
        "psnr": quality.psnr(real, output),
        "psnr_input": quality.psnr(real, inputs),
        "edge_reference": quality.edge_f1(inputs, real),
        "style_fd": quality.style_distance(real, {"output": output, "input": inputs}),
    }
    truth = (input_maps or {}).get("seg")
    if truth is not None and "seg" in loaded.get("maps", {}):
        # A segmenter of the target style, trained on the reference's own frames (so its
        # score there is in-sample: the ceiling), reads the output back.
        classes = int(max(truth.max(), loaded["maps"]["seg"].max())) + 1
        segmenter = quality.fit_segmenter(real, loaded["maps"]["seg"], classes)
        measures["seg_iou"] = {
            name: quality.segmentation_iou(quality.segment(segmenter, frames), truth, classes)
            for name, frames in (("output", output), ("input", inputs), ("reference", real))
        }
    return measures
