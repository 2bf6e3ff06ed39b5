"""One player's game: a world model driven step by step, its real twin, and a recording.

A ``PlaySession`` knows nothing of the web: start it from a dataset episode, from
an image or from a text prompt (models trained on captions), ``step(action)`` to get
the next imagined frame (and the real world's frame when it can be simulated),
``reset()`` to go back to the start, ``save_recording(path)`` to write what was
played as a video. It talks to the model only through the ``WorldModel`` interface
(observe, prompt, step, render, action_spec), so any family plays the same way.
"""

from __future__ import annotations

import contextlib
import io
import secrets
import threading
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from worldlab.errors import WorldlabError

MAX_UPLOAD_BYTES = 2 * 1024 * 1024
IMAGE_FORMATS = ("PNG", "JPEG")
MAX_RECORDED_FRAMES = 10_000  # ≈ 11 minutes at 15 frames/s; older frames are dropped
MAX_PROMPT_CHARS = 500

# One model is shared by every session: inference runs under this lock, with the
# session's sampling settings applied (``WorldModel.sampling``) for the call only.
MODEL_LOCK = threading.Lock()


class PlayError(WorldlabError):
    """A player's request that cannot be served; its message is shown on the page."""


def sampling_controls(model: torch.nn.Module) -> list[dict[str, Any]]:
    """The sampling options ``model`` declares, each with its current value."""
    settings = model.sampling_settings() if hasattr(model, "sampling_settings") else {}
    return [
        option.describe(settings[option.name]) for option in getattr(model, "sampling_options", ())
    ]


def check_control(name: str, value: Any, model: torch.nn.Module) -> Any:
    """Validate a sampling setting against the options ``model`` declares; the value to use."""
    options = {option.name: option for option in getattr(model, "sampling_options", ())}
    if name not in options:
        offered = ", ".join(options) or "none"
        raise PlayError(f"unknown sampling control '{name}'; this model offers: {offered}")
    try:
        return options[name].check(value)
    except WorldlabError as error:
        raise PlayError(str(error)) from None


def check_action(action: Any, spec) -> Any:
    """A player's action as the model takes it: ``int`` index or list of floats in [-1, 1]."""
    if spec.kind == "discrete":
        if isinstance(action, bool) or not isinstance(action, int):
            raise PlayError(f"action must be an integer index 0..{spec.n - 1}, got {action!r}")
        if not 0 <= action < spec.n:
            raise PlayError(f"action {action} is out of range: this model has 0..{spec.n - 1}")
        return action
    if spec.kind == "continuous":
        ok = isinstance(action, list) and len(action) == spec.dims
        if not ok or any(isinstance(a, bool) or not isinstance(a, int | float) for a in action):
            raise PlayError(f"action must be a list of {spec.dims} numbers, got {action!r}")
        if any(not -1.0 <= a <= 1.0 for a in action):
            raise PlayError(f"continuous actions must lie in [-1, 1], got {action}")
        return [float(a) for a in action]
    if action not in (0, None):
        raise PlayError("this model takes no actions; send action 0")
    return 0


def decode_image(data: bytes, shape: tuple[int, int, int]) -> np.ndarray:
    """PNG/JPEG bytes → ``[H, W, C] uint8`` resized to the model's frame ``shape``."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise PlayError(
            f"image is {len(data) / 1e6:.1f} MB; the limit is {MAX_UPLOAD_BYTES // 2**20} MB"
        )
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise PlayError(f"upload is not a readable PNG or JPEG image ({error})") from None
    if image.format not in IMAGE_FORMATS:
        raise PlayError(f"upload is a {image.format} image; use PNG or JPEG")
    height, width, channels = shape
    image = image.convert("L" if channels == 1 else "RGB")
    frame = np.asarray(image.resize((width, height), Image.Resampling.BILINEAR), dtype=np.uint8)
    return frame.reshape(height, width, channels)


def check_prompt(prompt: Any) -> str:
    """A player's text prompt, stripped: a non-empty string of at most ``MAX_PROMPT_CHARS``."""
    if not isinstance(prompt, str):
        raise PlayError(f"the prompt must be text, got {type(prompt).__name__} {prompt!r}")
    prompt = prompt.strip()
    if not prompt:
        raise PlayError("the prompt is empty: describe the world to start, e.g. 'a red ball'")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise PlayError(
            f"the prompt is {len(prompt)} characters long; the limit is {MAX_PROMPT_CHARS}: "
            "shorten it"
        )
    return prompt


def takes_text(model: torch.nn.Module) -> bool:
    """Whether ``model`` can start a world from a text prompt (``text_dims > 0``)."""
    return bool(getattr(model, "text_dims", 0))


def real_twin_note(model: torch.nn.Module) -> str | None:
    """Why ``model`` has no real-world twin, or ``None`` when it may have one."""
    if getattr(model, "latent_actions", False):
        return (
            "no real world beside this model: it acts with latent codes, not the world's "
            "actions; fit a map with `worldlab map-actions RUN --data LABELLED_DIR` to play "
            "with real actions and the real world beside"
        )
    if not getattr(model, "run_config", {}).get("data", {}).get("env_id"):
        return "no real world beside this model: its dataset names no world to simulate"
    return None


class PlaySession:
    """A world model played one step at a time, with its real twin and a recording.

    ``model``: a loaded ``WorldModel`` (``worldlab.load``), whose ``run_config`` names
    its dataset and world. ``context_frames``: real frames the model observes first.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        context_frames: int = 5,
        autocast_dtype: torch.dtype | None = None,
    ):
        """``autocast_dtype``: run the model under autocast to this dtype (bf16), or not."""
        shape = tuple(model.obs_shape)
        if len(shape) != 3:
            raise WorldlabError(
                f"play needs a model of pixel frames; this one models vectors of shape {shape}"
            )
        self.model = model
        self.autocast_dtype = autocast_dtype
        self.obs_shape: tuple[int, int, int] = shape  # type: ignore[assignment]
        self.action_spec = model.action_spec
        self.context_frames = context_frames
        self.data_config = dict(getattr(model, "run_config", {}).get("data", {}))
        self.controls = {c["name"]: c["value"] for c in sampling_controls(model)}
        self.twin_note = real_twin_note(model)
        self.takes_text = takes_text(model)
        self.env = None
        self.real_done = False
        self.started = False
        self.frames: list[np.ndarray] = []  # what was shown: model | real, side by side
        self._dataset = None
        self._start: dict[str, Any] = {}

    # -- starting --------------------------------------------------------------------
    @property
    def dataset(self):
        """The run's dataset, or ``None`` when it is gone (then only images can start play)."""
        if self._dataset is None:
            from worldlab.data import EpisodeDataset

            path = self.data_config.get("path")
            try:
                self._dataset = EpisodeDataset(path) if path else None
            except WorldlabError:
                self._dataset = None
        return self._dataset

    def start_from_dataset(self, episode: int, step: int) -> dict[str, Any]:
        """Observe the dataset's frames up to ``step`` of ``episode``; real twin in step."""
        dataset = self.dataset
        if dataset is None:
            raise PlayError(
                f"the run's dataset {self.data_config.get('path')!r} cannot be read; "
                "start from an uploaded image instead"
            )
        if not 0 <= episode < len(dataset):
            raise PlayError(f"episode {episode} does not exist: choose 0..{len(dataset) - 1}")
        arrays = dataset.episode(episode)
        length = len(arrays["obs"])
        if not 0 <= step < length:
            raise PlayError(f"episode {episode} has steps 0..{length - 1}; got step {step}")
        first = max(0, step - self.context_frames + 1)
        obs = arrays["obs"][first : step + 1]
        action = arrays["action"][first : step + 1] if "action" in arrays else None
        self._start = {"source": "dataset", "episode": episode, "step": step}
        self._begin(obs, action, is_first=first == 0)
        recorded = arrays["action"] if dataset.has_actions else None  # video: none to replay
        self._start_real(seed=episode, actions=recorded, step=step)
        if self.env is not None and self._real is not None:
            self._start["real_in_sync"] = bool(np.array_equal(self._real, arrays["obs"][step]))
        return self.snapshot()

    def start_from_image(self, data: bytes) -> dict[str, Any]:
        """Use an uploaded PNG/JPEG as every context frame; no real twin."""
        frame = decode_image(data, self.obs_shape)
        obs = np.repeat(frame[None], self.context_frames, axis=0)
        self._start = {"source": "image", "frame": frame}
        self._begin(obs, None, is_first=True)
        self._close_real()
        return self.snapshot()

    def start_from_text(self, prompt: str, image: bytes | None = None) -> dict[str, Any]:
        """Start a world from a text prompt: its first frame generated from the text alone
        (text2world), or an uploaded PNG/JPEG ``image`` as every context frame; every step
        stays conditioned on the text. No real twin. Each start samples a new world;
        ``reset`` returns to this one."""
        if not self.takes_text:
            family = getattr(self.model, "family", type(self.model).__name__)
            raise PlayError(
                f"this {family} model takes no text prompt (it was trained without captions): "
                "start from a dataset episode or an image, or play a flow model trained on "
                "embedded captions (model.text_dims > 0)"
            )
        prompt = check_prompt(prompt)
        frame = None if image is None else decode_image(image, self.obs_shape)
        from worldlab.evaluate.generate import encode_prompt

        try:
            embedding = encode_prompt(self.model, prompt)
        except (WorldlabError, ImportError) as error:
            raise PlayError(f"cannot encode the prompt: {error}") from None
        start = {"source": "text", "prompt": prompt, "text": embedding, "frame": frame}
        start["seed"] = secrets.randbits(31)  # a new world per start, the same one on reset
        self._begin_from_text(start)
        self._start = start
        self._close_real()
        return self.snapshot()

    def reset(self) -> dict[str, Any]:
        """Go back to the last start (same frames, same real-world seed, same prompt)."""
        if not self.started:
            raise PlayError("nothing to reset: start from a dataset episode or an image first")
        start = self._start
        if start["source"] == "dataset":
            return self.start_from_dataset(start["episode"], start["step"])
        if start["source"] == "text":
            self._begin_from_text(start)
            return self.snapshot()
        obs = np.repeat(start["frame"][None], self.context_frames, axis=0)
        self._begin(obs, None, is_first=True)
        return self.snapshot()

    def _begin(self, obs: np.ndarray, action: np.ndarray | None, is_first: bool) -> None:
        steps = len(obs)
        if action is None:
            action = self._zero_actions(steps)
        is_first_mask = torch.zeros(1, steps, dtype=torch.bool)
        is_first_mask[0, 0] = is_first
        obs_t = torch.from_numpy(np.ascontiguousarray(obs))[None]
        action_t = torch.from_numpy(np.ascontiguousarray(action))[None]
        with self._model_with_controls() as model:
            state = model.observe(obs_t, action_t, is_first_mask)
        self._started(state, np.ascontiguousarray(obs[-1]))

    def _begin_from_text(self, start: dict[str, Any]) -> None:
        """``model.prompt`` from ``start``'s text embedding (and frame), under its seed."""
        text = torch.from_numpy(start["text"])[None]
        frames = None
        if start["frame"] is not None:
            repeated = np.repeat(start["frame"][None, None], self.context_frames, axis=1)
            frames = torch.from_numpy(repeated)
        device = getattr(self.model, "device", torch.device("cpu"))
        with (
            self._model_with_controls() as model,
            torch.random.fork_rng(devices=[device.index or 0] if device.type == "cuda" else []),
        ):
            torch.manual_seed(start["seed"])
            try:
                state = model.prompt(text, frames)
            except WorldlabError as error:
                raise PlayError(str(error)) from None
            frame = model.render(state)[0].cpu().numpy()
        self._started(state, np.ascontiguousarray(frame))

    def _started(self, state: Any, frame: np.ndarray) -> None:
        """Play from ``state``, whose frame ``[H, W, C] uint8`` is shown first."""
        self.state = state
        self.frame = frame
        self.t = 0
        self.reward, self.cont = 0.0, 1.0
        self.started = True
        self.frames = []
        self._real = None
        self._record()

    def _zero_actions(self, steps: int) -> np.ndarray:
        if self.action_spec.kind == "continuous":
            return np.zeros((steps, self.action_spec.dims), np.float32)
        return np.zeros(steps, np.int64)

    # -- the real twin ---------------------------------------------------------------
    def _start_real(self, seed: int, actions: np.ndarray | None, step: int) -> None:
        """Best effort: episode k of a dataset collected with seed 0 was played with seed k."""
        self._close_real()
        env_id = self.data_config.get("env_id")
        if not env_id or self.twin_note:
            return
        try:
            from worldlab.worlds import make_env

            env = make_env(env_id, size=self.obs_shape[0], **self.data_config.get("env_kwargs", {}))
            frame, _ = env.reset(seed=seed)
            for t in range(1, step + 1):
                if actions is None:
                    break
                frame, _, terminated, truncated, _ = env.step(self._env_action(actions[t]))
                if terminated or truncated:
                    break
        except Exception:  # noqa: BLE001 — any world that fails to simulate just has no twin
            self._close_real()
            return
        self.env = env
        self._real = self._fit(np.asarray(frame, np.uint8))
        self.real_done = False
        self.frames = []
        self._record()

    def _fit(self, frame: np.ndarray) -> np.ndarray | None:
        return frame if frame.shape == self.obs_shape else None

    def _env_action(self, action: Any) -> Any:
        if self.action_spec.kind == "continuous":
            return np.asarray(action, np.float32).reshape(self.action_spec.dims)
        return int(np.asarray(action))

    def _close_real(self) -> None:
        if self.env is not None:
            self.env.close()
        self.env, self._real, self.real_done = None, None, False

    # -- playing ---------------------------------------------------------------------
    def set_control(self, name: str, value: Any) -> None:
        self.controls[name] = check_control(name, value, self.model)

    @contextlib.contextmanager
    def _model_with_controls(self):
        """Hold the shared model with this session's sampling settings; restored after."""
        precision = contextlib.nullcontext()
        if self.autocast_dtype is not None:
            device = next(self.model.parameters()).device.type
            precision = torch.autocast(device, dtype=self.autocast_dtype)
        with MODEL_LOCK, torch.no_grad(), precision, self.model.sampling(**self.controls) as model:
            yield model

    def step(self, action: Any) -> dict[str, Any]:
        """One imagined step under ``action`` (index or list of floats); the real twin too."""
        if not self.started:
            raise PlayError("start from a dataset episode or an image before stepping")
        action = check_action(action, self.action_spec)
        if self.action_spec.kind == "continuous":
            action_t = torch.tensor([action], dtype=torch.float32)
        else:
            action_t = torch.tensor([action], dtype=torch.int64)
        with self._model_with_controls() as model:
            self.state, reward, cont = model.step(self.state, action_t)
            frame = model.render(self.state)
        self.frame = frame[0].cpu().numpy()
        self.reward, self.cont = float(reward[0]), float(cont[0])
        self.t += 1
        if self.env is not None and not self.real_done:
            real, _, terminated, truncated, _ = self.env.step(self._env_action(action))
            self._real = self._fit(np.asarray(real, np.uint8))
            self.real_done = bool(terminated or truncated)
        self._record()
        return self.snapshot()

    def snapshot(self) -> dict[str, Any]:
        """The current frames and numbers: ``frame [H, W, C] uint8``, ``real`` or ``None``."""
        return {
            "frame": self.frame,
            "real": self._real if self.env is not None else None,
            "t": self.t,
            "reward": self.reward,
            "continue": self.cont,
            "real_done": self.real_done,
            "real_in_sync": self._start.get("real_in_sync"),
            "prompt": self._start.get("prompt"),
        }

    # -- recording -------------------------------------------------------------------
    def _record(self) -> None:
        frame = self.frame
        if self.env is not None and self._real is not None:
            frame = np.concatenate([frame, self._real], axis=1)
        if frame.shape[-1] == 1:
            frame = np.repeat(frame, 3, axis=-1)
        if self.frames and self.frames[0].shape != frame.shape:
            self.frames = []  # the twin appeared or vanished: restart the recording
        self.frames.append(frame)
        del self.frames[:-MAX_RECORDED_FRAMES]

    def save_recording(self, path: str | Path, fps: int = 15) -> Path:
        """Write the frames shown since the last start (model | real) as a video."""
        from worldlab.data import write_video

        if not self.frames:
            raise PlayError("nothing recorded yet: start playing first")
        return write_video(np.stack(self.frames), path, fps=fps)

    def close(self) -> None:
        self._close_real()
