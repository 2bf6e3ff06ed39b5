import pytest
import torch

from worldlab.agents.planning import Planner, PlannerConfig, model_return
from worldlab.errors import WorldlabError
from worldlab.models.base import ActionSpec


def quadratic(target):
    return lambda actions: -((actions - target) ** 2).sum((1, 2))


@pytest.mark.parametrize("method", ["cem", "mppi"])
def test_continuous_planner_finds_the_minimum_of_a_quadratic_cost(method):
    target = torch.tensor([[0.3, -0.6]] * 5)
    planner = Planner(
        PlannerConfig(method=method, horizon=5, iterations=8, samples=512, elites=32),
        action_dims=2,
        generator=torch.Generator().manual_seed(0),
    )
    first = planner.plan(quadratic(target))
    torch.testing.assert_close(first, target[0], atol=0.05, rtol=0)
    torch.testing.assert_close(planner._previous, target, atol=0.08, rtol=0)


def test_warm_start_shifts_the_previous_plan():
    planner = Planner(PlannerConfig(horizon=4, iterations=1), action_dims=1)
    planner._previous = torch.tensor([[0.1], [0.2], [0.3], [0.4]])
    mean, _ = planner._initial()
    torch.testing.assert_close(mean, torch.tensor([[0.2], [0.3], [0.4], [0.0]]))
    planner.reset()
    assert planner._initial()[0].abs().sum() == 0


@pytest.mark.parametrize("method", ["cem", "mppi"])
def test_discrete_planner_picks_the_rewarding_choice(method):
    def returns_of(indices):  # reward 1 per step spent on choice 2, except step 0 wants 4
        wanted = torch.full((indices.shape[1],), 2)
        wanted[0] = 4
        return (indices == wanted).float().sum(1)

    planner = Planner(
        PlannerConfig(method=method, horizon=6, iterations=5, samples=256, elites=16),
        discrete=5,
        generator=torch.Generator().manual_seed(0),
    )
    assert int(planner.plan(returns_of)) == 4
    assert planner._previous[1:].argmax(-1).tolist() == [2] * 5


def test_a_perfect_prior_is_taken():
    target = torch.full((1, 3, 1), 0.9)
    planner = Planner(
        PlannerConfig(method="cem", horizon=3, iterations=1, samples=8, elites=1),
        action_dims=1,
        generator=torch.Generator().manual_seed(0),
    )
    torch.testing.assert_close(planner.plan(quadratic(target), prior=target), target[0, 0])


def test_bad_settings_are_clear_errors():
    with pytest.raises(WorldlabError, match="cem or mppi"):
        Planner(PlannerConfig(method="random"), action_dims=1)
    with pytest.raises(WorldlabError, match="elites"):
        Planner(PlannerConfig(samples=4, elites=8), action_dims=1)


def test_model_return_discounts_and_stops_at_termination():
    class Counter:  # a stand-in model: reward 1 per step, terminates after step 2
        action_spec = ActionSpec("continuous", dims=1)

        def step(self, state, action):
            steps = state + 1
            return steps, torch.ones(len(steps)), (steps < 2).float()

    total = model_return(Counter(), torch.zeros(1), torch.zeros(3, 4, 1), discount=0.5)
    torch.testing.assert_close(total, torch.full((3,), 1 + 0.5))  # step 3 and 4 are dead
