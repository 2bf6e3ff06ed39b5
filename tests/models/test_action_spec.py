"""Continuous actions in the world's units: networks read them in [-1, 1], agents act in
[-1, 1] and ``to_world`` maps back to the world's bounds."""

import math

import torch

from worldlab.models.base import ActionSpec


def box(low, high, shape=(1,)):
    return {"type": "box", "shape": list(shape), "low": low, "high": high}


def test_a_pendulum_torque_uses_its_whole_range():
    spec = ActionSpec.from_manifest(box([-2.0], [2.0]))
    assert spec.low == (-2.0,) and spec.high == (2.0,)
    world = torch.tensor([[-2.0], [-1.0], [0.0], [2.0], [3.0]])
    assert spec.encode(world).flatten().tolist() == [-1.0, -0.5, 0.0, 1.0, 1.0]  # clamped
    assert spec.to_world(torch.tensor([[1.0], [-0.25]])).flatten().tolist() == [2.0, -0.5]
    assert torch.equal(spec.to_world(spec.to_unit(world)), world)
    draws = spec.random((2000,), torch.Generator().manual_seed(0))
    assert draws.min() < -1.9 and draws.max() > 1.9 and draws.abs().max() <= 2.0


def test_mixed_bounds_map_per_dimension():
    # CarRacing: steering in [-1, 1], gas and brake in [0, 1].
    spec = ActionSpec.from_manifest(box([-1.0, 0.0, 0.0], [1.0, 1.0, 1.0], (3,)))
    assert spec.to_world(torch.tensor([0.0, -1.0, 1.0])).tolist() == [0.0, 0.0, 1.0]
    assert spec.encode(torch.tensor([0.5, 0.0, 0.5])).tolist() == [0.5, -1.0, 0.0]


def test_unit_and_unbounded_boxes_are_left_as_they_are():
    assert ActionSpec.from_manifest(box([-1.0, -1.0], [1.0, 1.0], (2,))) == ActionSpec(
        "continuous", dims=2
    )
    unbounded = ActionSpec.from_manifest(box([-math.inf], [math.inf]))
    assert unbounded.low is None and unbounded.encode(torch.tensor([3.0])).item() == 1.0
    assert ActionSpec.from_manifest({"type": "box", "shape": [2]}).low is None  # old manifests
    assert ActionSpec.from_manifest({"type": "discrete", "n": 3}).to_world(torch.tensor(2)) == 2
