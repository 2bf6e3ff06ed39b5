import numpy as np
import torch

import worldlab
from worldlab.agents.mpc import run_mpc
from worldlab.agents.planning import PlannerConfig
from worldlab.data import collect
from worldlab.train import train

torch.set_num_threads(2)


def test_mpc_plays_real_episodes_with_an_offline_model(tmp_path):
    collect("reach", tmp_path / "data", episodes=3, max_steps=20, size=32, progress=False)
    train(
        "rssm",
        tmp_path / "data",
        tmp_path / "run",
        "tiny",
        {"train.steps": 2, "train.batch_size": 2, "train.seq_len": 6},
        progress=False,
    )
    model = worldlab.load(tmp_path / "run")
    config = PlannerConfig(horizon=3, iterations=2, samples=16, elites=4)
    result = run_mpc(model, episodes=2, config=config, max_steps=4, progress=False)
    assert result["env_id"] == "worldlab/Reach-v0" and len(result["returns"]) == 2
    assert all(r < 0 for r in result["returns"])  # reach rewards are −distance
    assert 0.0 <= result["success_rate"] <= 1.0
    assert result["frames"].shape == (5, 32, 32, 3)  # the first frame and 4 steps
    again = run_mpc(model, episodes=2, config=config, max_steps=4, progress=False)
    np.testing.assert_allclose(again["returns"], result["returns"])  # seeded
