"""Latent → real action maps, checked on a fake latent-action model with known codes."""

import json
import subprocess
import sys

import gymnasium
import numpy as np
import pytest
import torch

from worldlab.agents import DreamEnv
from worldlab.data import EpisodeDataset, collect
from worldlab.errors import WorldlabError
from worldlab.evaluate import ActionMap, fit_action_map, with_real_actions
from worldlab.models import ActionSpec, WorldModel
from worldlab.models.real_actions import RealActionModel
from worldlab.play import PlaySession
from worldlab.train import train

torch.set_num_threads(2)
PERMUTATION = torch.tensor([6, 2, 7, 0, 4])  # real bounce action → latent code (of 8)
NOISE = 0.1


class FakeLatentModel(WorldModel):
    """'Infers' latent codes from the real actions: ``PERMUTATION[action]``, replaced by a
    random code for a fraction ``noise`` of transitions. Records the codes it is driven by."""

    family = "fake-latent"
    Config = dict

    def __init__(self, obs_shape, noise: float = NOISE, codes=None):
        super().__init__({}, obs_shape, ActionSpec("discrete", n=8))
        self.noise, self.codes = noise, codes
        self.generator = torch.Generator().manual_seed(0)
        self.observed, self.stepped = [], []

    def infer_actions(self, obs, action):
        if self.codes is not None:
            return self.codes(action)
        codes = PERMUTATION[action.long()]
        flip = torch.rand(codes.shape, generator=self.generator) < self.noise
        random = torch.randint(0, 8, codes.shape, generator=self.generator)
        return torch.where(flip, random, codes)

    def observe(self, obs, action, is_first=None, state=None):
        self.observed.append(action.clone())
        return obs[:, -1].clone()

    def step(self, state, action):
        self.stepped.append(action.clone())
        return state, torch.zeros(len(state)), torch.ones(len(state))

    def render(self, state):
        return state

    def features(self, state):
        return state.flatten(1).float()

    @property
    def feature_dims(self):
        return int(np.prod(self.obs_shape))

    def loss(self, batch):
        raise NotImplementedError


@pytest.fixture(scope="module")
def bounce(tmp_path_factory):
    out = tmp_path_factory.mktemp("bounce_labelled")
    collect("bounce", out, episodes=8, max_steps=40, size=16, progress=False)
    return EpisodeDataset(out)


@pytest.fixture(scope="module")
def fitted(bounce):
    return fit_action_map(FakeLatentModel(bounce.obs_shape), bounce, progress=False)


def test_accuracy_matches_the_noise_and_beats_chance(fitted):
    metrics = fitted.metrics
    assert metrics["held_out"] and metrics["episodes_fit"] == 6 and metrics["episodes_scored"] == 2
    assert metrics["transitions_fit"] == 6 * 40 and metrics["transitions_scored"] == 2 * 40
    # A noisy code is still right when it happens to map to the true action (~1 in 8).
    assert 1 - NOISE - 0.08 <= metrics["accuracy"] <= 1.0
    assert metrics["chance"] < 0.4
    assert metrics["round_trip"] == 1.0


def test_maps_recover_the_permutation(fitted):
    assert fitted.real_to_latent == PERMUTATION.tolist()
    for real, code in enumerate(PERMUTATION.tolist()):
        assert fitted.latent_to_real[code] == real
    assert fitted.codes == 8 and sum(fitted.code_counts) == 8 * 40
    real = torch.tensor([[0, 4], [3, 1]])
    assert torch.equal(fitted.to_latent(real), PERMUTATION[real])
    assert torch.equal(fitted.to_real(fitted.to_latent(real)), real)
    with pytest.raises(WorldlabError, match="0..4"):
        fitted.to_latent(torch.tensor([5]))


def test_save_load_and_wrap(fitted, bounce, tmp_path):
    model = FakeLatentModel(bounce.obs_shape)
    with pytest.raises(WorldlabError, match="worldlab map-actions"):
        with_real_actions(model, tmp_path)
    assert with_real_actions(model, tmp_path, required=False) is model
    fitted.save(tmp_path / "action_map.json")
    assert ActionMap.load(tmp_path / "action_map.json") == fitted
    wrapped = with_real_actions(model, tmp_path)
    assert isinstance(wrapped, RealActionModel)  # model code, in worldlab.models
    assert wrapped.action_spec == ActionSpec("discrete", n=5)
    assert wrapped.family == "fake-latent" and wrapped.feature_dims == 16 * 16 * 3
    (tmp_path / "action_map.json").write_text("{broken")
    with pytest.raises(WorldlabError, match="corrupt"):
        with_real_actions(model, tmp_path)


def test_dream_env_takes_real_actions(fitted, bounce, tmp_path):
    fitted.save(tmp_path / "action_map.json")
    model = FakeLatentModel(bounce.obs_shape)
    env = DreamEnv(with_real_actions(model, tmp_path), bounce, num_envs=3, context=4)
    assert env.single_action_space == gymnasium.spaces.Discrete(5)
    env.reset(seed=0)
    # Context windows come with real actions: the model observes their codes.
    assert model.observed[-1].shape == (3, 4)
    assert set(model.observed[-1].unique().tolist()) <= set(PERMUTATION.tolist())
    obs, reward, terminated, truncated, _ = env.step(np.array([0, 3, 4]))
    assert torch.equal(model.stepped[-1], PERMUTATION[[0, 3, 4]])
    assert obs.shape == (3, 16, 16, 3)
    with pytest.raises(WorldlabError):
        env.step(np.array([5, 0, 0]))


def test_play_session_takes_real_actions(fitted, bounce, tmp_path):
    fitted.save(tmp_path / "action_map.json")
    model = FakeLatentModel(bounce.obs_shape)
    session = PlaySession(with_real_actions(model, tmp_path), context_frames=2)
    assert session.action_spec.n == 5
    session._begin(bounce.episode(0)["obs"][:2], None, is_first=True)
    session.step(3)
    assert model.stepped[-1].tolist() == [PERMUTATION[3].item()]


def test_continuous_actions_map_to_mean_actions(tmp_path):
    collect("reach", tmp_path, episodes=4, max_steps=30, size=16, progress=False)
    reach = EpisodeDataset(tmp_path)

    def quadrant(action):  # code = which quadrant the force points to
        return ((action[..., 0] > 0).long() + 2 * (action[..., 1] > 0).long()).long()

    action_map = fit_action_map(FakeLatentModel((16, 16, 3), codes=quadrant), reach, progress=False)
    metrics = action_map.metrics
    assert metrics["r2"] > 0.5 and metrics["mae"] < 0.75 * metrics["chance_mae"]
    assert action_map.real_to_latent is None and metrics["codes_used"] == 4
    means = np.array(action_map.latent_to_real)
    assert means[3, 0] > 0.3 and means[3, 1] > 0.3 and means[0, 0] < -0.3 and means[0, 1] < -0.3
    codes = action_map.to_latent(torch.tensor([[[0.9, 0.8], [-0.7, -0.9]]]))
    assert codes.tolist() == [[3, 0]]


def test_clear_errors(bounce, tmp_path):
    collect("bounce", tmp_path, episodes=1, max_steps=5, size=16, drop_actions=True, progress=False)
    model = FakeLatentModel(bounce.obs_shape)
    with pytest.raises(WorldlabError, match="has no actions"):
        fit_action_map(model, EpisodeDataset(tmp_path), progress=False)
    with pytest.raises(WorldlabError, match="--size"):
        fit_action_map(FakeLatentModel((32, 32, 3)), bounce, progress=False)
    single = fit_action_map(model, bounce, episodes=1, progress=False)
    assert not single.metrics["held_out"] and single.metrics["episodes_scored"] == 1


def test_map_actions_cli_on_a_labelled_rssm(tmp_path):
    collect("bounce", tmp_path / "data", episodes=3, max_steps=12, size=16, progress=False)
    overrides = {"train.steps": 1, "train.batch_size": 2, "train.seq_len": 4}
    train("rssm", tmp_path / "data", tmp_path / "run", "tiny", overrides, progress=False)
    command = [sys.executable, "-m", "worldlab.cli.main", "map-actions", tmp_path / "run"]
    result = subprocess.run(
        [*command, "--data", tmp_path / "data"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    # rssm is trained with real actions: its "latent" actions are the real ones.
    assert "accuracy 1.000 vs chance" in result.stdout
    saved = json.loads((tmp_path / "run" / "action_map.json").read_text())
    assert saved["real_to_latent"] == [0, 1, 2, 3, 4]
    missing = subprocess.run(
        [*command, "--data", tmp_path / "nope"], capture_output=True, text=True, timeout=120
    )
    assert missing.returncode == 2 and "does not exist" in missing.stderr
