"""Text prompts on the flow model: embedded captions, text conditioning with dropout for
guidance, and text2world through `generate`."""

import json

import numpy as np
import pytest
import torch

from worldlab.data.captions import embed_captions
from worldlab.data.collect import collect
from worldlab.data.dataset import EpisodeDataset
from worldlab.data.manifest import Manifest
from worldlab.errors import DatasetError, WorldlabError
from worldlab.evaluate.generate import write_generation
from worldlab.models.base import ActionSpec
from worldlab.models.flow.config import PRESETS, FlowConfig
from worldlab.models.flow.model import FlowWorldModel
from worldlab.models.flow.sample_conditions import training_text
from worldlab.models.text_encoder import make_text_encoder
from worldlab.train import train

HASH = make_text_encoder("hash")
DISCRETE = ActionSpec.from_manifest({"type": "discrete", "n": 2})


def encode(texts):
    return HASH(texts).numpy()


def test_embed_captions_writes_text_per_step_and_resumes(tmp_path):
    data = tmp_path / "data"
    collect("bounce", data, episodes=3, max_steps=6, size=16, progress=False)
    assert embed_captions(data, encode, "hash", progress=False) == 3
    episode = EpisodeDataset(data).episode(1)
    caption = EpisodeDataset(data).caption(1)["caption"]
    assert episode["text"].shape == (7, 256) and episode["text"].dtype == np.float16
    np.testing.assert_allclose(episode["text"][3], encode([caption])[0], atol=1e-3)
    assert Manifest.load(data).text_encoder == "hash" and Manifest.load(data).text_dims == 256
    assert embed_captions(data, encode, "hash", progress=False) == 0  # nothing left to do
    assert embed_captions(data, lambda t: encode(t)[:, :64], "other", progress=False) == 3
    with pytest.raises(DatasetError, match="no captions.json"):
        collect("CartPole-v1", tmp_path / "cp", episodes=1, max_steps=3, size=16, progress=False)
        embed_captions(tmp_path / "cp", encode, "hash", progress=False)


def colours(rng, count, size=16):
    """Frames of a red or a blue square at random places; each frame's text says its colour
    (so the past frames say nothing of the next one's colour, only its text does)."""
    red = rng.random((count, 3)) < 0.5
    frames = np.zeros((count, 3, size, size, 3), np.uint8)
    corners = rng.integers(1, size - 7, (count, 3, 2))
    for i in range(count):
        for t in range(3):
            x, y = corners[i, t]
            frames[i, t, y : y + 6, x : x + 6] = (230, 40, 40) if red[i, t] else (40, 40, 230)
    words = encode(["a blue square", "a red square"])
    return frames, words[red.astype(int)], red[:, -1]


def test_the_text_decides_what_is_drawn_and_is_dropped_at_its_rate():
    torch.manual_seed(0)
    config = FlowConfig(
        **{**PRESETS["tiny"], "text_dims": 256, "first_frame_dropout": 0.5, "lr": 3e-3,
           "ema_decay": 0.0, "text_dropout": 0.25}
    )  # fmt: skip
    model = FlowWorldModel(config, (16, 16, 3), DISCRETE)
    rng = np.random.default_rng(0)
    batch = {
        "action": torch.zeros(16, 3, dtype=torch.long),
        "reward": torch.zeros(16, 3),
        "terminated": torch.zeros(16, 3, dtype=torch.bool),
        "is_first": torch.zeros(16, 3, dtype=torch.bool),
    }
    kept = training_text(
        model.config,
        {"text": torch.ones(4000, 1, 256)},
        torch.arange(4000),
        torch.zeros(4000, dtype=torch.long),
    )
    assert 0.2 < float((kept.abs().sum(1) == 0).float().mean()) < 0.3  # dropped at the rate set
    optimizer = model.optimizer()
    for _ in range(100):
        frames, text, _ = colours(rng, 16)
        loss, _ = model.loss(
            {**batch, "obs": torch.from_numpy(frames), "text": torch.from_numpy(text)}
        )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    _, text, red = colours(np.random.default_rng(5), 32)
    state = model.prompt(torch.from_numpy(text[:, -1]).float())
    frame = model.render(state).float()  # [32, 16, 16, 3]
    drawn_red = frame[..., 0].mean((1, 2)) > frame[..., 2].mean((1, 2))
    assert (drawn_red.numpy() == red).mean() >= 0.9
    assert (
        state.text is not None
        and model.step(state, torch.zeros(32, dtype=torch.long))[0].text is not None
    )


def test_text_errors_are_clear():
    plain = FlowWorldModel(FlowConfig(**PRESETS["tiny"]), (16, 16, 3), DISCRETE)
    with pytest.raises(WorldlabError, match="takes no text prompt"):
        plain.prompt(torch.zeros(2, 256))
    texted = FlowWorldModel(
        FlowConfig(**{**PRESETS["tiny"], "text_dims": 8}), (16, 16, 3), DISCRETE
    )
    with pytest.raises(WorldlabError, match=r"must be \[2, 8\]"):
        texted.prompt(torch.zeros(2, 5))
    with pytest.raises(WorldlabError, match="never learned to start a world without frames"):
        texted.prompt(torch.zeros(2, 8))
    batch = {
        "obs": torch.zeros(2, 3, 16, 16, 3, dtype=torch.uint8),
        "action": torch.zeros(2, 3, dtype=torch.long),
        "reward": torch.zeros(2, 3),
        "terminated": torch.zeros(2, 3, dtype=torch.bool),
        "is_first": torch.zeros(2, 3, dtype=torch.bool),
    }
    with pytest.raises(WorldlabError, match="embed the captions"):
        texted.loss(batch)
    with pytest.raises(WorldlabError, match="8"):
        texted.loss({**batch, "text": torch.zeros(2, 3, 4)})


def test_generate_from_text_alone_and_with_a_video(tmp_path):
    data = tmp_path / "data"
    collect("bounce", data, episodes=4, max_steps=10, size=16, progress=False)
    embed_captions(data, encode, "hash", progress=False)
    overrides = {
        "train.steps": 2, "train.seq_len": 8, "model.text_dims": 256,
        "model.first_frame_dropout": 0.2,
    }  # fmt: skip
    train("flow", data, tmp_path / "run", preset="tiny", overrides=overrides, progress=False)
    prompt = "two balls: a small red one and a large blue one; strong gravity"
    record = write_generation(
        tmp_path / "run", tmp_path / "t.gif", 5, text=prompt, sampling={"prompt_guidance": 2.0}
    )
    saved = json.loads((tmp_path / "t.json").read_text())
    assert saved["prompt"]["type"] == "text" and saved["prompt"]["text"] == prompt
    assert saved["sampling"]["prompt_guidance"] == 2.0 and record["frames"] == 5
    both = write_generation(tmp_path / "run", tmp_path / "v.gif", 3, video=tmp_path / "t.gif",
                            text="one ball")  # fmt: skip
    assert both["prompt"]["type"] == "video+text" and both["prompt"]["context_frames"] == 4
    train("flow", data, tmp_path / "plain", preset="tiny", overrides={"train.steps": 1},
          progress=False)  # fmt: skip
    with pytest.raises(WorldlabError, match="takes no text prompt"):
        write_generation(tmp_path / "plain", tmp_path / "x.gif", 3, text=prompt)
