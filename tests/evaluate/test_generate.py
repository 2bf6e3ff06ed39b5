"""Worlds started from an image or a video prompt (``worldlab generate``)."""

import json

import imageio.v2 as imageio
import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from worldlab.cli.main import app
from worldlab.data import EpisodeDataset, collect
from worldlab.errors import WorldlabError
from worldlab.evaluate.generate import generate, prompt_frames
from worldlab.train import train

torch.set_num_threads(2)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("generate")
    collect("bounce", root / "data", episodes=2, max_steps=12, size=16, progress=False)
    settings = {"train.steps": 2, "train.batch_size": 2, "train.seq_len": 4}
    train("rssm", root / "data", root / "run", "tiny", settings, progress=False)
    return root


def test_prompt_frames_from_an_image_and_a_video(tmp_path):
    wide = np.zeros((20, 40, 3), np.uint8)
    wide[:, 10:30] = (200, 30, 30)  # the centre square is red
    Image.fromarray(wide).save(tmp_path / "p.png")
    held = prompt_frames(8, image=tmp_path / "p.png", context=3)
    assert held.shape == (3, 8, 8, 3) and (held == held[0]).all()
    assert held[0, 4, 4].tolist() == [200, 30, 30]
    clip = [np.full((16, 16, 3), 20 * i, np.uint8) for i in range(6)]
    imageio.mimwrite(tmp_path / "v.gif", clip, duration=100, loop=0)
    last = prompt_frames(8, video=tmp_path / "v.gif", context=2)
    assert last.shape == (2, 8, 8, 3) and abs(int(last[-1].mean()) - 100) <= 2  # the last frames
    with pytest.raises(WorldlabError, match="exactly one prompt"):
        prompt_frames(8)
    (tmp_path / "bad.png").write_bytes(b"not an image")
    with pytest.raises(WorldlabError, match="cannot read the image prompt"):
        prompt_frames(8, image=tmp_path / "bad.png")


def test_generation_observes_the_prompt_and_is_seeded(run):
    import worldlab

    model = worldlab.load(run / "run")
    context = EpisodeDataset(run / "data").episode(0)["obs"][:4]
    first = generate(model, context, 5, "random", seed=3)
    again = generate(model, context, 5, "random", seed=3)
    assert first["frames"].shape == (9, 16, 16, 3)
    np.testing.assert_array_equal(first["frames"][:4], context)
    np.testing.assert_array_equal(first["frames"], again["frames"])
    assert generate(model, context, 5, "null")["actions"].tolist() == [0] * 5
    with pytest.raises(WorldlabError, match="the model takes"):
        generate(model, np.zeros((2, 8, 8, 3), np.uint8), 3)


def test_cli_writes_the_video_and_what_made_it(run, tmp_path):
    frame = EpisodeDataset(run / "data").episode(1)["obs"][5]
    Image.fromarray(frame).save(tmp_path / "start.png")
    out = tmp_path / "world.gif"
    args = ["generate", str(run / "run"), "--image", str(tmp_path / "start.png")]
    result = CliRunner().invoke(app, [*args, "--frames", "6", "--out", str(out), "--seed", "1"])
    assert result.exit_code == 0, result.output
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["prompt"] == {"type": "image", "file": str(tmp_path / "start.png"),
                                "context_frames": 4, "text": None,
                                "text_encoder": None}  # fmt: skip
    assert record["frames"] == 6 and record["seed"] == 1 and len(record["action_values"]) == 6
    assert out.stat().st_size > 0 and record["video"] == str(out)
