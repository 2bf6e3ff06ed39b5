import pytest
import torch
from torch.nn import functional as F

from worldlab.bench import random_batch as bench_batch
from worldlab.models import ActionSpec, get_family
from worldlab.models.blocks import TwoHot, frames_to_input, symexp, symlog
from worldlab.models.rssm import PRESETS, RSSMConfig
from worldlab.models.rssm.core import RSSMState, categorical_kl
from worldlab.models.rssm.networks import NormGRUCell

torch.set_num_threads(2)


def tiny_model(size=32, action=ActionSpec("discrete", n=5), **overrides):
    config = RSSMConfig(**{**PRESETS["tiny"], **overrides})
    return get_family("rssm")(config, (size, size, 3), action)


def random_batch(batch=2, steps=6, size=32, n_actions=5, seed=0):
    return bench_batch(batch, steps, size, n_actions, seed)


def test_xs_preset_matches_the_paper_size():
    model = get_family("rssm")(RSSMConfig(**PRESETS["xs"]), (64, 64, 3), ActionSpec("discrete", 2))
    params = sum(p.numel() for p in model.parameters())
    assert 7.4e6 < params < 7.7e6  # DreamerV3 XS world model: ~7.5M


def test_tiny_preset_is_about_a_million_parameters():
    assert 0.5e6 < sum(p.numel() for p in tiny_model(64).parameters()) < 1.5e6


def test_loss_is_finite_and_all_parts_get_gradients():
    model = tiny_model()
    loss, metrics = model.loss(random_batch())
    loss.backward()
    assert torch.isfinite(loss)
    assert {"image", "reward", "continue", "kl"} <= set(metrics)
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None, name


def test_overshoot_scores_the_heads_on_imagined_states_step_by_step():
    torch.manual_seed(0)
    model = tiny_model(overshoot=2, imagine_latents="mode")
    batch = random_batch(batch=2, steps=6, seed=1)
    batch["reward"] = torch.randn(2, 6)
    batch["terminated"][1, 4] = True
    batch["is_first"][0, 3] = True  # a new episode: row 0's rollouts may not cross it
    actions = model.action_spec.encode(batch["action"])
    embeds = model.encoder(model._inputs(batch["obs"])).reshape(2, 6, -1)
    deter, _, stoch = model.rssm.observe(embeds, actions, batch["is_first"])
    reward_loss, continue_loss = model._overshoot_losses(deter, stoch, actions, batch)

    # By hand, one start and one rollout at a time.
    rewards, continues = [], []
    for row in range(2):
        for t in range(6 - 2):
            state = RSSMState(deter[row, t][None], stoch[row, t][None])
            for k in (1, 2):
                state = model.rssm.imagine_step(state, actions[row, t + k][None], mode=True)
                if batch["is_first"][row, t + 1 : t + k + 1].any():
                    break
                target = batch["reward"][row, t + k][None]
                rewards.append(model.two_hot.loss(model.reward_head(state.features), target))
                logit = model.continue_head(state.features).squeeze(-1)
                alive = (~batch["terminated"][row, t + k]).float()[None]
                continues.append(F.binary_cross_entropy_with_logits(logit, alive))
    assert len(rewards) == 13  # 16 rollout steps less the 3 that cross row 0's new episode
    assert torch.allclose(reward_loss, torch.cat(rewards).mean(), atol=1e-5)
    assert torch.allclose(continue_loss, torch.stack(continues).mean(), atol=1e-5)

    total, metrics = model.loss(batch)
    assert "reward_ahead" in metrics and torch.isfinite(total)
    assert "reward_ahead" not in tiny_model().loss(batch)[1]


def test_observe_all_matches_the_generic_frame_by_frame_filter():
    from worldlab.models.base import WorldModel

    model = tiny_model()
    batch = random_batch()
    obs, action, first = batch["obs"], batch["action"], batch["is_first"]
    torch.manual_seed(5)
    fast = model.observe_all(obs, action, first)
    torch.manual_seed(5)
    generic = WorldModel.observe_all(model, obs, action, first)
    assert fast.deter.shape == (obs.shape[0] * obs.shape[1], model.config.deter)
    assert torch.allclose(fast.deter, generic.deter, atol=1e-5)
    assert torch.equal(fast.stoch, generic.stoch)


def test_bad_action_is_a_clear_error():
    model = tiny_model()
    state = model.observe(*[random_batch()[k] for k in ("obs", "action")])
    with pytest.raises(Exception, match="discrete actions must lie in 0..4"):
        model.step(state, torch.tensor([7, 0]))


def test_two_hot_recovers_its_target():
    two_hot = TwoHot(255)
    targets = torch.tensor([0.0, 1.0, -3.5, 120.0, 0.37])
    logits = torch.full((5, 255), -1e4)
    x = symlog(targets)
    upper = torch.searchsorted(two_hot.bins, x, right=True)
    weight = (x - two_hot.bins[upper - 1]) / (two_hot.bins[upper] - two_hot.bins[upper - 1])
    logits[torch.arange(5), upper - 1] = torch.log(1 - weight + 1e-12)
    logits[torch.arange(5), upper] = torch.log(weight + 1e-12)
    torch.testing.assert_close(two_hot.mean(logits), targets, rtol=1e-3, atol=1e-3)
    # The loss is smallest at the target's own encoding.
    assert two_hot.loss(logits, targets).mean() < two_hot.loss(logits, targets + 1).mean()
    torch.testing.assert_close(symexp(symlog(targets)), targets)


def test_kl_is_zero_for_equal_distributions_and_positive_otherwise():
    logits = torch.randn(3, 4, 5).log_softmax(-1)
    assert categorical_kl(logits, logits).abs().max() < 1e-6
    assert (categorical_kl(logits, torch.randn(3, 4, 5).log_softmax(-1)) > 0).all()


def test_layernorm_gru_follows_the_formula():
    torch.manual_seed(0)
    cell = NormGRUCell(6, 8, blocks=1)
    x, h = torch.randn(3, 6), torch.randn(3, 8)
    gates = torch.nn.functional.layer_norm(
        x @ cell.input_weights.weight.T + h @ cell.recurrent_weights[0],
        (24,),
        cell.norm.weight,
        cell.norm.bias,
        eps=1e-3,
    )
    reset, candidate, update = gates.chunk(3, -1)
    candidate = torch.tanh(torch.sigmoid(reset) * candidate)
    update = torch.sigmoid(update - 1)
    expected = update * candidate + (1 - update) * h
    torch.testing.assert_close(cell(cell.input_part(x), h), expected)


def test_block_gru_has_block_diagonal_recurrence():
    torch.manual_seed(0)
    cell = NormGRUCell(6, 8, blocks=2)
    assert cell.recurrent_weights.numel() == 8 * 24 // 2
    h = torch.randn(3, 8)
    # Before normalisation, block 0's gates ignore block 1's state.
    recurrent = []
    for state in (h, torch.cat([h[:, :4], h[:, 4:] + 1], 1)):
        cell.norm = torch.nn.Identity()
        out = cell(torch.zeros(3, 24), state)
        recurrent.append(out[:, :4])
    torch.testing.assert_close(recurrent[0], recurrent[1])


@pytest.mark.parametrize("size", [32, 64])
def test_image_sizes(size):
    model = tiny_model(size=size)
    batch = random_batch(size=size, steps=3)
    assert torch.isfinite(model.loss(batch)[0])


def test_non_power_of_two_image_is_a_clear_error():
    with pytest.raises(Exception, match="power of two"):
        tiny_model(size=48)


def test_is_first_resets_the_state(monkeypatch):
    model = tiny_model()
    rssm = model.rssm
    sample = rssm._sample
    monkeypatch.setattr(rssm, "_sample", lambda log_probs, mode=False: sample(log_probs, True))
    batch = random_batch(batch=1, steps=6)
    embeds = model.encoder(frames_to_input(batch["obs"])).reshape(1, 6, -1)
    actions = model.action_spec.encode(batch["action"])
    is_first = torch.zeros(1, 6, dtype=torch.bool)
    is_first[0, 0] = is_first[0, 3] = True
    full, _, _ = rssm.observe(embeds, actions, is_first)
    late, _, _ = rssm.observe(embeds[:, 3:], actions[:, 3:], is_first[:, 3:])
    torch.testing.assert_close(full[:, 3:], late)
    assert not torch.allclose(full[:, 1], late[:, 1])
