"""Worlds started from a prompt: an image (image2world) or a video clip (video2world).

``prompt_frames`` turns the prompt into context frames at the model's size: an image
is centre-cropped, resized and held for ``context`` frames (as ``worldlab play`` does
with an uploaded image); a video is decoded and its last ``context`` frames are kept.
``generate`` lets the model observe them (with null actions: nothing led to them) and
imagine ``frames`` more under the chosen actions. ``write_generation`` writes the video
and, beside it, ``NAME.json`` with the prompt, actions, seed and sampling settings.

Every family takes these prompts through its ordinary ``observe``/``step``; text prompts
need a text-conditioned model, which no family offers yet.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

import worldlab
from worldlab.data import write_video
from worldlab.data.import_video import VideoReadError, read_video, square_frame
from worldlab.errors import WorldlabError
from worldlab.evaluate.imagine import _check_actions, dream
from worldlab.models import WorldModel
from worldlab.models.text_encoder import make_text_encoder


def prompt_frames(
    size: int, image: str | Path | None = None, video: str | Path | None = None, context: int = 4
) -> np.ndarray:
    """Context frames ``[K, size, size, 3] uint8`` from exactly one of ``image``/``video``."""
    if (image is None) == (video is None):
        raise WorldlabError("give exactly one prompt: --image FILE or --video FILE")
    if context < 1:
        raise WorldlabError(f"--context must be at least 1 frame, got {context}")
    if image is not None:
        try:
            with Image.open(image) as picture:
                frame = square_frame(picture.convert("RGB"), size)
        except (OSError, ValueError) as error:
            raise WorldlabError(f"cannot read the image prompt {image}: {error}") from None
        return np.repeat(frame[None], context, axis=0)
    try:
        frames = [frame for frame, *_ in read_video(Path(video), size)]
    except VideoReadError as error:
        raise WorldlabError(f"cannot read the video prompt {video}: {error}") from None
    if not frames:
        raise WorldlabError(f"the video prompt {video} holds no frames")
    return np.stack(frames[-context:]).astype(np.uint8)


@functools.lru_cache(maxsize=4)
def _text_encoder(name: str):
    """One encoder per name for the process: MiniLM takes seconds to load (play calls
    ``encode_prompt`` on every text start)."""
    return make_text_encoder(name)


def encode_prompt(model: WorldModel, text: str) -> np.ndarray:
    """The caption embedding ``[D]`` of ``text`` by the encoder the model was trained with."""
    if not model.text_dims:
        model.prompt(torch.zeros(1, 1))  # the family's own "takes no text" error
    name = getattr(model.config, "text_encoder", "auto")
    embedding = _text_encoder(name)([text])[0].float().numpy()
    if embedding.shape != (model.text_dims,):
        raise WorldlabError(
            f"the {name} encoder gives {embedding.shape[0]} dimensions, the model takes "
            f"{model.text_dims}: it was trained on captions embedded another way"
        )
    return embedding


def generate(
    model: WorldModel,
    context: np.ndarray | None,
    frames: int,
    actions: Any = "random",
    seed: int = 0,
    text: str | None = None,
) -> dict[str, np.ndarray]:
    """Observe ``context`` frames, then imagine ``frames`` more under ``actions``:
    ``"random"`` (seeded), ``"null"`` (the null action every step), or an array or
    ``.npy`` file of at least ``frames`` actions. Returns ``frames [K + frames, H, W, C]``
    (the context first), the ``actions`` taken and the predicted ``reward``.

    With a ``text`` prompt every step is conditioned on it; without ``context`` too
    (text2world) the world's first frame is generated from the text (``1 + frames``)."""
    if frames < 1:
        raise WorldlabError(f"--frames must be at least 1, got {frames}")
    if context is None and text is None:
        raise WorldlabError("give a prompt: text, an image or a video")
    embedding = None if text is None else encode_prompt(model, text)
    context = np.zeros((0, *model.obs_shape), np.uint8) if context is None else context
    context = np.asarray(context, np.uint8)
    if len(context) and tuple(context.shape[1:]) != tuple(model.obs_shape):
        raise WorldlabError(
            f"prompt frames are {list(context.shape[1:])}, the model takes {list(model.obs_shape)}"
        )
    if isinstance(actions, str) and actions == "random":
        generator = torch.Generator().manual_seed(seed)
        chosen = model.action_spec.random((frames,), generator=generator).numpy()
    elif isinstance(actions, str) and actions == "null":
        chosen = model.action_spec.null((frames,)).numpy()
    else:
        chosen = _check_actions(actions, model.action_spec, frames)
    first = np.arange(len(context)) == 0
    imagined, reward = dream(
        model,
        context,
        model.action_spec.null((len(context),)).numpy(),
        first,
        chosen,
        seed,
        embedding,
    )
    return {"frames": np.concatenate([context, imagined]), "actions": chosen, "reward": reward}


def write_generation(
    run: str | Path,
    out: str | Path,
    frames: int,
    image: str | Path | None = None,
    video: str | Path | None = None,
    context: int = 4,
    actions: Any = "random",
    seed: int = 0,
    sampling: dict[str, Any] | None = None,
    fps: int = 15,
    scale: int = 4,
    text: str | None = None,
) -> dict[str, Any]:
    """Generate from a prompt (``text``, and/or one ``image`` or ``video``) with the model
    in ``run`` and write ``out`` (.mp4/.gif) and ``out`` with ``.json``: what was
    generated from what. Returns that record."""
    model = worldlab.load(run)
    if text is not None and image is None and video is None:
        prompt = None
    else:
        prompt = prompt_frames(model.obs_shape[0], image, video, context)
    if model.obs_shape[-1] != 3:
        raise WorldlabError("prompts are RGB images or videos; this model is not RGB")
    with model.sampling(**(sampling or {})):
        result = generate(model, prompt, frames, actions, seed, text)
        settings = model.sampling_settings()
    out = write_video(result["frames"], out, fps=fps, scale=scale)
    record = {
        "run": str(run),
        "family": model.family,
        "prompt": {
            "type": _prompt_type(text, image, video),
            "text": text,
            "text_encoder": getattr(model.config, "text_encoder", None) if text else None,
            "file": None if prompt is None else str(image if image is not None else video),
            "context_frames": 0 if prompt is None else len(prompt),
        },
        "frames": frames,
        "actions": actions if isinstance(actions, str) else "given",
        "action_values": np.asarray(result["actions"]).tolist(),
        "seed": seed,
        "sampling": settings,
        "video": str(out),
        "worldlab_version": worldlab.__version__,
    }
    out.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n")
    return record


def _prompt_type(text, image, video) -> str:
    """text2world, image2world or video2world (with "+text" when both are given)."""
    frames = "image" if image is not None else "video" if video is not None else None
    if frames is None:
        return "text"
    return f"{frames}+text" if text is not None else frames
