import json
import shutil

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import worldlab
from worldlab.bench import random_batch
from worldlab.data import EpisodeDataset, collect
from worldlab.errors import WorldlabError
from worldlab.evaluate.imagine import imagine_episode
from worldlab.models import ActionSpec, get_family
from worldlab.models.genie import PRESETS, GenieConfig, GenieState
from worldlab.models.genie.dynamics import still_masked
from worldlab.models.genie.lam import warp
from worldlab.models.genie.model import COMPONENTS
from worldlab.models.genie.quantizer import VectorQuantizer
from worldlab.models.genie.transformer import STTransformer, segments_from_is_first
from worldlab.train import train
from worldlab.train.checkpoint import checkpoint_dirs

SMALL = {"train.batch_size": 4, "train.seq_len": 4, "train.log_every": 10, "train.threads": 1}
TOKENIZER_STEPS, LAM_STEPS, DYNAMICS_STEPS = 300, 380, 460  # cumulative totals


def tiny_model(size=32, **overrides):
    config = GenieConfig(**{**PRESETS["tiny"], **overrides})
    return get_family("genie")(config, (size, size, 3), ActionSpec("none"))


def frames(batch=2, steps=4, size=32, seed=0):
    return random_batch(batch, steps, size, actions=1, seed=seed)["obs"]


def no_actions(obs):
    return torch.zeros(*obs.shape[:2], 0)


def component_weights(model, name):
    return {k: v.clone() for k, v in getattr(model, name).state_dict().items()}


def same_weights(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models run fastest on one thread, and a busy machine cannot stall it."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("platformer32")
    collect(
        "platformer", root, episodes=6, max_steps=30, size=32, drop_actions=True, progress=False
    )
    return root


@pytest.fixture(scope="module")
def staged_run(data, tmp_path_factory):
    """One run trained stage by stage; the weights after each stage, for comparison."""
    run = tmp_path_factory.mktemp("genie") / "run"
    weights = {}
    for stage, steps in (
        ("tokenizer", TOKENIZER_STEPS),
        ("lam", LAM_STEPS),
        ("dynamics", DYNAMICS_STEPS),
    ):
        overrides = {"model.stage": stage, "train.steps": steps}
        if stage == "tokenizer":
            train("genie", data, run, "tiny", {**SMALL, **overrides}, progress=False)
        else:
            summary = train("genie", data, run, None, overrides, resume=True, progress=False)
            assert any("model.stage" in note for note in summary["notes"])
        model = worldlab.load(run)
        weights[stage] = {name: component_weights(model, name) for name in COMPONENTS}
    return run, weights


# -- ST-transformer ------------------------------------------------------------------
def test_temporal_attention_is_causal_and_respects_episode_starts():
    torch.manual_seed(0)
    block = STTransformer(width=32, layers=2, heads=2).eval()
    x = torch.randn(2, 6, 5, 32)
    changed = x.clone()
    changed[:, 3:] = torch.randn(2, 3, 5, 32)
    torch.testing.assert_close(block(x)[:, :3], block(changed)[:, :3], rtol=0, atol=1e-6)
    assert not torch.allclose(block(x)[:, 3:], block(changed)[:, 3:])
    # A new episode at frame 3: its frames ignore everything before it.
    is_first = torch.zeros(2, 6, dtype=torch.bool)
    is_first[:, 3] = True
    segment = segments_from_is_first(is_first)
    earlier = x.clone()
    earlier[:, :3] = torch.randn(2, 3, 5, 32)
    torch.testing.assert_close(
        block(x, segment)[:, 3:], block(earlier, segment)[:, 3:], rtol=0, atol=1e-6
    )


def test_cached_frames_give_the_same_output_as_one_pass():
    torch.manual_seed(0)
    block = STTransformer(width=32, layers=2, heads=2).eval()
    x = torch.randn(2, 5, 4, 32)
    segment = torch.zeros(2, 5, dtype=torch.long)
    whole, _ = block.run(x, segment)
    _, cache = block.run(x[:, :4], segment[:, :4])
    last, _ = block.run(x[:, 4:], segment[:, 4:], cache, segment[:, :4])
    torch.testing.assert_close(last, whole[:, 4:], rtol=1e-5, atol=1e-5)


def test_tokenizer_lam_and_dynamics_are_causal_in_time():
    torch.manual_seed(0)
    model = tiny_model().eval()
    obs = frames(steps=4)
    changed = obs.clone()
    changed[:, 2:] = frames(steps=2, seed=1)
    pixels, other = obs.float() / 255, changed.float() / 255
    segment = torch.zeros(2, 4, dtype=torch.long)
    for encode in (model.tokenizer.encode, model.lam.encode):
        torch.testing.assert_close(
            encode(pixels, segment)[:, :2], encode(other, segment)[:, :2], rtol=0, atol=1e-6
        )
    tokens = torch.randint(0, 64, (2, 4, model.tokenizer.tokens))
    actions = torch.randint(0, 8, (2, 4))
    later = tokens.clone()
    later[:, 2:] = torch.randint(0, 64, (2, 2, model.tokenizer.tokens))
    torch.testing.assert_close(
        model.dynamics(tokens, actions, segment)[:, :2],
        model.dynamics(later, actions, segment)[:, :2],
        rtol=0,
        atol=1e-6,
    )


# -- latent action model -------------------------------------------------------------
def moving_square(batch, steps, size=32, seed=0):
    """A square that moves 2 pixels left or right each step: frames ``[B, T, H, W, 3]`` in
    [0, 1] and each transition's direction ``[B, T - 1]`` (0 left, 1 right)."""
    generator = torch.Generator().manual_seed(seed)
    directions = torch.randint(0, 2, (batch, steps - 1), generator=generator)
    left = torch.randint(10, size - 16, (batch, 1), generator=generator)
    top = torch.randint(0, size - 6, (batch,), generator=generator)
    lefts = torch.cat([left, left + (4 * directions - 2).cumsum(1)], 1)
    video = torch.full((batch, steps, size, size, 3), 0.2)
    for b in range(batch):
        for t in range(steps):
            video[b, t, top[b] : top[b] + 6, lefts[b, t] : lefts[b, t] + 6] = 1.0
    return video, directions


def test_lam_codes_learn_the_motion_not_the_window_position():
    """Genie's LAM with frame-index positions and a decoder of whole frames coded each
    transition's place in the window here (3 codes, ~0.57 accuracy)."""
    torch.manual_seed(0)
    lam = tiny_model(lam_patch=8).lam.train()
    optimizer = torch.optim.AdamW(lam.parameters(), lr=1e-3, betas=(0.9, 0.9))
    segment = torch.zeros(16, 4, dtype=torch.long)
    for step in range(200):
        loss, _, _ = lam.loss(moving_square(16, 4, seed=step + 1)[0], segment)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    video, directions = moving_square(64, 4, seed=10**6)
    codes = lam.eval().infer(video, torch.zeros(64, 4, dtype=torch.long))[:, 1:]
    votes = torch.zeros(8, 2).index_put_(
        (codes.flatten(), directions.flatten()), torch.ones(codes.numel()), accumulate=True
    )
    assert votes.max(1).values.sum() / codes.numel() > 0.75  # majority direction per code


def test_lam_encoder_ignores_where_a_transition_sits_in_the_window():
    lam = tiny_model().lam.eval()
    still = frames(steps=1).float().div(255).expand(2, 4, 32, 32, 3)  # one frame, repeated
    encoded = lam.encode(still, torch.zeros(2, 4, dtype=torch.long))
    torch.testing.assert_close(encoded[:, 1:], encoded[:, 1:2].expand(-1, 3, -1))


@pytest.mark.parametrize("output", ["change", "warp"])
def test_lam_decoder_starts_from_the_last_frame_alone(output):
    lam = tiny_model(lam_decoder_output=output).lam.eval()
    torch.nn.init.zeros_(lam.unembed.weight)
    torch.nn.init.zeros_(lam.unembed.bias)
    pixels = frames(steps=4).float() / 255
    segment = torch.zeros(2, 4, dtype=torch.long)
    actions = torch.randn(2, 3, lam.action_embed.in_features)
    torch.testing.assert_close(lam.decode(pixels, actions, segment), pixels[:, :-1])
    lam.to_flow.bias.data.fill_(1.0)  # any prediction of x_{t+1} reads x_t, not x_{<t}
    earlier = pixels.clone()
    earlier[:, :2] = frames(steps=2, seed=1).float() / 255
    torch.testing.assert_close(
        lam.decode(pixels, actions, segment)[:, 2], lam.decode(earlier, actions, segment)[:, 2]
    )


def test_warp_moves_a_frame_by_its_flow():
    image = torch.rand(1, 1, 32, 32, 3)
    flow = torch.zeros(1, 1, 16, 2)
    flow[..., 0] = 1.0  # one pixel to the right
    moved = warp(image, flow)
    torch.testing.assert_close(moved[..., 1:, :], image[..., :-1, :])


# -- vector quantisation -------------------------------------------------------------
def test_dead_codes_are_restarted_from_recent_encoder_outputs():
    torch.manual_seed(0)
    quantizer = VectorQuantizer(codes=8, dim=4, dead_after=2)
    inputs = torch.randn(16, 4)
    quantizer.train()
    first = quantizer(inputs)
    used = set(first.indices.tolist())
    assert len(used) < 8
    before = quantizer.codebook.detach().clone()
    quantizer(inputs)  # step 2: unused codes reach 1 idle step... then 2
    quantizer(inputs)  # step 3: codes idle for 2 steps restart before quantising
    unused = [code for code in range(8) if code not in used]
    restarted = quantizer.codebook.detach()[unused]
    assert not torch.allclose(restarted, before[unused])
    unit_inputs = torch.nn.functional.normalize(inputs, dim=-1)
    for row in restarted:  # each restarted code is one of the batch's encoder outputs
        assert torch.isclose(unit_inputs, row).all(-1).any()
    assert torch.equal(quantizer.codebook.detach()[sorted(used)], before[sorted(used)])
    # Evaluation never restarts codes.
    quantizer.eval()
    quantizer.idle_steps.fill_(100)
    frozen = quantizer.codebook.detach().clone()
    quantizer(inputs)
    assert torch.equal(quantizer.codebook.detach(), frozen)


def test_straight_through_gradients_reach_the_encoder():
    quantizer = VectorQuantizer(codes=8, dim=4)
    inputs = torch.randn(5, 4, requires_grad=True)
    out = quantizer(inputs)
    (out.vectors.sum() + out.loss).backward()
    assert inputs.grad is not None and inputs.grad.abs().sum() > 0
    assert quantizer.codebook.grad.abs().sum() > 0


def test_tokenizer_training_uses_many_codes(staged_run):
    run, _ = staged_run
    records = [json.loads(line) for line in open(run / "metrics.jsonl")]
    tokenizer = [r for r in records if r["stage"] == "tokenizer"]
    first, last = tokenizer[0], tokenizer[-1]
    assert last["tokenizer/perplexity"] > 4  # far from a collapsed codebook (1)
    assert last["tokenizer/usage"] * 64 > 4  # codes used in a batch
    assert last["tokenizer/psnr"] > first["tokenizer/psnr"] + 5


# -- MaskGIT -------------------------------------------------------------------------
def test_maskgit_decoding_shapes_determinism_and_steps():
    torch.manual_seed(0)
    model = tiny_model().eval()
    dynamics = model.dynamics
    tokens = torch.randint(0, 64, (3, 3, dynamics.tokens))
    actions = torch.randint(0, 8, (3, 3))
    segment = torch.zeros(3, 3, dtype=torch.long)
    calls = []
    dynamics.head.register_forward_hook(lambda *args: calls.append(1))

    def generate(seed, steps=5, temperature=1.0):
        generator = torch.Generator().manual_seed(seed)
        action = torch.tensor([0, 3, 7])
        return dynamics.generate(tokens, actions, segment, action, steps, temperature, generator)

    out = generate(1)
    assert out.shape == (3, dynamics.tokens) and out.dtype == torch.long
    assert 0 <= int(out.min()) and int(out.max()) < 64  # no [MASK] left
    assert len(calls) == 5
    calls.clear()
    generate(1, steps=2)
    assert len(calls) == 2
    assert torch.equal(generate(1), generate(1))
    assert any(not torch.equal(generate(1), generate(seed)) for seed in (2, 3, 4))
    assert torch.equal(generate(1, temperature=0), generate(2, temperature=0))
    with pytest.raises(WorldlabError, match="maskgit_steps"):
        generate(1, steps=0)


def test_cosine_schedule_unmasks_everything_by_the_last_step():
    for tokens, steps in [(16, 4), (64, 25), (4, 25)]:
        left = [still_masked(tokens, step, steps) for step in range(steps)]
        assert left[-1] == 0 and left[0] < tokens
        assert all(a >= b for a, b in zip(left, left[1:], strict=False))


# -- the WorldModel interface -------------------------------------------------------
def test_interface_shapes_and_dtypes():
    model = tiny_model().eval()
    assert model.action_spec == ActionSpec("discrete", n=8)
    obs = frames(steps=3)
    state = model.observe(obs, no_actions(obs))
    assert isinstance(state, GenieState)
    assert model.render(state).shape == (2, 32, 32, 3) and model.render(state).dtype == torch.uint8
    state, reward, cont = model.step(state, torch.tensor([1, 7]))
    assert reward.shape == (2,) and torch.all(reward == 0)
    assert cont.shape == (2,) and torch.all(cont == 1)
    assert model.render(state).shape == (2, 32, 32, 3)
    features = model.features(state)
    assert features.shape == (2, model.feature_dims) and features.dtype == torch.float32
    out = model.imagine(state, torch.randint(0, 8, (2, 6)))  # longer than the 4-frame context
    assert out["frames"].shape == (2, 6, 32, 32, 3)


def test_infer_actions_labels_every_transition():
    model = tiny_model().eval()
    obs = frames(steps=9)  # longer than the 4-frame window: read in pieces
    codes = model.infer_actions(obs, torch.zeros(2, 9, 0))
    assert codes.shape == (2, 9) and codes.dtype == torch.long
    assert torch.all(codes[:, 0] == 0) and 0 <= int(codes.min()) and int(codes.max()) < 8
    torch.testing.assert_close(codes[:, :4], model.infer_actions(obs[:, :4], None))


def test_bad_inputs_are_clear_errors():
    model = tiny_model().eval()
    obs = frames()
    state = model.observe(obs, no_actions(obs))
    with pytest.raises(WorldlabError, match="must lie in 0..7"):
        model.step(state, torch.tensor([8, 0]))
    with pytest.raises(WorldlabError, match="infer_actions"):
        model.step(state, torch.zeros(2, 0))
    with pytest.raises(WorldlabError, match="uint8"):
        model.observe(obs.float(), no_actions(obs))
    with pytest.raises(WorldlabError, match="patch=8 does not divide"):
        tiny_model(size=36)
    with pytest.raises(WorldlabError, match="model.stage must be one of"):
        tiny_model(stage="everything")
    with pytest.raises(WorldlabError, match="lam_decoder_output must be one of"):
        tiny_model(lam_decoder_output="pixels")


# -- staged training, checkpoints, the CLI -------------------------------------------
def test_later_stages_leave_earlier_stages_unchanged(staged_run):
    run, weights = staged_run
    assert same_weights(weights["tokenizer"]["tokenizer"], weights["lam"]["tokenizer"])
    assert same_weights(weights["tokenizer"]["tokenizer"], weights["dynamics"]["tokenizer"])
    assert same_weights(weights["lam"]["lam"], weights["dynamics"]["lam"])
    assert not same_weights(weights["tokenizer"]["lam"], weights["lam"]["lam"])
    assert not same_weights(weights["lam"]["dynamics"], weights["dynamics"]["dynamics"])
    steps = [int(path.name.split("_")[1]) for path in checkpoint_dirs(run)]
    assert steps == [LAM_STEPS, DYNAMICS_STEPS]  # keep_checkpoints=2
    records = [json.loads(line) for line in open(run / "metrics.jsonl")]
    assert {r["stage"] for r in records} == {"tokenizer", "lam", "dynamics"}
    assert all(("dynamics/loss" in r) == (r["stage"] == "dynamics") for r in records)
    assert json.loads((run / "config.json").read_text())["model"]["stage"] == "dynamics"


def test_each_stage_learns(staged_run):
    run, _ = staged_run
    records = [json.loads(line) for line in open(run / "metrics.jsonl")]

    def first_and_last(stage, key):
        values = [r[key] for r in records if r["stage"] == stage]
        return values[0], values[-1]

    first, last = first_and_last("lam", "lam/psnr")
    assert last > first + 3
    first, last = first_and_last("dynamics", "dynamics/loss")
    assert last < 0.8 * first


def test_resume_continues_the_same_stage(staged_run, data, tmp_path):
    run, _ = staged_run
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    more = {"train.steps": DYNAMICS_STEPS + 20}
    summary = train("genie", data, copy, None, more, resume=True, progress=False)
    assert summary["step"] == DYNAMICS_STEPS + 20 and summary["steps_this_call"] == 20
    assert summary["notes"] == [f"train.steps: {DYNAMICS_STEPS} → {DYNAMICS_STEPS + 20}"]
    last = json.loads(open(copy / "metrics.jsonl").readlines()[-1])
    assert last["stage"] == "dynamics" and last["step"] == DYNAMICS_STEPS + 20


def test_resume_keeps_what_the_run_trains(staged_run, data):
    run, _ = staged_run
    with pytest.raises(WorldlabError, match="model.codebook_size"):
        train("genie", data, run, None, {"model.codebook_size": 32}, resume=True, progress=False)


def test_load_round_trip_and_imagine_from_a_run(staged_run, data):
    run, weights = staged_run
    model = worldlab.load(run)
    assert same_weights(weights["dynamics"]["dynamics"], component_weights(model, "dynamics"))
    episode = EpisodeDataset(data).episode(0)
    result = imagine_episode(model, episode, context=3, horizon=4, actions="random", seed=1)
    assert result["imagined"].shape == (7, 32, 32, 3) and result["imagined"].dtype == np.uint8
    latent = model.infer_actions(torch.from_numpy(episode["obs"])[None], None)[0, 3:7].numpy()
    replay = imagine_episode(model, episode, context=3, horizon=4, actions=latent)
    assert np.array_equal(replay["actions"], latent)


def test_cli_stage_option(data, tmp_path):
    from worldlab.cli.main import app

    runner = CliRunner()
    base = ["train", "genie", "--data", str(data), "--out", str(tmp_path / "run")]
    small = ["--set", "train.batch_size=2", "--set", "train.seq_len=3"]
    result = runner.invoke(
        app, [*base, "--preset", "tiny", "--stage", "tokenizer", "--steps", "2", *small]
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, [*base, "--stage", "lam", "--steps", "4", "--resume"])
    assert result.exit_code == 0, result.output
    assert "model.stage: 'tokenizer' → 'lam'" in result.output
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["model"]["stage"] == "lam" and config["train"]["steps"] == 4
    result = runner.invoke(
        app, ["train", "rssm", "--data", str(data), "--out", str(tmp_path / "r"), "--stage", "lam"]
    )
    assert isinstance(result.exception, WorldlabError)
    assert "trains in a single stage" in str(result.exception)
