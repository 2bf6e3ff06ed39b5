"""The documented example: an off-the-shelf SB3 agent trained only inside a dream."""

import importlib.util
from pathlib import Path

import pytest
import torch

from worldlab.data import collect
from worldlab.train import train

pytest.importorskip("stable_baselines3")
torch.set_num_threads(2)
EXAMPLE = Path(__file__).parents[2] / "examples" / "sb3_in_the_dream.py"


def test_ppo_learns_in_the_dream_and_acts_in_the_real_world(tmp_path):
    spec = importlib.util.spec_from_file_location("sb3_in_the_dream", EXAMPLE)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    collect("reach", tmp_path / "data", episodes=3, max_steps=20, size=32, progress=False)
    overrides = {"train.steps": 2, "train.batch_size": 2, "train.seq_len": 6}
    train("rssm", tmp_path / "data", tmp_path / "run", "tiny", overrides, progress=False)
    results = example.train_in_dream(
        tmp_path / "run",
        tmp_path / "data",
        steps=64,
        envs=2,
        horizon=8,
        eval_episodes=2,
        progress=False,
    )
    for name in ("ppo_in_dream", "random"):
        assert len(results[name]["returns"]) == 2
        assert all(r < 0 for r in results[name]["returns"])  # reach: −distance per step
