"""Starting a world from a text prompt: a flow model trained on caption embeddings."""

import base64
import io

import numpy as np
import pytest
from PIL import Image

from worldlab.play import PlayError, PlaySession
from worldlab.play.session import MAX_PROMPT_CHARS

pytest.importorskip("fastapi", reason="the server needs the `play` extra (fastapi)")
from fastapi.testclient import TestClient  # noqa: E402

from worldlab.play.server import create_app  # noqa: E402

PROMPT = "a red ball bouncing"


def png_bytes(color=(0, 200, 0)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (24, 24), color).save(buffer, format="PNG")
    return buffer.getvalue()


def decoded(data_url: str) -> np.ndarray:
    """A frame message's PNG data URL → ``[H, W, C] uint8``."""
    data = base64.b64decode(data_url.partition(",")[2])
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def receive(ws, kind):
    message = ws.receive_json()
    assert message["type"] == kind, message
    return message


def test_start_from_text_steps_under_the_prompt_and_resets_to_the_same_world(text_model):
    session = PlaySession(text_model, context_frames=2)
    first = session.start_from_text(f"  {PROMPT} ")
    assert first["frame"].shape == (16, 16, 3) and first["frame"].dtype == np.uint8
    assert first["real"] is None and first["t"] == 0
    assert first["prompt"] == PROMPT
    assert session.state.text.shape == (1, 256)
    for action in (0, 1, 2):
        snapshot = session.step(action)
        assert snapshot["frame"].shape == (16, 16, 3) and snapshot["frame"].dtype == np.uint8
    assert snapshot["t"] == 3 and snapshot["prompt"] == PROMPT
    assert session.state.text is not None  # every step stays conditioned on the text
    again = session.reset()
    assert again["t"] == 0 and again["prompt"] == PROMPT
    assert np.array_equal(again["frame"], first["frame"])  # the same world, not a new sample
    assert len(session.frames) == 1


def test_start_from_text_after_an_image(text_model):
    session = PlaySession(text_model, context_frames=3)
    snapshot = session.start_from_text(PROMPT, png_bytes())
    assert tuple(snapshot["frame"][0, 0]) == (0, 200, 0)
    assert session.step(1)["frame"].shape == (16, 16, 3)
    assert tuple(session.reset()["frame"][0, 0]) == (0, 200, 0)
    # Another start goes back to plain image play: no prompt recorded.
    assert session.start_from_image(png_bytes())["prompt"] is None


def test_bad_prompts_get_clear_errors(text_model, monkeypatch):
    session = PlaySession(text_model)
    with pytest.raises(PlayError, match="the prompt is empty"):
        session.start_from_text("   ")
    with pytest.raises(PlayError, match=f"the limit is {MAX_PROMPT_CHARS}"):
        session.start_from_text("a" * (MAX_PROMPT_CHARS + 1))
    with pytest.raises(PlayError, match="must be text"):
        session.start_from_text(42)
    with pytest.raises(PlayError, match="not a readable PNG or JPEG"):
        session.start_from_text(PROMPT, b"not an image")
    assert not session.started  # a failed start leaves nothing half-begun
    monkeypatch.setattr(text_model.config, "first_frame_dropout", 0.0)
    with pytest.raises(PlayError, match="give an image or video with the prompt"):
        session.start_from_text(PROMPT)
    assert session.start_from_text(PROMPT, png_bytes())["t"] == 0  # with an image it can


def test_a_model_without_text_refuses_a_prompt(play_model):
    session = PlaySession(play_model)
    assert not session.takes_text
    with pytest.raises(PlayError, match="this rssm model takes no text prompt"):
        session.start_from_text(PROMPT)


def test_text_play_over_the_websocket(text_model, text_run):
    with TestClient(create_app(text_model, text_run)) as client:
        with client.websocket_connect("/ws") as ws:
            hello = receive(ws, "hello")
            assert hello["text_dims"] == 256 and hello["max_prompt_chars"] == MAX_PROMPT_CHARS
            controls = {c["name"]: c for c in hello["sampling_controls"]}
            assert controls["prompt_guidance"]["value"] == 1.0
            assert controls["prompt_guidance"]["max"] == 10.0

            ws.send_json({"type": "start", "source": "text", "prompt": PROMPT})
            start = receive(ws, "frame")
            assert start["t"] == 0 and start["real"] is None and start["prompt"] == PROMPT
            assert decoded(start["frame"]).shape == (16, 16, 3)
            ws.send_json({"type": "control", "name": "prompt_guidance", "value": 3.0})
            assert receive(ws, "status")["controls"]["prompt_guidance"] == 3.0
            for t in (1, 2):
                ws.send_json({"type": "step", "action": 1})
                frame = receive(ws, "frame")
                assert frame["t"] == t and decoded(frame["frame"]).shape == (16, 16, 3)
            ws.send_json({"type": "reset"})
            reset = receive(ws, "frame")
            assert reset["t"] == 0 and reset["prompt"] == PROMPT

            image = "data:image/png;base64," + base64.b64encode(png_bytes()).decode()
            ws.send_json({"type": "start", "source": "text", "prompt": PROMPT, "image": image})
            with_image = receive(ws, "frame")
            assert tuple(decoded(with_image["frame"])[0, 0]) == (0, 200, 0)

            for message, expected in [
                ({"type": "start", "source": "text"}, "needs a 'prompt'"),
                ({"type": "start", "source": "text", "prompt": ""}, "the prompt is empty"),
                ({"type": "start", "source": "text", "prompt": "a" * 501}, "the limit is 500"),
                ({"type": "start", "source": "text", "prompt": PROMPT, "image": "%"}, "base64"),
                ({"type": "start", "source": "webcam"}, "'dataset', 'image' or 'text'"),
            ]:
                ws.send_json(message)
                assert expected in receive(ws, "error")["message"], message
            ws.send_json({"type": "step", "action": 0})
            assert receive(ws, "frame")["t"] == 1  # errors left the world as it was


def test_the_page_is_told_a_model_takes_no_text_and_a_prompt_is_refused(play_model, play_run):
    with TestClient(create_app(play_model, play_run)) as client:
        page = client.get("/").text
        assert 'id="prompt"' in page and "text_dims" in page
        with client.websocket_connect("/ws") as ws:
            assert receive(ws, "hello")["text_dims"] == 0
            ws.send_json({"type": "start", "source": "text", "prompt": PROMPT})
            message = receive(ws, "error")["message"]
            assert "this rssm model takes no text prompt" in message
            assert "start from a dataset episode or an image" in message
