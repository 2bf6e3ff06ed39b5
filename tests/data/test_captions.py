"""Captions made from ground truth (``worldlab.worlds.captions``), stored beside the
episodes (``worldlab.data.captions``), and read from imported videos' sidecars."""

import json
import warnings

import gymnasium
import imageio.v2 as imageio
import numpy as np
import pytest

from worldlab.data import EpisodeDataset, collect, drop_actions
from worldlab.data.captions import CAPTIONS_NAME
from worldlab.data.import_video import import_videos
from worldlab.errors import DatasetError, WorldlabError
from worldlab.worlds.captions import colour_name, counted, describe


def test_colour_names_and_counts():
    names = [colour_name(rgb) for rgb in ((1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 1, 0))]
    assert names == ["red", "green", "blue", "yellow"]
    assert [colour_name(g) for g in ((1, 1, 1), (0.5, 0.5, 0.5), (0, 0, 0))] == [
        "white",
        "grey",
        "black",
    ]
    assert counted(1, "gap") == "one gap" and counted(0, "coin") == "no coins"


def test_bounce_captions_follow_the_true_state(tmp_path):
    kwargs = {"num_balls": 2, "gravity": 3.0, "occluder": True, "radius_range": (0.05, 0.11)}
    collect("bounce", tmp_path, 4, max_steps=5, size=16, env_kwargs=kwargs, progress=False)
    data = EpisodeDataset(tmp_path)
    for index in range(len(data)):
        record = data.caption(index)
        balls = data.episode(index)["state"][0].reshape(-1, 8)
        assert record["balls"] == 2 and record["colours"] == ["red", "green"]
        for radius, size in zip(balls[:, 4], record["sizes"], strict=True):
            expected = "small" if radius < 0.07 else "large" if radius > 0.09 else "medium"
            assert size == expected
        assert record["caption"].startswith("two balls: a ")
        assert "strong gravity" in record["caption"] and record["caption"].endswith("an occluder")
    assert len({data.caption(i)["caption"] for i in range(len(data))}) > 1  # per episode


def test_platformer_caption_counts_the_level():
    layout = ["o..........=====.....", "@...............o....", "#####...####...######"]
    env = gymnasium.make("worldlab/Platformer-v0", size=24, layout=layout)
    env.reset(seed=0)
    record = describe(env, {})
    assert (record["gaps"], record["platforms"], record["coins"]) == (2, 1, 2)
    assert record["caption"] == "a level with two gaps, one floating platform and two coins"


def test_captions_survive_reruns_and_dropping_actions(tmp_path):
    collect("platformer", tmp_path / "a", 2, max_steps=5, size=16, progress=False)
    (tmp_path / "a" / "ep_000001.npz").unlink()  # as if interrupted after its caption
    collect("platformer", tmp_path / "a", 3, max_steps=5, size=16, progress=False)
    captions = json.loads((tmp_path / "a" / CAPTIONS_NAME).read_text())
    assert sorted(captions) == ["ep_000000.npz", "ep_000001.npz", "ep_000002.npz"]
    drop_actions(tmp_path / "a", tmp_path / "video", progress=False)
    video = EpisodeDataset(tmp_path / "video")
    assert video.caption(2) == EpisodeDataset(tmp_path / "a").caption(2)
    collect("CartPole-v1", tmp_path / "c", 1, max_steps=3, size=16, progress=False)
    assert EpisodeDataset(tmp_path / "c").caption(0) is None  # no describer: no caption
    (tmp_path / "a" / CAPTIONS_NAME).write_bytes(b"\x00garbage")
    with pytest.raises(DatasetError, match=CAPTIONS_NAME):
        EpisodeDataset(tmp_path / "a").caption(0)


def test_imported_videos_take_captions_from_sidecars(tmp_path):
    folder = tmp_path / "videos"
    folder.mkdir()
    for offset, name in enumerate("abc"):
        frames = [np.full((16, 16, 3), 10 * i + 70 * offset, np.uint8) for i in range(6)]
        imageio.mimwrite(folder / f"{name}.gif", frames, duration=100, loop=0)
    (folder / "a.txt").write_text("a grey fade\n")
    (folder / "captions.jsonl").write_text(
        json.dumps({"file": "b.gif", "caption": "another fade", "speed": "slow"}) + "\n"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # sidecars are not reported as skipped videos
        import_videos(folder, tmp_path / "out", size=8, clip_length=3, progress=False)
    data = EpisodeDataset(tmp_path / "out")
    by_text = {data.caption(i)["caption"] if data.caption(i) else None for i in range(len(data))}
    assert by_text == {"a grey fade", "another fade", None}  # c.gif has no sidecar
    slow = [data.caption(i) for i in range(len(data)) if data.caption(i)]
    assert any(record.get("speed") == "slow" for record in slow)
    (folder / "captions.jsonl").write_text("{not json\n")
    (folder / "a.txt").unlink()
    with pytest.raises(WorldlabError, match="captions.jsonl, line 1, is not JSON"):
        import_videos([folder / "c.gif"], tmp_path / "bad", size=8, progress=False)
