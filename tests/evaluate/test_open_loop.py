"""Open-loop evaluation: checked on a ground-truth oracle first, then on an untrained model."""

import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from worldlab.data import EpisodeDataset, collect
from worldlab.errors import DatasetError, WorldlabError
from worldlab.evaluate import (
    evaluate_open_loop,
    mean_dataset_frame,
    plot_over_horizon,
    psnr,
    save_report,
)
from worldlab.evaluate.metrics import PSNR_CAP
from worldlab.evaluate.open_loop import window_starts
from worldlab.models import ActionSpec, WorldModel, get_family
from worldlab.models.rssm import PRESETS, RSSMConfig

torch.set_num_threads(2)
HORIZON, CONTEXT = 6, 3


class OracleModel(WorldModel):
    """Cheats: holds the true episodes, finds the window from its context frames, and
    'imagines' the recorded future. A correct extractor must score it as perfect."""

    family = "oracle"
    Config = dict

    def __init__(self, dataset: EpisodeDataset):
        super().__init__({}, dataset.obs_shape, ActionSpec.from_manifest(dataset.manifest.action))
        self.episodes = [dataset.episode(i) for i in range(len(dataset))]
        self.anchor = nn.Parameter(torch.zeros(()))  # gives the model a device

    def observe(self, obs, action, is_first=None):
        context = obs.shape[1]
        states = []
        for window in obs.cpu().numpy():
            found = [
                (e, t)
                for e, episode in enumerate(self.episodes)
                for t in range(len(episode["obs"]) - context + 1)
                if np.array_equal(episode["obs"][t : t + context], window)
            ]
            assert found, "context frames not found in the held episodes"
            episode, start = found[0]
            states.append((episode, start + context - 1))
        return torch.tensor(states)

    def step(self, state, action):
        state = state + torch.tensor([0, 1])
        reward = torch.tensor([float(self.episodes[e]["reward"][t]) for e, t in state.tolist()])
        return state, reward, torch.ones(len(state))

    def render(self, state):
        return torch.from_numpy(np.stack([self.episodes[e]["obs"][t] for e, t in state.tolist()]))

    def loss(self, batch):
        raise NotImplementedError

    def features(self, state):
        return state.float()


@pytest.fixture(scope="module")
def bounce(tmp_path_factory):
    out = tmp_path_factory.mktemp("bounce_eval")
    collect("bounce", out, episodes=3, max_steps=30, size=32, progress=False)
    return EpisodeDataset(out)


def tiny_rssm(dataset):
    torch.manual_seed(0)
    return get_family("rssm")(
        RSSMConfig(**PRESETS["tiny"]),
        (32, 32, 3),
        ActionSpec.from_manifest(dataset.manifest.action),
    )


def check_layout(report, horizon):
    assert set(report) == {"horizon", "context", "windows", "model", "baselines", "summary"}
    assert report["horizon"] == horizon and report["context"] == CONTEXT
    assert set(report["model"]) == {"psnr", "psnr_ci", "ssim", "ssim_ci", "reward_mae"}
    assert set(report["baselines"]) == {"repeat_last", "mean_frame"}
    blocks = [report["model"], *report["baselines"].values()]
    for block in blocks:
        assert set(block) - {"reward_mae"} == {"psnr", "psnr_ci", "ssim", "ssim_ci"}
        for values in block.values():
            assert len(values) == horizon
            assert all(isinstance(v, float) and math.isfinite(v) for v in values)
    assert set(report["summary"]) == {
        "model_psnr_mean",
        "best_baseline_psnr_mean",
        "beats_best_baseline_at",
    }
    assert len(report["summary"]["beats_best_baseline_at"]) == horizon
    json.dumps(report, allow_nan=False)  # JSON-able as is


def test_oracle_scores_perfect_and_beats_baselines(bounce):
    report = evaluate_open_loop(
        OracleModel(bounce), bounce, horizon=HORIZON, context=CONTEXT, batch_size=5, progress=False
    )
    check_layout(report, HORIZON)
    assert report["windows"] == 3 * 4
    assert report["model"]["psnr"] == [PSNR_CAP] * HORIZON
    assert report["model"]["psnr_ci"] == [0.0] * HORIZON
    assert report["model"]["ssim"] == pytest.approx([1.0] * HORIZON, abs=1e-6)
    assert report["model"]["reward_mae"] == [0.0] * HORIZON
    assert all(report["summary"]["beats_best_baseline_at"])
    for baseline in report["baselines"].values():
        assert max(baseline["psnr"]) < PSNR_CAP and max(baseline["ssim"]) < 1


def test_repeat_last_baseline_matches_hand_computation(bounce):
    # One episode, one window: its start is the first stratum's draw under the seed.
    report = evaluate_open_loop(
        OracleModel(bounce),
        bounce,
        horizon=HORIZON,
        context=CONTEXT,
        episodes=1,
        starts_per_episode=1,
        seed=5,
        progress=False,
    )
    assert report["windows"] == 1
    assert report["model"]["psnr_ci"] == [None] * HORIZON  # no interval from one window
    length = bounce.lengths[0]
    (start,) = window_starts(length, CONTEXT + HORIZON, 1, np.random.default_rng([5, 0]))
    obs = bounce.episode(0)["obs"]
    expected = psnr(obs[start + CONTEXT - 1], obs[start + CONTEXT]).item()
    assert report["baselines"]["repeat_last"]["psnr"][0] == pytest.approx(expected, rel=1e-6)
    mean_image = np.rint(obs.astype(np.float64).mean(0)).astype(np.uint8)
    expected = psnr(mean_image, obs[start + CONTEXT + 2]).item()
    assert report["baselines"]["mean_frame"]["psnr"][2] == pytest.approx(expected, rel=1e-6)


def test_window_starts_spread_and_fit():
    starts = window_starts(31, 9, 4, np.random.default_rng(0))
    assert len(starts) == 4 and starts == sorted(set(starts))
    assert starts[0] <= 5 < starts[-1] and starts[-1] <= 31 - 9
    assert window_starts(10, 9, 4, np.random.default_rng(0)) == [0, 1]  # only two fit
    assert window_starts(8, 9, 4, np.random.default_rng(0)) == []


def test_untrained_rssm_report_is_complete_and_deterministic(bounce):
    model = tiny_rssm(bounce)
    train_mean = mean_dataset_frame(bounce, max_frames=300)
    assert train_mean.shape == (32, 32, 3) and train_mean.dtype == np.float32
    kwargs = dict(
        horizon=HORIZON,
        context=CONTEXT,
        starts_per_episode=2,
        mean_frame=train_mean,
        seed=3,
        batch_size=4,
        progress=False,
    )
    first = evaluate_open_loop(model, bounce, **kwargs)
    torch.rand(5)  # the caller's random state must not matter
    second = evaluate_open_loop(model, bounce, **kwargs)
    check_layout(first, HORIZON)
    assert first == second
    assert first["windows"] == 6
    other = evaluate_open_loop(model, bounce, **{**kwargs, "seed": 4})
    assert other != first  # another seed draws other windows and other latent samples


def test_evaluation_leaves_the_callers_random_state_alone(bounce):
    model = OracleModel(bounce)
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    evaluate_open_loop(model, bounce, horizon=2, context=2, episodes=1, progress=False)
    assert torch.equal(torch.rand(3), expected)


def test_action_free_dataset(tmp_path):
    collect(
        "bounce", tmp_path, episodes=1, max_steps=12, size=32, drop_actions=True, progress=False
    )
    dataset = EpisodeDataset(tmp_path)
    assert not dataset.has_actions
    report = evaluate_open_loop(
        tiny_rssm(dataset),
        dataset,
        horizon=4,
        context=CONTEXT,
        starts_per_episode=2,
        progress=False,
    )
    check_layout(report, 4)


def test_errors_name_the_problem(bounce):
    model = tiny_rssm(bounce)
    with pytest.raises(DatasetError, match="no evaluated episode"):
        evaluate_open_loop(model, bounce, horizon=40, context=CONTEXT, progress=False)
    with pytest.raises(WorldlabError, match="mean_frame has shape"):
        evaluate_open_loop(
            model, bounce, horizon=2, context=2, mean_frame=np.zeros((8, 8, 3)), progress=False
        )


def test_save_report_writes_json_and_plot(bounce, tmp_path):
    report = evaluate_open_loop(
        OracleModel(bounce),
        bounce,
        horizon=HORIZON,
        context=CONTEXT,
        episodes=1,
        starts_per_episode=1,
        progress=False,
    )
    json_path, png_path = save_report(report, tmp_path / "eval" / "open_loop.json")
    assert json.loads(json_path.read_text()) == report  # None CIs survive the round trip
    assert png_path == tmp_path / "eval" / "open_loop.png"
    assert png_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in png_path.parent.iterdir()) == ["open_loop.json", "open_loop.png"]
    again = plot_over_horizon(report, tmp_path / "again.png")
    assert again.stat().st_size > 1000
