import json
import shutil

import numpy as np
import pytest
import torch

from worldlab.agents.rollout import play_in_world
from worldlab.agents.runs import evaluate_agent, read_agent_settings
from worldlab.agents.vmc import (
    LinearController,
    VMCAgentConfig,
    controller_shape,
    dream_fitness,
    evolve_controller,
    load_vmc_agent,
    train_vmc_agent,
)
from worldlab.agents.vmc import vmc_agent_config as agent_config
from worldlab.errors import WorldlabError
from worldlab.models import ActionSpec, WorldModel

torch.set_num_threads(1)
TARGET = torch.tensor([0.5, -0.3])


class TargetModel(WorldModel):
    """A fake world: features are constant, the reward is −‖action − TARGET‖."""

    family = "fake-target"
    Config = dict

    def __init__(self, action_spec=ActionSpec("continuous", dims=2)):
        super().__init__({}, (16, 16, 3), action_spec)

    @property
    def feature_dims(self) -> int:
        return 3

    def loss(self, batch):
        raise NotImplementedError

    def observe(self, obs, action, is_first=None, state=None):
        return torch.ones(obs.shape[0], 3)

    def step(self, state, action):
        if self.action_spec.kind == "discrete":
            reward = (action == 2).float()
        else:
            reward = -(action - TARGET).norm(dim=-1)
        return state, reward, torch.ones(len(state))

    def render(self, state):
        return torch.zeros(len(state), 16, 16, 3, dtype=torch.uint8)

    def features(self, state):
        return state


class StillFrames:
    """Stands in for an EpisodeDataset: context windows of blank frames."""

    def sample(self, count, length, rng=None):
        return {
            "obs": np.zeros((count, length, 16, 16, 3), np.uint8),
            "action": np.zeros((count, length, 2), np.float32),
        }


def test_cma_es_improves_fitness_on_a_known_objective():
    config = VMCAgentConfig(
        population=8, sigma0=0.3, generations=12, rollouts=1, horizon=2, final_rollouts=2
    )
    controller, history, final = evolve_controller(
        TargetModel(), StillFrames(), config, seed=0, progress=False
    )
    assert len(history) == 12
    assert history[-1]["mean"] > history[0]["mean"] + 0.5  # fitness is -2·distance
    action = controller.act(torch.ones(1, 3))
    assert (action - TARGET).norm() < 0.1
    assert final["chosen"] in ("cma_mean", "best_candidate")


def test_discrete_controller_learns_the_rewarded_action():
    model = TargetModel(ActionSpec("discrete", n=4))
    config = VMCAgentConfig(
        population=6, sigma0=1.0, generations=4, rollouts=1, horizon=1, final_rollouts=1
    )
    controller, _, final = evolve_controller(model, StillFrames(), config, progress=False)
    assert controller.act(torch.ones(5, 3)).tolist() == [2] * 5
    assert max(final["mean_fitness"], final["best_candidate_fitness"]) == 1.0


def test_dream_fitness_scores_each_candidate_over_its_rollouts():
    config = VMCAgentConfig(rollouts=3, horizon=4)
    zero = np.zeros(LinearController.size(3, 2))
    at_target = zero.copy()
    at_target[6:] = np.arctanh(TARGET.numpy())  # the bias alone hits the target
    scores = dream_fitness(TargetModel(), StillFrames(), np.stack([zero, at_target]), config, 0)
    assert scores[0] == pytest.approx(-4 * TARGET.norm().item(), abs=1e-5)
    assert scores[1] == pytest.approx(0.0, abs=1e-5)


def test_controller_round_trip(tmp_path):
    controller = LinearController.from_vector(
        np.arange(8.0), features=3, outputs=2, kind="continuous"
    )
    controller.save(tmp_path / "controller.npz")
    again = LinearController.load(tmp_path / "controller.npz")
    features = torch.randn(4, 3)
    torch.testing.assert_close(controller.act(features), again.act(features))
    assert again.kind == "continuous" and again.weight.shape == (2, 3)


def test_paper_controller_has_867_parameters():
    assert LinearController.size(features=32 + 256, outputs=3) == 867


def test_unknown_settings_are_clear_errors():
    with pytest.raises(WorldlabError, match="unknown vmc agent setting"):
        agent_config({"populaton": 8})
    with pytest.raises(WorldlabError, match="population"):
        agent_config({"population": 1})
    with pytest.raises(WorldlabError, match="collect_policy"):
        agent_config({"collect_policy": "greedy"})
    with pytest.raises(WorldlabError, match="fitness must be one of dream, real"):
        agent_config({"fitness": "imagined"})
    with pytest.raises(WorldlabError, match="inputs must be 'zh'"):
        agent_config({"inputs": "h"})
    with pytest.raises(WorldlabError, match="needs a vmc world model"):
        controller_shape(TargetModel(), "z")


def test_train_vmc_agent_end_to_end_and_rerun(tmp_path):
    settings = dict(
        size=32,
        max_episode_steps=20,
        generations=2,
        rollouts=2,
        horizon=5,
        final_rollouts=2,
        eval_episodes=2,
    )
    # agent settings may also come as --set agent.FIELD=VALUE
    overrides = {"train.steps": 6, "train.batch_size": 2, "train.seq_len": 8, "agent.population": 4}
    out = tmp_path / "agent"
    first = train_vmc_agent(
        "reach", 60, out, preset="tiny", overrides=overrides, progress=False, **settings
    )
    assert first["stages"] == {
        "world_model": "trained",
        "controller": "evolved",
        "eval": "evaluated",
    }
    agent = json.loads((out / "agent.json").read_text())
    assert agent["agent"] == "vmc" and agent["env_id"] == "worldlab/Reach-v0"
    assert agent["world_model"] == "world_model" and agent["controller"] == "controller.npz"
    assert len(agent["fitness"]) == 2 and agent["settings"]["population"] == 4
    assert (out / "controller.npz").exists() and agent["env_steps"] >= 60
    assert read_agent_settings(out).population == 4
    # Cards written before "settings" kept the settings at their top level: still read.
    legacy = {key: value for key, value in agent.items() if key != "settings"}
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "agent.json").write_text(json.dumps({**legacy, **agent["settings"]}))
    assert read_agent_settings(tmp_path / "old") == read_agent_settings(out)
    evaluation = json.loads((out / "eval.json").read_text())
    assert len(evaluation["returns"]) == 2 and "random_policy" in evaluation

    model, policy = load_vmc_agent(out)
    replay = play_in_world(model, policy, episodes=2, seed=evaluation["seed"], progress=False)
    np.testing.assert_allclose(replay["returns"], evaluation["returns"])

    again = train_vmc_agent(
        "reach", 60, out, preset="tiny", overrides=overrides, progress=False, **settings
    )
    assert again["stages"] == {"world_model": "skipped", "controller": "skipped", "eval": "skipped"}
    assert again["eval"]["returns"] == evaluation["returns"]

    # The paper's CarRacing set-up on the same data and model: C scored in real episodes,
    # and C reading V's z alone (the paper's ablation).
    real = tmp_path / "real"
    for stage in ("data", "world_model"):
        shutil.copytree(out / stage, real / stage)
    found = train_vmc_agent(
        "reach", 60, real, preset="tiny", overrides=overrides, progress=False,
        **{**settings, "fitness": "real", "inputs": "z", "horizon": 7},
    )  # fmt: skip
    assert found["stages"]["controller"] == "evolved"
    card = found["agent"]
    # 4 candidates × 2 generations, then CMA-ES's mean and the best candidate, 2 rollouts
    # each, every episode cut at 7 steps.
    assert card["search_env_steps"] == (4 * 2 + 2) * 2 * 7
    z_dims = model.z_dims
    assert LinearController.load(real / "controller.npz").weight.shape == (2, z_dims)
    assert len(evaluate_agent(real, 1, progress=False)["returns"]) == 1


def test_load_agent_needs_an_agent_run(tmp_path):
    with pytest.raises(WorldlabError, match="agent.json is missing"):
        load_vmc_agent(tmp_path)
