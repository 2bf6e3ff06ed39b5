import importlib

import numpy as np
import pytest

from worldlab.errors import MissingExtraError, UnknownWorldError
from worldlab.worlds import adapters, make_env


def check_pixels(env, size):
    obs, info = env.reset(seed=0)
    assert obs.shape == (size, size, 3) and obs.dtype == np.uint8
    assert env.observation_space.contains(obs)
    obs, *_ = env.step(env.action_space.sample())
    assert obs.shape == (size, size, 3)
    assert env.render().shape == (size, size, 3)
    return info


def test_gymnasium_id_gives_pixels_and_keeps_state():
    env = make_env("CartPole-v1", size=48)
    info = check_pixels(env, 48)
    assert info["state"].shape == (4,)
    env.close()


def test_short_names_resolve_to_builtin_worlds():
    env = make_env("reach", size=32)
    assert env.spec.id == "worldlab/Reach-v0"
    check_pixels(env, 32)


def test_atari_gives_pixels():
    pytest.importorskip("ale_py")
    env = make_env("ALE/Pong-v5")
    check_pixels(env, 64)
    assert env.unwrapped._frameskip == 4


def test_minatar_channels_become_coloured_frames():
    pytest.importorskip("minatar")
    env = make_env("MinAtar/Breakout-v1")
    obs, _ = env.reset(seed=0)
    assert obs.shape == (64, 64, 3) and obs.max() > 0
    # Nearest-neighbour upscaling: each 10×10 cell is a flat block of colour.
    cell = obs[:6, :6].reshape(-1, 3)
    assert (cell == cell[0]).all()


def test_unknown_id_is_a_clear_error():
    with pytest.raises(UnknownWorldError, match="unknown environment 'NoSuchWorld-v0'.*envs"):
        make_env("NoSuchWorld-v0")


def test_missing_extra_names_the_extra(monkeypatch):
    real_import = importlib.import_module

    def fake_import(name, *args):
        if name == "ale_py":
            raise ImportError("No module named 'ale_py'")
        return real_import(name, *args)

    monkeypatch.setattr(adapters.importlib, "import_module", fake_import)
    with pytest.raises(MissingExtraError, match=r"pip install 'worldlab\[atari\]'"):
        make_env("ALE/Pong-v5")


def test_box2d_world_without_box2d_names_the_extra():
    if adapters.suites_status()["box2d"]:
        pytest.skip("Box2D is installed here")
    with pytest.raises(MissingExtraError, match=r"worldlab\[box2d\]"):
        make_env("CarRacing-v3")
