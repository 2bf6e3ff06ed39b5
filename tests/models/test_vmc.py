import math

import numpy as np
import pytest
import torch

import worldlab
from worldlab.bench import random_batch
from worldlab.data import EpisodeDataset, collect
from worldlab.errors import WorldlabError
from worldlab.models import ActionSpec, get_family
from worldlab.models.vmc import PRESETS, VMCConfig
from worldlab.models.vmc.networks import (
    Mixture,
    MixtureDensityHead,
    gaussian_kl,
    mixture_log_prob,
    sample_mixture,
)
from worldlab.train import train

torch.set_num_threads(1)


def tiny_model(size=32, action=ActionSpec("discrete", n=5), **overrides):
    config = VMCConfig(**{**PRESETS["tiny"], **overrides})
    return get_family("vmc")(config, (size, size, 3), action)


def two_component_mixture(weights, means, stds) -> Mixture:
    """One latent dim, ``K`` components: fields ``[1, K]``."""
    return Mixture(torch.tensor([weights]).log(), torch.tensor([means]), torch.tensor([stds]).log())


# -- M: the mixture density network ------------------------------------------------------
def test_mixture_log_likelihood_matches_a_hand_computed_case():
    mixture = two_component_mixture([0.3, 0.7], [0.0, 2.0], [1.0, 0.5])

    def normal(x, mean, std):
        return math.exp(-0.5 * ((x - mean) / std) ** 2) / (std * math.sqrt(2 * math.pi))

    expected = math.log(0.3 * normal(1.0, 0.0, 1.0) + 0.7 * normal(1.0, 2.0, 0.5))
    got = mixture_log_prob(mixture, torch.tensor([1.0]))
    assert got.shape == (1,)
    assert got.item() == pytest.approx(expected, abs=1e-5)


def test_small_temperature_concentrates_on_the_most_likely_mean():
    mixture = two_component_mixture([0.2, 0.8], [-3.0, 5.0], [1.0, 1.0])
    expand = Mixture(*(field.expand(4000, 2) for field in mixture))
    torch.manual_seed(0)
    warm = sample_mixture(expand, temperature=1.0)
    cold = sample_mixture(expand, temperature=0.01)
    assert (warm < 1).float().mean() == pytest.approx(0.2, abs=0.03)  # both components
    assert (cold - 5.0).abs().max() < 0.6 and cold.std() < 0.15  # σ·√τ = 0.1
    assert torch.equal(sample_mixture(expand, temperature=0.0), torch.full((4000,), 5.0))


def test_mixture_head_shapes_and_normalised_weights():
    head = MixtureDensityHead(inputs=6, z_dims=4, mixtures=5)
    mixture = head(torch.randn(2, 3, 6))
    assert all(field.shape == (2, 3, 4, 5) for field in mixture)
    torch.testing.assert_close(mixture.log_weights.exp().sum(-1), torch.ones(2, 3, 4))
    assert mixture_log_prob(mixture, torch.randn(2, 3, 4)).shape == (2, 3, 4)
    assert sample_mixture(mixture, 1.15).shape == (2, 3, 4)


# -- V: the convolutional VAE ------------------------------------------------------------
def test_kl_term_matches_a_hand_computed_case():
    mean = torch.tensor([[1.0, 0.0]])
    logvar = torch.tensor([[0.0, math.log(4.0)]])
    # KL(N(μ, σ²) || N(0, 1)) = ½(σ² + μ² − 1 − log σ²), summed over dims
    expected = 0.5 * (1 + 1 - 1 - 0) + 0.5 * (4 + 0 - 1 - math.log(4.0))
    assert gaussian_kl(mean, logvar).item() == pytest.approx(expected, abs=1e-6)
    assert gaussian_kl(torch.zeros(3, 5), torch.zeros(3, 5)).abs().max() == 0


def test_reconstruction_improves_on_a_tiny_dataset(tmp_path):
    collect("reach", tmp_path / "data", episodes=2, max_steps=12, size=32, progress=False)
    batch = EpisodeDataset(tmp_path / "data").sample(4, 8, np.random.default_rng(0))
    batch = {key: torch.from_numpy(value) for key, value in batch.items()}
    torch.manual_seed(0)
    model = tiny_model(action=ActionSpec("continuous", dims=2))
    optimizer = model.optimizer()
    first = model.loss(batch)[1]["image"].item()
    for _ in range(40):
        loss, metrics = model.loss(batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert metrics["image"].item() < 0.5 * first


# -- the WorldModel interface ------------------------------------------------------------
def test_loss_parts_and_stop_gradient_between_v_and_m():
    model = tiny_model(vae_scale=0.0)  # only M's losses: they must not reach V
    loss, metrics = model.loss(random_batch(2, 6, 32, 5))
    assert {"image", "kl", "mdn", "reward", "continue"} <= set(metrics)
    loss.backward()
    memory = {id(p) for p in model.memory_parameters()}
    for name, parameter in model.named_parameters():
        if id(parameter) in memory:
            assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name
        else:
            assert parameter.grad is None or parameter.grad.abs().sum() == 0, name


def test_memory_gradients_are_clipped_per_value_as_in_the_paper():
    model = tiny_model(mdn_grad_clip=1e-4)
    model.loss(random_batch(2, 6, 32, 5))[0].backward()
    assert max(p.grad.abs().max() for p in model.memory_parameters()) <= 1e-4
    assert max(p.grad.abs().max() for p in model.vae.parameters()) > 1e-4


def test_is_first_resets_the_memory():
    model = tiny_model()
    batch = random_batch(1, 6, 32, 5)
    obs, action = batch["obs"], batch["action"]
    is_first = torch.zeros(1, 6, dtype=torch.bool)
    is_first[0, 0] = is_first[0, 3] = True
    full = model.observe(obs, action, is_first)
    late = model.observe(obs[:, 3:], action[:, 3:])
    torch.testing.assert_close(full.h, late.h)
    torch.testing.assert_close(full.c, late.c)
    no_reset = model.observe(obs, action)
    assert not torch.allclose(no_reset.h, late.h)


def test_temperature_zero_imagines_deterministically():
    model = tiny_model(temperature=0.0)
    batch = random_batch(2, 4, 32, 5)
    state = model.observe(batch["obs"], batch["action"])
    actions = torch.zeros(2, 3, dtype=torch.long)
    torch.testing.assert_close(
        model.imagine(state, actions)["frames"], model.imagine(state, actions)["frames"]
    )


def test_train_then_load_round_trip(tmp_path):
    collect("reach", tmp_path / "data", episodes=2, max_steps=12, size=32, progress=False)
    steps = {"train.steps": 3, "train.batch_size": 2, "train.seq_len": 6}
    summary = train("vmc", tmp_path / "data", tmp_path / "run", "tiny", steps, progress=False)
    assert summary["step"] == 3
    model = worldlab.load(tmp_path / "run")
    assert model.family == "vmc" and model.config.z_dims == PRESETS["tiny"]["z_dims"]
    again = worldlab.load(tmp_path / "run")
    for (name, a), (_, b) in zip(
        model.state_dict().items(), again.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name
    window = EpisodeDataset(tmp_path / "data").sample(1, 5)
    obs, action = torch.from_numpy(window["obs"]), torch.from_numpy(window["action"])
    torch.testing.assert_close(model.observe(obs, action).h, again.observe(obs, action).h)


def test_paper_preset_sizes():
    model = get_family("vmc")(
        VMCConfig(**PRESETS["paper"]), (64, 64, 3), ActionSpec("continuous", dims=3)
    )
    assert model.feature_dims == 32 + 256  # C reads [z, h]: (288 + 1) × 3 = 867 parameters
    assert model.vae.bottleneck == (256, 4, 4)


def test_bad_frames_are_clear_errors():
    with pytest.raises(WorldlabError, match="multiple of 16"):
        tiny_model(size=40)
    with pytest.raises(WorldlabError, match="frames"):
        get_family("vmc")(VMCConfig(**PRESETS["tiny"]), (6,), ActionSpec("discrete", n=2))
    with pytest.raises(WorldlabError, match="mdn_inputs"):
        tiny_model(mdn_inputs="mode")
