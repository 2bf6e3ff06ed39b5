"""The web app of ``worldlab play``: one page, one WebSocket per browser tab.

Protocol (JSON text messages). The server sends ``hello`` on connect, then
``frame`` after every step, ``status`` when play is paused or resumed, and
``error`` with a message for the page whenever a message cannot be served.

Client → server:

- ``{"type": "start", "source": "dataset", "episode": 0, "step": 10}``
- ``{"type": "start", "source": "image", "image": "<base64 PNG/JPEG or data: URL>"}``
- ``{"type": "start", "source": "text", "prompt": "a red ball", "image": "<optional>"}`` —
  only for a model that takes text (``hello``'s ``text_dims`` > 0): the first frame is
  generated from the prompt, or is the image when one is given; every step follows the text.
- ``{"type": "action", "action": 2, "seq": 7}`` — queue an action (index, or a list of
  floats for continuous models); the next steps use it, and it stays held.
- ``{"type": "step", "action": 2, "seq": 8}`` — step once now (``action`` optional).
- ``{"type": "play", "fps": 15}``, ``{"type": "pause"}``, ``{"type": "reset"}``
- ``{"type": "control", "name": "imagine_latents", "value": "mode"}``

``frame`` carries ``frame`` and ``real`` (PNG data URLs; ``real`` is null when the
world cannot be simulated), ``t``, ``reward``, ``continue``, ``real_done``, ``prompt``
(the text play started from, or null) and ``ack``: the ``seq`` of the last action
message the step used, so the page can time keypress → frame.
``GET /recording/SESSION.mp4`` downloads the session so far.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import collections
import contextlib
import importlib.resources
import io
import json
import logging
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI, HTTPException, WebSocket, WebSocketDisconnect
from fastapi.responses import FileResponse, HTMLResponse
from PIL import Image
from starlette.background import BackgroundTask

from worldlab.errors import WorldlabError
from worldlab.play import model_thread
from worldlab.play.keymaps import keymap_for
from worldlab.play.session import (
    MAX_PROMPT_CHARS,
    MAX_UPLOAD_BYTES,
    PlayError,
    PlaySession,
    check_action,
    sampling_controls,
)

MAX_MESSAGE_CHARS = 4 * MAX_UPLOAD_BYTES // 3 + 64 * 1024  # a 2 MB image in base64, plus room
MAX_FPS = 60
QUEUED_ACTIONS = 8
logger = logging.getLogger(__name__)

# type → (required keys, optional keys)
MESSAGES: dict[str, tuple[set[str], set[str]]] = {
    "start": ({"source"}, {"episode", "step", "image", "prompt"}),
    "action": ({"action"}, {"seq"}),
    "step": (set(), {"action", "seq"}),
    "play": (set(), {"fps"}),
    "pause": (set(), set()),
    "reset": (set(), set()),
    "control": ({"name", "value"}, set()),
}


def png_data_url(frame: np.ndarray | None) -> str | None:
    """``[H, W, C] uint8`` → ``data:image/png;base64,...`` (``None`` stays ``None``)."""
    if frame is None:
        return None
    image = Image.fromarray(frame[..., 0] if frame.shape[-1] == 1 else frame)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def parse_message(text: str) -> dict[str, Any]:
    """Decode and validate one client message; raise ``PlayError`` with what is wrong."""
    if len(text) > MAX_MESSAGE_CHARS:
        raise PlayError(
            f"message of {len(text) / 1e6:.1f} MB is too large; images may be at most "
            f"{MAX_UPLOAD_BYTES // 2**20} MB"
        )
    try:
        message = json.loads(text)
    except json.JSONDecodeError as error:
        raise PlayError(f"message is not valid JSON ({error})") from None
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise PlayError('a message must be a JSON object with a "type", e.g. {"type": "pause"}')
    kind = message["type"]
    if kind not in MESSAGES:
        raise PlayError(f"unknown message type '{kind}'; known: {', '.join(MESSAGES)}")
    required, optional = MESSAGES[kind]
    keys = set(message) - {"type"}
    if unknown := keys - required - optional:
        raise PlayError(f"unknown key(s) {sorted(unknown)} in a '{kind}' message")
    if missing := required - keys:
        raise PlayError(f"a '{kind}' message needs key(s) {sorted(missing)}")
    for key in ("episode", "step", "seq"):
        value = message.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise PlayError(f"'{key}' must be a non-negative integer, got {value!r}")
    fps = message.get("fps", 1)
    if isinstance(fps, bool) or not isinstance(fps, int | float) or not 0 < fps <= MAX_FPS:
        raise PlayError(f"'fps' must be a number in (0, {MAX_FPS}], got {fps!r}")
    return message


def decode_upload(value: Any) -> bytes:
    """A base64 string (optionally a ``data:`` URL) → bytes."""
    if not isinstance(value, str):
        raise PlayError("'image' must be a base64 string of a PNG or JPEG file")
    if value.startswith("data:"):
        value = value.partition(",")[2]
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise PlayError("'image' is not valid base64") from None


def describe(error: Exception) -> str:
    """A message for the page: a user's mistake as is, anything else named as a server fault."""
    if isinstance(error, WorldlabError):
        return str(error)
    logger.exception("worldlab play: unexpected error", exc_info=error)
    return f"server error ({type(error).__name__}: {error}); see the server's log"


class Player:
    """One WebSocket's session: the ``PlaySession`` plus play/pause and queued actions."""

    def __init__(self, session: PlaySession, send, fps: float):
        self.id = uuid.uuid4().hex
        self.session = session
        self.send = send
        self.fps = fps
        self.running = False
        self.queue: collections.deque = collections.deque(maxlen=QUEUED_ACTIONS)
        self.held: Any = session._zero_actions(1)[0].tolist()
        self.ack: int | None = None
        self.step_lock = asyncio.Lock()
        self.wake = asyncio.Event()
        self.nudge = asyncio.Event()

    async def frame(self, snapshot: dict[str, Any]) -> None:
        frame, real = await model_thread.run(
            lambda: (png_data_url(snapshot["frame"]), png_data_url(snapshot["real"]))
        )
        message = {k: v for k, v in snapshot.items() if k not in ("frame", "real")}
        await self.send({"type": "frame", **message, "frame": frame, "real": real,
                         "ack": self.ack, "running": self.running})  # fmt: skip

    async def step(self, action: Any = None, seq: int | None = None) -> None:
        async with self.step_lock:
            if action is not None:
                self.held, self.ack = action, seq if seq is not None else self.ack
            elif self.queue:
                self.held, self.ack = self.queue.popleft()
            snapshot = await model_thread.run(self.session.step, self.held)
            await self.frame(snapshot)

    async def tick(self) -> None:
        """Step at ``fps`` while running; wait while paused or not started."""
        loop = asyncio.get_running_loop()
        while True:
            await self.wake.wait()
            began = loop.time()
            try:
                await self.step()
            except Exception as error:  # noqa: BLE001 — report it, stop playing, keep the socket
                self.set_running(False)
                await self.send({"type": "error", "message": describe(error)})
                await self.send({"type": "status", "running": False, "fps": self.fps})
            # A new action cuts the wait short, so a keypress shows without waiting a tick.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self.nudge.wait(), max(0.0, 1 / self.fps - (loop.time() - began))
                )
            self.nudge.clear()

    def set_running(self, running: bool) -> None:
        self.running = running and self.session.started
        self.wake.set() if self.running else self.wake.clear()

    async def handle(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        session = self.session
        if kind == "start":
            if message["source"] == "dataset":
                episode, step = message.get("episode", 0), message.get("step", 0)
                snapshot = await self._locked(session.start_from_dataset, episode, step)
            elif message["source"] == "image":
                data = decode_upload(message.get("image"))
                snapshot = await self._locked(session.start_from_image, data)
            elif message["source"] == "text":
                if "prompt" not in message:
                    raise PlayError("a 'text' start needs a 'prompt': the text to start from")
                image = message.get("image")
                data = None if image is None else decode_upload(image)
                snapshot = await self._locked(session.start_from_text, message["prompt"], data)
            else:
                raise PlayError(
                    f"'source' must be 'dataset', 'image' or 'text', got {message['source']!r}"
                )
            self.queue.clear()
            self.held = session._zero_actions(1)[0].tolist()
            await self.frame(snapshot)
        elif kind == "action":
            action = check_action(message["action"], session.action_spec)
            self.queue.append((action, message.get("seq", self.ack)))
            self.nudge.set()
        elif kind == "step":
            action = message.get("action")
            if action is not None:
                action = check_action(action, session.action_spec)
            await self.step(action, message.get("seq"))
        elif kind == "reset":
            self.queue.clear()
            await self.frame(await self._locked(session.reset))
        elif kind == "control":
            session.set_control(message["name"], message["value"])
            await self.send({"type": "status", "running": self.running,
                             "controls": session.controls})  # fmt: skip
        else:  # play / pause
            if kind == "play":
                if not session.started:
                    raise PlayError("start from a dataset episode or an image before playing")
                self.fps = float(message.get("fps", self.fps))
            self.set_running(kind == "play")
            await self.send({"type": "status", "running": self.running, "fps": self.fps})

    async def _locked(self, function, *args):
        async with self.step_lock:
            return await model_thread.run(function, *args)


def create_app(
    model,
    run_dir: str | Path | None = None,
    context_frames: int = 5,
    fps: float = 15,
    autocast_dtype=None,
):
    """The FastAPI app that serves ``model`` (a loaded ``WorldModel``) to browsers."""
    PlaySession(
        model, context_frames, autocast_dtype
    ).close()  # fail now, not per tab, on a vector model
    app = FastAPI(title="worldlab play", docs_url=None, redoc_url=None)
    players: dict[str, Player] = {}
    app.state.players = players
    data_config = getattr(model, "run_config", {}).get("data", {})
    page = importlib.resources.files("worldlab.play").joinpath("static/index.html").read_text()

    def hello(player: Player) -> dict[str, Any]:
        dataset = player.session.dataset
        return {
            "type": "hello",
            "session": player.id,
            "run": str(run_dir) if run_dir is not None else None,
            "family": getattr(model, "family", type(model).__name__),
            "obs_shape": list(model.obs_shape),
            "action_spec": model.action_spec.to_dict(),
            "env_id": data_config.get("env_id"),
            # A latent code is not a world's button: latent models get number keys only.
            "keymap": keymap_for(
                None if model.latent_actions else data_config.get("env_id"), model.action_spec
            ),
            "real_world_note": player.session.twin_note,
            "sampling_controls": sampling_controls(model),
            "dataset": None if dataset is None else {"lengths": dataset.lengths},
            "context_frames": context_frames,
            "fps": player.fps,
            "max_upload_bytes": MAX_UPLOAD_BYTES,
            # 0: the model takes no text, so the page hides its prompt box.
            "text_dims": int(getattr(model, "text_dims", 0)),
            "max_prompt_chars": MAX_PROMPT_CHARS,
        }

    @app.get("/", response_class=HTMLResponse)
    async def index() -> str:
        return page

    @app.get("/recording/{session_id}.mp4")
    async def recording(session_id: str):
        player = players.get(session_id)
        if player is None:
            raise HTTPException(404, f"no open session '{session_id}'")
        folder = Path(tempfile.mkdtemp(prefix="worldlab-play-"))
        try:
            path = await player._locked(player.session.save_recording, folder / "play.mp4")
        except WorldlabError as error:
            shutil.rmtree(folder, ignore_errors=True)
            raise HTTPException(409, str(error)) from None
        return FileResponse(
            path,
            media_type="video/mp4",
            filename=f"worldlab-play-{session_id[:8]}.mp4",
            background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True),
        )

    @app.websocket("/ws")
    async def play(websocket: WebSocket) -> None:
        await websocket.accept()
        send_lock = asyncio.Lock()

        async def send(message: dict[str, Any]) -> None:
            async with send_lock:
                await websocket.send_text(json.dumps(message))

        player = Player(PlaySession(model, context_frames, autocast_dtype), send, fps)
        players[player.id] = player
        ticker = asyncio.create_task(player.tick())
        try:
            await send(hello(player))
            while True:
                received = await websocket.receive()
                if received["type"] == "websocket.disconnect":
                    break
                try:
                    if received.get("text") is None:
                        raise PlayError("send JSON text messages, not binary ones")
                    await player.handle(parse_message(received["text"]))
                except Exception as error:  # noqa: BLE001 — one bad request must not end the session
                    await send({"type": "error", "message": describe(error)})
        except WebSocketDisconnect:
            pass
        finally:
            ticker.cancel()
            players.pop(player.id, None)
            await model_thread.run(player.session.close)

    return app


def load_playable(run: str | Path):
    """``worldlab.load(run)``; a latent-action model with ``RUN/action_map.json`` then takes
    the world's real actions through that map (and plays beside the real world)."""
    import worldlab
    from worldlab.evaluate.action_map import with_real_actions

    return with_real_actions(worldlab.load(run), run, required=False)


def serve(
    run: str | Path,
    host: str = "127.0.0.1",
    port: int = 8000,
    threads: int = 2,
    precision: str = "fp32",
):
    """Load ``run`` and serve it until interrupted; inference in ``precision`` (``auto``:
    bf16 where the hardware runs it natively, as training does)."""
    import torch
    import uvicorn

    from worldlab.train.precision import resolve_precision

    model_thread.call(torch.set_num_threads, threads)
    model = model_thread.call(load_playable, run)
    resolved = resolve_precision(precision, model.device)
    print(f"inference in {resolved.name} ({resolved.reason})", flush=True)
    dtype = torch.bfloat16 if resolved.name == "bf16" else None
    app = model_thread.call(lambda: create_app(model, run, autocast_dtype=dtype))
    uvicorn.run(app, host=host, port=port, log_level="warning")
