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


@pytest.fixture(scope="session")
def text_run(tmp_path_factory):
    """A tiny flow model conditioned on hashed caption embeddings (16×16 bounce), trained
    with first-frame dropout so it can start a world from text alone."""
    from worldlab.data.captions import embed_captions
    from worldlab.models.text_encoder import make_text_encoder

    root = tmp_path_factory.mktemp("play_text")
    data = root / "bounce16"
    collect("bounce", data, episodes=4, max_steps=10, size=16, progress=False)
    encode = make_text_encoder("hash")
    embed_captions(data, lambda texts: encode(texts).numpy(), "hash", progress=False)
    overrides = {
        "train.steps": 2,
        "train.seq_len": 8,
        "model.text_dims": 256,
        "model.first_frame_dropout": 0.2,
    }
    train("flow", data, root / "run", "tiny", overrides, progress=False)
    return root / "run"


@pytest.fixture(scope="session")
def text_model(text_run):
    return worldlab.load(text_run)
