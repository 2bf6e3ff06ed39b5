"""What only the ``flow`` family has: its flow-matching math, context handling, shortcut
steps, guidance, EMA, the DiT's size-free positions, and that it learns."""

import numpy as np
import pytest
import torch

import worldlab
from worldlab.agents import DreamEnv
from worldlab.agents.mpc import run_mpc
from worldlab.agents.planning import PlannerConfig
from worldlab.bench import random_batch
from worldlab.data import EpisodeDataset, collect
from worldlab.errors import WorldlabError
from worldlab.evaluate.run import evaluate_run
from worldlab.models import ActionSpec, get_family
from worldlab.models.flow import flow
from worldlab.models.flow.config import PRESETS, FlowConfig
from worldlab.train import train

torch.set_num_threads(1)


def tiny_model(size=32, action=ActionSpec("discrete", n=5), **overrides):
    config = FlowConfig(**{**PRESETS["tiny"], **overrides})
    return get_family("flow")(config, (size, size, 3), action)


# -- flow matching ---------------------------------------------------------------------
def test_interpolation_runs_from_noise_to_data_and_the_shift_favours_noise():
    clean, noise = torch.ones(2, 3), torch.zeros(2, 3)
    assert torch.equal(
        flow.interpolate(clean, noise, torch.tensor([0.0, 1.0])),
        torch.tensor([[0.0] * 3, [1.0] * 3]),
    )
    times = torch.linspace(0.05, 0.95, 10)
    assert torch.equal(flow.shift_time(times, 1.0), times)
    shifted = flow.shift_time(times, 3.0)
    assert (shifted < times).all() and (shifted.diff() > 0).all()
    torch.manual_seed(0)
    drawn = flow.sample_times(20_000, 0.0, 1.0, 1.0, "cpu")
    assert 0 < drawn.min() and drawn.max() < 1 and abs(drawn.median() - 0.5) < 0.02


@pytest.mark.parametrize("steps", [1, 2, 3, 8])
@pytest.mark.parametrize("solver", ["euler", "heun"])
def test_a_perfect_denoiser_lands_on_its_target_in_any_number_of_steps(steps, solver):
    target = torch.randn(4, 3, 8, 8)
    calls = []

    def denoise(x, time, level):
        calls.append(level[0].item())
        return target

    out = flow.sample(denoise, torch.randn_like(target), steps, levels=6, solver=solver)
    torch.testing.assert_close(out, target)
    assert len(calls) == (steps if solver == "euler" else 2 * steps - 1)
    assert calls[0] == min(round(torch.log2(torch.tensor(float(steps))).item()), 6)


def test_the_expected_frame_is_one_prediction_from_noise_at_the_finest_step():
    calls = []

    def denoise(x, time, level):
        calls.append((time.tolist(), level.tolist()))
        return x * 0 + 0.5

    out = flow.expected(denoise, torch.randn(3, 1, 2, 2), levels=6)
    assert calls == [([0.0] * 3, [6] * 3)]
    torch.testing.assert_close(out, torch.full((3, 1, 2, 2), 0.5))


def test_shortcut_targets_agree_with_a_consistent_denoiser():
    """If every half step already points at x*, the big step's target is x* too."""
    target = torch.randn(64, 3, 4, 4)
    x, time, level, goal = flow.shortcut_targets(lambda x, t, k: target, target, levels=4)
    torch.testing.assert_close(goal, target, atol=1e-4, rtol=1e-4)
    assert ((0 <= level) & (level < 4)).all()
    step = 2.0 ** (-level.float())
    assert torch.allclose(time / step, (time / step).round()) and (time + step <= 1).all()


# -- context and targets ---------------------------------------------------------------
def test_context_repeats_the_first_frame_of_an_episode_and_never_crosses_it():
    model = tiny_model(context_frames=3)
    is_first = torch.zeros(1, 8, dtype=torch.bool)
    is_first[0, 0] = is_first[0, 4] = True
    index = model._context_index(is_first, torch.tensor([0, 0, 0]), torch.tensor([1, 5, 7]))
    assert index.tolist() == [[0, 0, 0], [4, 4, 4], [4, 5, 6]]
    rows, times = model._pick_targets(is_first.expand(50, -1).clone())
    assert not is_first[0, times].any() and (times >= 1).all()


def test_targets_see_a_whole_context_unless_their_episode_starts_in_the_window():
    """Mid-episode, a frame near the window's start would see a repeated frame as context."""
    model = tiny_model(context_frames=3)  # tiny: 2 targets per window
    is_first = torch.zeros(200, 6, dtype=torch.bool)
    is_first[100:, 1] = True  # the second half: an episode starts at frame 1
    rows, times = model._pick_targets(is_first)
    mid, started = times[rows < 100], times[rows >= 100]
    assert (mid >= 3).all() and len(mid) == 200
    assert (started >= 2).all() and (started <= 3).any()  # frames 2–3 see that start
    short = torch.zeros(10, 3, dtype=torch.bool)  # windows shorter than the context
    assert len(model._pick_targets(short)[1]) == 20  # still trains, on what there is


def test_observe_restarts_the_context_at_an_episode_start():
    model = tiny_model(context_frames=3).eval()
    obs = torch.arange(6, dtype=torch.uint8).reshape(1, 6, 1, 1, 1).expand(1, 6, 32, 32, 3)
    is_first = torch.tensor([[True, False, False, False, True, False]])
    state = model.observe(obs, torch.zeros(1, 6, dtype=torch.long), is_first)
    assert state.frames[0, :, 0, 0, 0].tolist() == [4, 4, 5]


# -- sampling --------------------------------------------------------------------------
def test_guidance_and_steps_change_what_is_imagined():
    model = tiny_model().eval()
    with torch.no_grad():  # weights away from the zero init, so the action matters
        for parameter in model.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.05)
    batch = random_batch(2, 4, 32, 5)
    state = model.observe(batch["obs"], batch["action"])

    def imagined(**settings):
        torch.manual_seed(0)
        with model.sampling(**settings):
            return model.imagine(state, torch.tensor([[1], [3]]))["frames"]

    assert not torch.equal(imagined(guidance=1.0), imagined(guidance=3.0))
    assert not torch.equal(imagined(sampling_steps=1), imagined(sampling_steps=4))
    assert torch.equal(imagined(), imagined())
    mean = imagined(prediction="mean", sampling_steps=1)
    assert torch.equal(mean, imagined(prediction="mean", sampling_steps=8))
    assert not torch.equal(mean, imagined(sampling_steps=1))


def test_ema_follows_the_trained_weights_and_is_what_imagines():
    model = tiny_model()
    online = next(model.denoiser.parameters())
    averaged = next(model.ema["denoiser"].parameters())
    with torch.no_grad():
        online.add_(1.0)
    before = (averaged - online).abs().mean()
    model.after_step()
    assert (averaged - online).abs().mean() < before
    assert all(not p.requires_grad for p in model.ema.parameters())
    assert tiny_model(ema_decay=0.0).ema is None


def test_the_dit_runs_on_other_frame_sizes_and_context_lengths_with_the_same_weights():
    big = tiny_model(32, backbone="dit")
    small = tiny_model(16, backbone="dit", context_frames=2)
    for part in ("denoiser", "conditioning", "ema"):  # the reward heads read fixed sizes
        getattr(small, part).load_state_dict(getattr(big, part).state_dict())
    batch = random_batch(2, 4, 16, 5)
    out = small.eval().imagine(
        small.observe(batch["obs"], batch["action"]), torch.tensor([[0], [1]])
    )
    assert out["frames"].shape == (2, 1, 16, 16, 3)


def test_bad_settings_are_clear_errors():
    with pytest.raises(WorldlabError, match="multiples of 2"):
        tiny_model(size=33)
    with pytest.raises(WorldlabError, match="backbone"):
        tiny_model(backbone="mlp")
    with pytest.raises(WorldlabError, match="even"):
        tiny_model(backbone="dit", width=30, heads=2)
    with pytest.raises(WorldlabError, match="model.prediction must be one of sample, mean"):
        tiny_model(prediction="median")
    model = tiny_model().eval()
    state = model.observe(*(lambda b: (b["obs"], b["action"]))(random_batch(2, 3, 32, 5)))
    with pytest.raises(WorldlabError, match="one action per imagined episode"):
        model.step(state, torch.tensor([1, 2, 3]))
    with pytest.raises(WorldlabError, match="windows need"):
        model.loss(random_batch(2, 1, 32, 5))


# -- learning --------------------------------------------------------------------------
def test_denoising_loss_falls_on_a_fixed_batch():
    """Each window shows one still colour: the next frame is its context, learnable fast."""
    torch.manual_seed(0)
    model = tiny_model()
    batch = random_batch(8, 6, 32, 5)
    colours = torch.randint(0, 256, (8, 1, 1, 1, 3), dtype=torch.uint8)
    batch["obs"] = colours.expand(8, 6, 32, 32, 3).contiguous()

    def held_out_loss():
        torch.manual_seed(123)
        with torch.no_grad():
            return float(model.loss(batch)[1]["denoise_loss"])

    before = held_out_loss()
    optimizer = model.optimizer()
    for _ in range(60):
        loss, _ = model.loss(batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        model.after_step()
    assert held_out_loss() < 0.5 * before


def test_a_flow_run_works_in_every_downstream_tool(tmp_path):
    """No family-specific branch downstream: evaluate, imagine, DreamEnv and MPC take it."""
    collect("reach", tmp_path / "data", episodes=3, max_steps=12, size=32, progress=False)
    small = {"train.steps": 3, "train.batch_size": 2, "train.seq_len": 6}
    train("flow", tmp_path / "data", tmp_path / "run", "tiny", small, progress=False)
    model = worldlab.load(tmp_path / "run")
    assert model.family == "flow" and int(model.ema_updates) == 3
    assert model.run_config["family"] == "flow"
    dataset = EpisodeDataset(tmp_path / "data")
    report = evaluate_run(model, dataset, horizon=3, context=2, starts=1, progress=False)
    assert len(report["model"]["psnr"]) == 3 and "controllability" in report
    env = DreamEnv(model, dataset, num_envs=2, context=2, max_steps=3)
    obs, _ = env.reset(seed=0)
    obs, reward, *_ = env.step(np.zeros((2, 2), np.float32))
    assert obs.shape == (2, 32, 32, 3) and reward.shape == (2,)
    config = PlannerConfig(horizon=2, iterations=1, samples=8, elites=2)
    result = run_mpc(model, episodes=1, config=config, max_steps=2, progress=False)
    assert len(result["returns"]) == 1
