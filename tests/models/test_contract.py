"""The WorldModel contract, run over every registered family's tiny preset.

Family test modules keep what only their family has (its networks, its losses, its paper
settings); what every family must do is checked here once.
"""

import pytest
import torch

from worldlab.bench import random_batch
from worldlab.errors import WorldlabError
from worldlab.models import ActionSpec, families, get_family
from worldlab.models.state import index_state, map_state, scatter_state

torch.set_num_threads(1)
SIZE, BATCH, STEPS = 32, 2, 6


def tiny(family: str, action: ActionSpec = ActionSpec("discrete", n=5)):
    cls = get_family(family)
    return cls(cls.Config(**cls.presets["tiny"]), (SIZE, SIZE, 3), action).eval()


def step_actions(model, steps: int | None = None, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    shape = (BATCH,) if steps is None else (BATCH, steps)
    return model.action_spec.random(shape, generator)


@pytest.fixture(params=families())
def family(request):
    return request.param


def test_every_family_has_a_tiny_preset_and_a_default(family):
    cls = get_family(family)
    assert "tiny" in cls.presets and cls.default_preset in cls.presets


def test_interface_shapes_and_dtypes(family):
    model = tiny(family)
    batch = random_batch(BATCH, STEPS, SIZE, 5)
    state = model.observe(batch["obs"], batch["action"])
    frames = model.render(state)
    assert frames.shape == (BATCH, SIZE, SIZE, 3) and frames.dtype == torch.uint8
    state, reward, cont = model.step(state, step_actions(model))
    assert reward.shape == cont.shape == (BATCH,)
    assert reward.dtype == cont.dtype == torch.float32
    assert ((cont >= 0) & (cont <= 1)).all()
    assert model.render(state).shape == (BATCH, SIZE, SIZE, 3)
    features = model.features(state)
    assert features.shape == (BATCH, model.feature_dims) and features.dtype == torch.float32
    out = model.imagine(state, step_actions(model, 7))  # longer than any context
    assert out["frames"].shape == (BATCH, 7, SIZE, SIZE, 3) and out["frames"].dtype == torch.uint8
    assert out["reward"].shape == out["continue"].shape == (BATCH, 7)


@pytest.mark.parametrize(
    "spec, action",
    [
        (ActionSpec("continuous", dims=2), torch.rand(BATCH, STEPS, 2) * 2 - 1),
        (ActionSpec("none"), torch.zeros(BATCH, STEPS, 0)),
    ],
    ids=["continuous", "none"],
)
def test_continuous_and_action_free_data_train_and_step(family, spec, action):
    model = tiny(family, spec).train()
    batch = {**random_batch(BATCH, STEPS, SIZE, 5), "action": action}
    loss, metrics = model.loss(batch)
    assert torch.isfinite(loss) and "loss" in metrics
    model.eval()
    model.step(model.observe(batch["obs"], action), step_actions(model))


def test_loss_is_finite_gradients_flow_and_after_step_runs(family):
    model = tiny(family).train()
    loss, _ = model.loss(random_batch(BATCH, STEPS, SIZE, 5))
    assert torch.isfinite(loss)
    loss.backward()
    trained = [p for p in model.parameters() if p.requires_grad]
    assert trained and any(p.grad is not None and p.grad.abs().sum() > 0 for p in trained)
    model.after_step()


def test_imagination_is_deterministic_under_a_torch_seed(family):
    model = tiny(family)
    batch = random_batch(BATCH, STEPS, SIZE, 5)

    def rollout():
        torch.manual_seed(0)
        state = model.observe(batch["obs"], batch["action"])
        return model.imagine(state, step_actions(model, 3))["frames"]

    assert torch.equal(rollout(), rollout())


def test_observe_continues_from_a_state_as_if_seen_at_once(family):
    model = tiny(family)
    batch = random_batch(BATCH, STEPS, SIZE, 5)
    obs, action = batch["obs"], batch["action"]
    torch.manual_seed(0)
    whole = model.observe(obs, action)
    torch.manual_seed(0)
    state = None
    for t in range(STEPS):
        state = model.observe(obs[:, t : t + 1], action[:, t : t + 1], state=state)
    map_state(
        lambda a, b: torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4) or a, whole, state
    )


def test_states_work_with_the_generic_batch_helpers(family):
    model = tiny(family)
    batch = random_batch(3, STEPS, SIZE, 5)
    state = model.observe(batch["obs"], batch["action"])
    other = model.observe(batch["obs"][:2, :2], batch["action"][:2, :2])
    mixed = scatter_state(state, torch.tensor([0, 2]), other)
    map_state(
        lambda a, b: torch.testing.assert_close(a, b) or a,
        index_state(mixed, 1),
        index_state(state, 1),
    )
    model.step(mixed, model.action_spec.random((3,)))


def test_sampling_options_are_declared_checked_and_restored(family):
    model = tiny(family)
    before = model.sampling_settings()
    assert set(before) == {option.name for option in model.sampling_options}
    for option in model.sampling_options:
        described = option.describe(before[option.name])
        assert described["name"] == option.name and described["value"] == before[option.name]
        value = option.choices[-1] if option.choices else option.high
        with model.sampling(**{option.name: value}):
            assert model.sampling_settings()[option.name] == option.check(value)
            model.imagine(model.observe(*_obs_action()), step_actions(model, 1))
        assert model.sampling_settings() == before
    with pytest.raises(WorldlabError, match="no sampling option"):
        with model.sampling(beam_width=3):
            pass
    if model.sampling_options:
        option = model.sampling_options[0]
        bad = "greedy" if option.choices else option.high + 1
        with pytest.raises(WorldlabError, match=option.name):
            with model.sampling(**{option.name: bad}):
                pass
        assert model.sampling_settings() == before


def _obs_action():
    batch = random_batch(BATCH, 2, SIZE, 5)
    return batch["obs"], batch["action"]


def test_frames_of_another_size_are_a_clear_error(family):
    model = tiny(family)
    batch = random_batch(BATCH, STEPS, 16, 5)
    with pytest.raises(WorldlabError):
        model.observe(batch["obs"], batch["action"])


def test_weights_round_trip_through_a_state_dict(family):
    model, copy = tiny(family), tiny(family)
    copy.load_state_dict(model.state_dict())
    batch = random_batch(BATCH, STEPS, SIZE, 5)
    outputs = []
    for each in (model, copy):
        torch.manual_seed(1)
        state = each.observe(batch["obs"], batch["action"])
        outputs.append(each.imagine(state, step_actions(each, 2))["frames"])
    assert torch.equal(*outputs)
