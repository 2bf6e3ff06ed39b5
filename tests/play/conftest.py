import pytest
import torch

import worldlab
from worldlab.data import collect
from worldlab.train import train

torch.set_num_threads(2)


@pytest.fixture(scope="session")
def play_run(tmp_path_factory):
    """A tiny rssm trained for 2 steps on 32×32 bounce: enough to play, quick to make."""
    root = tmp_path_factory.mktemp("play")
    data = root / "bounce32"
    collect("bounce", data, episodes=3, max_steps=20, size=32, progress=False)
    overrides = {"train.steps": 2, "train.batch_size": 2, "train.seq_len": 4}
    train("rssm", data, root / "run", "tiny", overrides, progress=False)
    return root / "run"


@pytest.fixture(scope="session")
def play_model(play_run):
    return worldlab.load(play_run)
