"""ΔtPSNR: checked on ground truth first (a simulator as the model), then end to end."""

import copy
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

import worldlab
from worldlab.data import EpisodeDataset, collect, drop_actions
from worldlab.errors import WorldlabError
from worldlab.evaluate import delta_psnr, evaluate_run, write_html_report
from worldlab.evaluate.metrics import PSNR_CAP
from worldlab.models import ActionSpec, WorldModel
from worldlab.train import train
from worldlab.worlds import make_env

torch.set_num_threads(2)
T, CONTEXT = 4, 3


class SimulatorOracle(WorldModel):
    """Imagines with the real world itself: finds each context window among the held
    episodes, replays that episode in a fresh env (episode i was collected with seed i)
    up to the last context frame, then steps copies of the env under the given actions.
    Its futures are exactly what the world does under any action."""

    family = "simulator-oracle"
    Config = dict

    def __init__(self, dataset: EpisodeDataset, **env_kwargs):
        spec = ActionSpec.from_manifest(dataset.manifest.action)
        super().__init__({}, dataset.obs_shape, spec)
        self.episodes = [dataset.episode(i) for i in range(len(dataset))]
        self.env_id, self.env_kwargs = dataset.manifest.env_id, env_kwargs

    def _find(self, window: np.ndarray) -> tuple[int, int]:
        for index, episode in enumerate(self.episodes):
            for start in range(len(episode["obs"]) - len(window) + 1):
                if np.array_equal(episode["obs"][start : start + len(window)], window):
                    return index, start
        raise AssertionError("context frames not found in the held episodes")

    def _env_action(self, action):
        action = np.asarray(action)
        return int(action) if self.action_spec.kind == "discrete" else action.astype(np.float32)

    def observe(self, obs, action, is_first=None, state=None):
        states = []
        for window in obs.cpu().numpy():
            index, start = self._find(window)
            env = make_env(self.env_id, size=window.shape[1], **self.env_kwargs)
            frame, _ = env.reset(seed=index)
            for recorded in self.episodes[index]["action"][1 : start + len(window)]:
                frame = env.step(self._env_action(recorded))[0]
            assert np.array_equal(frame, window[-1]), "replay does not reproduce the data"
            states.append((env, frame))
        return states

    def step(self, state, action):
        following = []
        for (env, _), one in zip(state, action.cpu().numpy(), strict=True):
            env = copy.deepcopy(env)  # the caller's state stays valid for another rollout
            following.append((env, env.step(self._env_action(one))[0]))
        return following, torch.zeros(len(state)), torch.ones(len(state))

    def render(self, state):
        return torch.from_numpy(np.stack([frame for _, frame in state]))

    def loss(self, batch):
        raise NotImplementedError

    def features(self, state):
        raise NotImplementedError


class NoisyActionBlindModel(WorldModel):
    """Ignores actions, but samples noise in every step: with shared sampling seeds both
    arms see the same noise, so ΔtPSNR must be exactly 0."""

    family = "noisy"
    Config = dict

    def __init__(self, obs_shape, spec: ActionSpec):
        super().__init__({}, obs_shape, spec)

    def observe(self, obs, action, is_first=None, state=None):
        return obs[:, -1].float()

    def step(self, state, action):
        state = (state + 40 * torch.randn_like(state)).clamp(0, 255)
        return state, torch.zeros(len(state)), torch.ones(len(state))

    def render(self, state):
        return state.round().to(torch.uint8)

    def loss(self, batch):
        raise NotImplementedError

    def features(self, state):
        raise NotImplementedError


def collected(tmp_path_factory, env, **env_kwargs):
    out = tmp_path_factory.mktemp(env)
    collect(env, out, episodes=3, max_steps=20, size=32, env_kwargs=env_kwargs, progress=False)
    return EpisodeDataset(out)


@pytest.fixture(scope="module")
def reach(tmp_path_factory):
    return collected(tmp_path_factory, "reach")


@pytest.fixture(scope="module")
def bounce_blind(tmp_path_factory):
    return collected(tmp_path_factory, "bounce", controllable=False)


def test_oracle_on_reach_is_controllable(reach):
    result = delta_psnr(SimulatorOracle(reach), reach, t=T, context=CONTEXT, progress=False)
    assert result["applicable"] and result["windows"] == 12 and result["t"] == T
    assert result["actions"] == "dataset"
    assert result["psnr_inferred"] == PSNR_CAP  # the real actions reproduce the real frame
    assert result["psnr_random"] < 45
    assert result["delta_psnr"] > 20
    assert result["delta_psnr"] - result["delta_psnr_ci"] > 0  # the interval excludes 0


def test_oracle_on_uncontrollable_bounce_scores_zero(bounce_blind):
    oracle = SimulatorOracle(bounce_blind, controllable=False)
    result = delta_psnr(oracle, bounce_blind, t=T, context=CONTEXT, progress=False)
    assert result["applicable"] and result["windows"] == 12
    assert result["psnr_inferred"] == result["psnr_random"] == PSNR_CAP
    assert result["delta_psnr"] == 0.0 and result["delta_psnr_ci"] == 0.0


def test_shared_sampling_noise_cancels(reach):
    model = NoisyActionBlindModel(reach.obs_shape, ActionSpec("continuous", dims=2))
    result = delta_psnr(model, reach, t=T, context=CONTEXT, random_draws=2, progress=False)
    assert result["psnr_inferred"] < 30  # the noise is real...
    assert result["delta_psnr"] == 0.0  # ...but identical in both arms


def test_repeatable_under_a_seed_and_json_able(reach):
    oracle = SimulatorOracle(reach)
    first = delta_psnr(oracle, reach, t=2, context=2, windows=2, seed=3, progress=False)
    again = delta_psnr(oracle, reach, t=2, context=2, windows=2, seed=3, progress=False)
    assert first == again
    json.dumps(first, allow_nan=False)
    single = delta_psnr(oracle, reach, t=2, context=2, episodes=1, windows=1, progress=False)
    assert single["windows"] == 1 and single["delta_psnr_ci"] is None


def test_not_applicable_without_actions(reach, tmp_path):
    blind = NoisyActionBlindModel(reach.obs_shape, ActionSpec("none"))
    result = delta_psnr(blind, reach, progress=False)
    assert result == {"applicable": False, "reason": result["reason"]}
    assert "takes no actions" in result["reason"]
    drop_actions(reach.root, tmp_path / "video", progress=False)
    labelled = NoisyActionBlindModel(reach.obs_shape, ActionSpec("continuous", dims=2))
    result = delta_psnr(labelled, EpisodeDataset(tmp_path / "video"), progress=False)
    assert not result["applicable"] and "labelled dataset" in result["reason"]
    with pytest.raises(WorldlabError, match="must be ≥ 1"):
        delta_psnr(labelled, reach, t=0, progress=False)


# -- end to end on a trained rssm ------------------------------------------------------
@pytest.fixture(scope="module")
def rssm_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("rssm")
    collect("bounce", root / "data", episodes=2, max_steps=16, size=32, progress=False)
    overrides = {"train.steps": 2, "train.batch_size": 2, "train.seq_len": 6}
    train("rssm", root / "data", root / "run", "tiny", overrides, progress=False)
    return root


def test_evaluate_run_reports_controllability_and_html(rssm_run, tmp_path):
    model = worldlab.load(rssm_run / "run")
    data = EpisodeDataset(rssm_run / "data")
    report = evaluate_run(
        model, data, horizon=3, context=2, starts=2, delta_t=3, random_draws=2, progress=False
    )
    section = report["controllability"]
    assert section["applicable"] and section["t"] == 3 and section["windows"] == 4
    assert section["random_draws"] == 2
    assert all(isinstance(section[k], float) for k in ("delta_psnr", "psnr_random"))
    page = write_html_report(tmp_path, report, [], tmp_path / "plot.png", {}, {})
    assert "Controllability (ΔtPSNR)" in page.read_text()
    off = evaluate_run(model, data, 3, 2, 1, 1, controllability=False, progress=False)
    assert "controllability" not in off


def test_evaluate_cli_prints_and_saves_controllability(rssm_run, tmp_path):
    def evaluate(*extra):
        command = [sys.executable, "-m", "worldlab.cli.main", "evaluate", rssm_run / "run"]
        command += ["--data", rssm_run / "data", "--horizon", "3", "--context", "2"]
        command += ["--starts", "1", "--out", tmp_path / "report.json", *extra]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        return result.stdout, json.loads((tmp_path / "report.json").read_text())

    out, report = evaluate("--delta-t", "2")
    assert "controllability: Δ2PSNR" in out and "random" in out
    assert report["controllability"]["t"] == 2 and report["controllability"]["windows"] == 2
    out, report = evaluate("--no-controllability")
    assert "controllability" not in out and "controllability" not in report
