import pytest
import torch

from worldlab.agents.behavior import (
    ActorCritic,
    BehaviorConfig,
    ReturnNormalizer,
    lambda_returns,
)
from worldlab.models import ActionSpec, WorldModel

torch.set_num_threads(2)


def test_lambda_returns_match_a_hand_computed_case():
    # H = 2, one trajectory: r1 = 1, r2 = 2; c1 = 1, c2 = 0.5; V0..V2 = 10, 20, 30.
    rewards = torch.tensor([[1.0], [2.0]])
    continues = torch.tensor([[1.0], [0.5]])
    values = torch.tensor([[10.0], [20.0], [30.0]])
    discount, lam = 0.9, 0.8
    r2 = 2.0 + 0.9 * 0.5 * 30.0  # R_1 = r_2 + γ c_2 V_2 (bootstrap at the end)
    r1 = 1.0 + 0.9 * 1.0 * ((1 - 0.8) * 20.0 + 0.8 * r2)
    expected = torch.tensor([[r1], [r2]])
    assert torch.allclose(lambda_returns(rewards, continues, values, discount, lam), expected)


def test_lambda_one_is_the_discounted_return_and_zero_is_td():
    rewards = torch.tensor([[1.0], [1.0], [1.0]])
    continues = torch.ones(3, 1)
    values = torch.tensor([[0.0], [5.0], [6.0], [7.0]])
    monte_carlo = lambda_returns(rewards, continues, values, 0.5, 1.0)
    assert monte_carlo[0, 0] == pytest.approx(1 + 0.5 + 0.25 + 0.125 * 7)
    td = lambda_returns(rewards, continues, values, 0.5, 0.0)
    assert torch.allclose(td[:, 0], torch.tensor([1 + 0.5 * 5, 1 + 0.5 * 6, 1 + 0.5 * 7]))


def test_return_normalizer_tracks_the_percentile_range_and_never_scales_up():
    norm = ReturnNormalizer(decay=0.5, low=0.05, high=0.95)
    returns = torch.linspace(0, 100, 1001)
    assert float(norm.update(returns)) == pytest.approx(90.0, rel=1e-4)  # first batch: set
    # Second batch spans 0..10, percentile range 9: EMA 0.5 * 90 + 0.5 * 9 = 49.5.
    assert float(norm.update(torch.linspace(0, 100, 1001) / 10)) == pytest.approx(49.5, rel=1e-4)
    small = ReturnNormalizer(decay=0.99)
    small.update(torch.linspace(0, 0.1, 100))
    assert float(small.scale) == 1.0  # small returns are not blown up


class BanditModel(WorldModel):
    """A one-state world whose reward depends only on the action: a bandit in a model."""

    family = "bandit-test"
    Config = dict

    def __init__(self, spec):
        super().__init__({}, (8, 8, 3), spec)
        self.anchor = torch.nn.Parameter(torch.zeros(1))

    def loss(self, batch):
        raise NotImplementedError

    def observe(self, obs, action, is_first=None, state=None):
        return torch.ones(obs.shape[0], 4)

    def step(self, state, action):
        if self.action_spec.kind == "discrete":
            reward = (action == 2).float()
        else:
            reward = -((action - 0.5) ** 2).sum(-1)
        return state, reward, torch.ones(len(state))

    def render(self, state):
        return torch.zeros(len(state), 8, 8, 3, dtype=torch.uint8)

    def features(self, state):
        return state

    @property
    def feature_dims(self):
        return 4


@pytest.mark.parametrize(
    "spec, grad",
    [
        (ActionSpec("discrete", n=4), "auto"),
        (ActionSpec("continuous", dims=2), "auto"),
        (ActionSpec("continuous", dims=2), "reinforce"),
    ],
    ids=["discrete", "box-backprop", "box-reinforce"],
)
def test_actor_critic_learns_the_best_action_in_imagination(spec, grad):
    torch.manual_seed(0)
    model = BanditModel(spec)
    config = BehaviorConfig(
        horizon=5,
        discount=0.5,
        hidden=32,
        layers=1,
        actor_lr=3e-3,
        critic_lr=3e-3,
        actor_grad=grad,
    )
    agent = ActorCritic(model, config)
    start = torch.ones(64, 4)
    for _ in range(400):
        agent.update(model, start)
    greedy = agent.actor.act(start[:1], sample=False)
    with torch.no_grad():
        value = float(agent.critic.value(start[:1]))
        p_best = float(agent.actor(start[:1]).probs[0, 2]) if spec.kind == "discrete" else 0
    if spec.kind == "discrete":
        assert int(greedy) == 2
        assert p_best > 0.5
        # Expected reward per step is p_best, forever, at γ = 0.5: V = p_best / (1 − γ).
        assert value == pytest.approx(2 * p_best, abs=0.15)
    else:
        assert torch.allclose(greedy, torch.full((1, 2), 0.5), atol=0.15)
        assert -0.5 < value <= 0.05  # rewards are −‖a − 0.5‖² ≤ 0, near 0 once learned


def test_actor_refuses_a_model_without_actions():
    from worldlab.errors import WorldlabError

    with pytest.raises(WorldlabError, match="latent-action"):
        ActorCritic(BanditModel(ActionSpec("none")))


def test_imagination_from_terminal_states_carries_no_weight():
    torch.manual_seed(0)
    model = BanditModel(ActionSpec("discrete", n=4))
    agent = ActorCritic(model, BehaviorConfig(horizon=3, hidden=16, layers=1))
    before = [p.clone() for p in [*agent.actor.parameters(), *agent.critic.parameters()]]
    metrics = agent.update(model, torch.ones(8, 4), start_continue=torch.zeros(8))
    after = [*agent.actor.parameters(), *agent.critic.parameters()]
    assert metrics["actor_loss"] == 0.0 and metrics["critic_loss"] == 0.0
    assert all(torch.equal(a, b) for a, b in zip(before, after, strict=True))


def test_backprop_needs_continuous_actions():
    from worldlab.errors import WorldlabError

    agent = ActorCritic(
        BanditModel(ActionSpec("discrete", n=4)), BehaviorConfig(actor_grad="backprop")
    )
    with pytest.raises(WorldlabError, match="reinforce"):
        agent.update(BanditModel(ActionSpec("discrete", n=4)), torch.ones(2, 4))


class TunedBanditModel(BanditModel):
    """A bandit whose reward depends on a model weight: the actor's gradient passes through it."""

    def step(self, state, action):
        return state, -((action - self.anchor) ** 2).sum(-1), torch.ones(len(state))


def test_the_actor_gradient_passes_through_the_model_without_training_it():
    torch.manual_seed(0)
    model = TunedBanditModel(ActionSpec("continuous", dims=2))
    agent = ActorCritic(model, BehaviorConfig(horizon=3, hidden=16, layers=1, actor_lr=1e-2))
    before = [p.clone() for p in agent.actor.parameters()]
    agent.update(model, torch.ones(8, 4))
    assert agent.backprop
    assert model.anchor.grad is None  # no weight gradient computed for the world model
    assert model.anchor.requires_grad  # and its flags are restored for its own training
    assert all(p.requires_grad for p in agent.critic.parameters())
    assert not all(torch.equal(a, b) for a, b in zip(before, agent.actor.parameters(), strict=True))
