import io

import numpy as np
import pytest
import torch
from PIL import Image

from worldlab.data import EpisodeDataset
from worldlab.play import PlayError, PlaySession
from worldlab.play.session import check_action, decode_image, sampling_controls


def png_bytes(size=(50, 40), color=(200, 30, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def test_start_from_dataset_steps_the_model_and_the_real_world(play_model):
    session = PlaySession(play_model, context_frames=3)
    first = session.start_from_dataset(episode=1, step=4)
    episode = EpisodeDataset(play_model.run_config["data"]["path"]).episode(1)
    assert np.array_equal(first["frame"], episode["obs"][4])
    # Episode k was collected with seed k, so the real twin starts exactly where the data is.
    assert np.array_equal(first["real"], episode["obs"][4]) and first["real_in_sync"]
    for action in (0, 2, 4):
        snapshot = session.step(action)
        assert snapshot["frame"].shape == (32, 32, 3) and snapshot["frame"].dtype == np.uint8
        assert snapshot["real"].shape == (32, 32, 3) and snapshot["real"].dtype == np.uint8
    assert snapshot["t"] == 3
    assert len(session.frames) == 4 and session.frames[0].shape == (32, 64, 3)
    session.close()


def test_reset_returns_to_the_start(play_model):
    session = PlaySession(play_model)
    start = session.start_from_dataset(0, 6)
    session.step(1)
    again = session.reset()
    assert again["t"] == 0
    assert np.array_equal(again["frame"], start["frame"])
    assert np.array_equal(again["real"], start["real"])
    assert len(session.frames) == 1


def test_start_from_image_resizes_and_hides_the_real_world(play_model):
    session = PlaySession(play_model, context_frames=2)
    snapshot = session.start_from_image(png_bytes())
    assert snapshot["real"] is None
    assert snapshot["frame"].shape == (32, 32, 3)
    assert tuple(snapshot["frame"][0, 0]) == (200, 30, 30)
    assert session.step(3)["frame"].shape == (32, 32, 3)
    assert session.reset()["t"] == 0


def test_recording_writes_an_mp4(play_model, tmp_path):
    session = PlaySession(play_model)
    session.start_from_dataset(0, 0)
    for _ in range(5):
        session.step(2)
    path = session.save_recording(tmp_path / "play.mp4")
    assert path.stat().st_size > 0
    import imageio.v3 as iio

    frames = iio.imread(path)
    assert frames.shape[0] == 6 and frames.shape[2] == 2 * frames.shape[1]  # model | real


def test_bad_requests_get_clear_errors(play_model):
    session = PlaySession(play_model)
    with pytest.raises(PlayError, match="start"):
        session.step(0)
    with pytest.raises(PlayError, match="episode 99 does not exist"):
        session.start_from_dataset(99, 0)
    with pytest.raises(PlayError, match="steps 0..20"):
        session.start_from_dataset(0, 500)
    with pytest.raises(PlayError, match="out of range"):
        check_action(5, play_model.action_spec)
    with pytest.raises(PlayError, match="integer"):
        check_action([1.0], play_model.action_spec)
    with pytest.raises(PlayError, match="not a readable PNG or JPEG"):
        decode_image(b"hello, not an image", (32, 32, 3))
    with pytest.raises(PlayError, match="limit is 2 MB"):
        decode_image(b"\0" * (3 * 2**20), (32, 32, 3))
    gif = io.BytesIO()
    Image.new("RGB", (4, 4)).save(gif, format="GIF")
    with pytest.raises(PlayError, match="GIF"):
        decode_image(gif.getvalue(), (32, 32, 3))


def test_sampling_controls_come_from_the_config_and_stay_per_session(play_model, monkeypatch):
    controls = {c["name"]: c for c in sampling_controls(play_model)}
    assert controls["imagine_latents"]["choices"] == ["sample", "mode"]
    one, two = PlaySession(play_model), PlaySession(play_model)
    one.set_control("imagine_latents", "mode")
    assert two.controls["imagine_latents"] == "sample"
    with pytest.raises(PlayError, match="one of"):
        one.set_control("imagine_latents", "greedy")
    with pytest.raises(PlayError, match="unknown sampling control"):
        one.set_control("beam_width", 3)
    # Each session's choice holds in the shared model during its own calls only.
    seen = []
    model_step = type(play_model).step

    def spy(state, action):
        seen.append(play_model.config.imagine_latents)
        return model_step(play_model, state, action)

    monkeypatch.setattr(play_model, "step", spy)
    for session in (one, two):
        session.start_from_dataset(0, 3)
    one.step(1)
    two.step(1)
    assert seen == ["mode", "sample"]
    assert play_model.config.imagine_latents == "sample"


def test_a_session_can_run_the_model_in_bf16(play_model):
    session = PlaySession(play_model, autocast_dtype=torch.bfloat16)
    session.start_from_dataset(0, 3)
    snapshot = session.step(1)
    assert snapshot["frame"].dtype == np.uint8 and snapshot["frame"].shape == (32, 32, 3)
    assert isinstance(snapshot["reward"], float)
