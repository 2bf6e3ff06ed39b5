import base64
import io
import json

import pytest
from PIL import Image

pytest.importorskip("fastapi", reason="the server needs the `play` extra (fastapi)")
from fastapi.testclient import TestClient  # noqa: E402

from worldlab.play.server import create_app  # noqa: E402


@pytest.fixture(scope="module")
def client(play_model, play_run):
    with TestClient(create_app(play_model, play_run)) as client:
        yield client


def receive(ws, kind):
    """The next message of ``kind``; fail on an unexpected error."""
    message = ws.receive_json()
    assert message["type"] == kind, message
    return message


def image_url(fmt="PNG", size=(20, 20)) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", size, (0, 120, 255)).save(buffer, format=fmt)
    return f"data:image/{fmt.lower()};base64," + base64.b64encode(buffer.getvalue()).decode()


def test_page_is_served(client):
    page = client.get("/")
    assert page.status_code == 200 and "worldlab play" in page.text and "/ws" in page.text


def test_start_act_and_frames_come_back(client):
    with client.websocket_connect("/ws") as ws:
        hello = receive(ws, "hello")
        assert hello["action_spec"] == {
            "kind": "discrete",
            "n": 5,
            "dims": 0,
            "low": None,
            "high": None,
        }
        assert hello["keymap"]["combos"][0] == {
            "buttons": ["left"],
            "action": 1,
            "label": "push left",
        }
        assert [c["name"] for c in hello["sampling_controls"]] == ["imagine_latents"]
        assert len(hello["dataset"]["lengths"]) == 3
        ws.send_json({"type": "start", "source": "dataset", "episode": 0, "step": 2})
        start = receive(ws, "frame")
        assert start["t"] == 0 and start["frame"].startswith("data:image/png;base64,")
        assert start["real"] is not None
        ws.send_json({"type": "action", "action": 2, "seq": 1})
        ws.send_json({"type": "step"})
        frame = receive(ws, "frame")
        assert frame["t"] == 1 and frame["ack"] == 1
        ws.send_json({"type": "step", "action": 4, "seq": 2})
        assert receive(ws, "frame")["ack"] == 2
        ws.send_json({"type": "control", "name": "imagine_latents", "value": "mode"})
        assert receive(ws, "status")["controls"] == {"imagine_latents": "mode"}
        ws.send_json({"type": "reset"})
        assert receive(ws, "frame")["t"] == 0
        recording = client.get(f"/recording/{hello['session']}.mp4")
        assert recording.status_code == 200 and recording.headers["content-type"] == "video/mp4"
        assert len(recording.content) > 0
        ws.send_json({"type": "start", "source": "image", "image": image_url("JPEG")})
        assert receive(ws, "frame")["real"] is None


def test_play_streams_frames_until_paused(client):
    with client.websocket_connect("/ws") as ws:
        receive(ws, "hello")
        ws.send_json({"type": "start", "source": "dataset"})
        receive(ws, "frame")
        ws.send_json({"type": "play", "fps": 60})
        seen = [ws.receive_json() for _ in range(6)]
        assert seen[0] == {"type": "status", "running": True, "fps": 60.0}
        assert [m["t"] for m in seen[1:]] == [1, 2, 3, 4, 5]
        ws.send_json({"type": "pause"})
        while (message := ws.receive_json())["type"] == "frame":
            pass
        assert message == {"type": "status", "running": False, "fps": 60.0}


BAD_MESSAGES = [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "JSON object"),
    ('{"type": "jump"}', "unknown message type 'jump'"),
    ('{"type": "pause", "speed": 2}', "unknown key(s) ['speed']"),
    ('{"type": "action"}', "needs key(s) ['action']"),
    ('{"type": "action", "action": 7}', "out of range"),
    ('{"type": "action", "action": "left"}', "integer index"),
    ('{"type": "step", "action": -1}', "out of range"),
    ('{"type": "play", "fps": 1000}', "'fps' must be"),
    ('{"type": "start", "source": "dataset", "episode": 42}', "episode 42 does not exist"),
    ('{"type": "start", "source": "webcam"}', "'source' must be"),
    ('{"type": "start", "source": "image", "image": "%%%"}', "not valid base64"),
    ('{"type": "control", "name": "imagine_latents", "value": "best"}', "must be one of"),
]


def test_bad_messages_get_errors_and_the_connection_keeps_working(client):
    not_an_image = "data:image/png;base64," + base64.b64encode(b"GIF? no, text").decode()
    huge = "data:image/png;base64," + base64.b64encode(b"\x89PNG" + b"\0" * (2**21)).decode()
    cases = BAD_MESSAGES + [
        (json.dumps({"type": "start", "source": "image", "image": not_an_image}), "PNG or JPEG"),
        (json.dumps({"type": "start", "source": "image", "image": huge}), "limit is 2 MB"),
        ('{"type": "step"}', "start"),  # stepping before any start
    ]
    with client.websocket_connect("/ws") as ws:
        receive(ws, "hello")
        for text, expected in cases:
            ws.send_text(text)
            error = receive(ws, "error")
            assert expected in error["message"], (text, error)
        ws.send_bytes(b"\x00\x01")
        assert "JSON text" in receive(ws, "error")["message"]
        ws.send_json({"type": "start", "source": "image", "image": image_url()})
        assert receive(ws, "frame")["t"] == 0
        ws.send_json({"type": "step", "action": 1})
        assert receive(ws, "frame")["t"] == 1


def test_two_sessions_are_independent(client):
    with client.websocket_connect("/ws") as one, client.websocket_connect("/ws") as two:
        first, second = receive(one, "hello"), receive(two, "hello")
        assert first["session"] != second["session"]
        assert len(client.app.state.players) == 2
        one.send_json({"type": "start", "source": "dataset", "episode": 0})
        two.send_json({"type": "start", "source": "image", "image": image_url()})
        assert receive(one, "frame")["real"] is not None
        assert receive(two, "frame")["real"] is None
        for _ in range(3):
            one.send_json({"type": "step", "action": 1})
            receive(one, "frame")
        two.send_text("oops")
        receive(two, "error")
        two.send_json({"type": "step", "action": 2})
        assert receive(two, "frame")["t"] == 1
        one.send_json({"type": "step"})
        assert receive(one, "frame")["t"] == 4
    assert client.get(f"/recording/{first['session']}.mp4").status_code == 404
    assert client.app.state.players == {}


def test_a_failing_model_reports_an_error_and_the_session_goes_on(client, play_model, monkeypatch):
    with client.websocket_connect("/ws") as ws:
        receive(ws, "hello")
        ws.send_json({"type": "start", "source": "dataset"})
        receive(ws, "frame")
        with monkeypatch.context() as patch:
            patch.setattr(play_model, "step", lambda *args: 1 / 0)
            ws.send_json({"type": "step", "action": 1})
            assert "server error (ZeroDivisionError" in receive(ws, "error")["message"]
        ws.send_json({"type": "step", "action": 1})
        assert receive(ws, "frame")["t"] == 1


def test_every_model_call_runs_on_the_one_model_thread(client, play_model, monkeypatch):
    # Torch on several threads makes several OpenMP teams, which run a small model
    # about 2× slower on 2 cores (worldlab/play/model_thread.py).
    import threading

    threads = set()
    step, observe = play_model.step, play_model.observe

    def record(function):
        def called(*args, **kwargs):
            threads.add(threading.current_thread().name)
            return function(*args, **kwargs)

        return called

    monkeypatch.setattr(play_model, "step", record(step))
    monkeypatch.setattr(play_model, "observe", record(observe))
    with client.websocket_connect("/ws") as one, client.websocket_connect("/ws") as two:
        for ws in (one, two):
            receive(ws, "hello")
            ws.send_json({"type": "start", "source": "dataset"})
            receive(ws, "frame")
            for _ in range(3):
                ws.send_json({"type": "step", "action": 1})
                receive(ws, "frame")
    assert len(threads) == 1 and threads.pop().startswith("worldlab-model"), threads
