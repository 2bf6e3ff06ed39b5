"""DreamerV3's MLP + symlog path: an rssm trained on ground-truth state vectors."""

import json

import pytest
import torch

import worldlab
from worldlab.data import collect
from worldlab.errors import WorldlabError
from worldlab.train import train

torch.set_num_threads(2)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("bounce_state")
    collect(
        "bounce",
        root,
        episodes=4,
        max_steps=40,
        size=16,
        progress=False,
        env_kwargs={"num_balls": 1},
    )
    return root


def test_state_vector_model_learns_and_predicts(data, tmp_path):
    overrides = {
        "train.observation": "state",
        "train.steps": 60,
        "train.batch_size": 8,
        "train.seq_len": 8,
        "train.log_every": 1,
        "model.lr": 1e-3,
    }
    train("rssm", data, tmp_path / "run", "tiny", overrides, progress=False)
    losses = [json.loads(line)["image"] for line in open(tmp_path / "run" / "metrics.jsonl")]
    assert sum(losses[-5:]) < 0.5 * sum(losses[:5])
    model = worldlab.load(tmp_path / "run")
    assert model.obs_shape == (8,)  # [x, y, vx, vy, radius, r, g, b] of one ball
    states = torch.rand(2, 3, 8)
    state = model.observe(states, torch.zeros(2, 3, dtype=torch.long))
    state, reward, cont = model.step(state, torch.tensor([0, 1]))
    assert model.decode_vector(state).shape == (2, 8)
    with pytest.raises(WorldlabError, match="nothing to render"):
        model.render(state)


def test_state_observation_needs_recorded_states(tmp_path):
    pytest.importorskip("minatar")
    collect(
        "MinAtar/Breakout-v1", tmp_path / "m", episodes=1, max_steps=5, size=16, progress=False
    )  # MinAtar observes a grid: no state vector is recorded
    with pytest.raises(WorldlabError, match="records no ground-truth state"):
        train("rssm", tmp_path / "m", tmp_path / "r", "tiny", {"train.observation": "state"})
    with pytest.raises(WorldlabError, match="pixels or state"):
        train("rssm", tmp_path / "m", tmp_path / "r", "tiny", {"train.observation": "depth"})
