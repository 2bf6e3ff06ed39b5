"""Tests for bounce's named splits: ranges, unions, phyworld's scenarios, units, collect."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from worldlab.data import EpisodeDataset, collect
from worldlab.data.manifest import MANIFEST_NAME, Manifest
from worldlab.errors import WorldlabError
from worldlab.worlds.bounce import BounceEnv
from worldlab.worlds.bounce_splits import (
    ID_RADIUS,
    ID_SPEED,
    OOD_GRAVITY,
    PHYWORLD_FRAME_TIME,
    SPLITS,
    bounce_units,
    describe_splits,
    parse_ranges,
    phyworld_units,
    sample_ranges,
    split_kwargs,
)

SEEDS = range(100)
TOL = 1e-6  # info["state"] is float32


def initial_states(name: str, seeds=SEEDS) -> tuple[np.ndarray, np.ndarray]:
    """Per-ball ``[x, y, vx, vy, r]`` rows of every seed's first state, and each seed's gravity."""
    env = BounceEnv(**split_kwargs(name))
    rows, gravity = [], []
    for seed in seeds:
        _, info = env.reset(seed=seed)
        rows.append(info["state"].reshape(env.num_balls, 8)[:, :5])
        gravity.append(info["gravity"])
    return np.concatenate(rows).astype(np.float64), np.array(gravity)


def within(values: np.ndarray, ranges) -> np.ndarray:
    """Whether each value lies in the union of ``ranges`` (to float32 precision)."""
    pairs = parse_ranges(ranges, "ranges")
    return np.any([(values >= lo - TOL) & (values <= hi + TOL) for lo, hi in pairs], axis=0)


def speeds_of(rows: np.ndarray) -> np.ndarray:
    return np.hypot(rows[:, 2], rows[:, 3])


@pytest.mark.parametrize("name", list(SPLITS))
def test_initial_states_lie_in_the_documented_ranges(name):
    kwargs = SPLITS[name].kwargs
    rows, gravity = initial_states(name)
    assert len(rows) == len(SEEDS) * kwargs["num_balls"]
    assert within(speeds_of(rows), kwargs["speed_range"]).all()
    assert within(rows[:, 4], kwargs["radius_range"]).all()
    if "gravity_range" in kwargs:
        assert within(gravity, kwargs["gravity_range"]).all()
    else:
        assert np.all(gravity == kwargs["gravity"])
    inside = (rows[:, :2] >= rows[:, 4:5] - TOL) & (rows[:, :2] <= 1 - rows[:, 4:5] + TOL)
    assert inside.all()


@pytest.mark.parametrize(
    ("name", "column", "id_range"),
    [("ood_speed", "speed", ID_SPEED), ("ood_both", "speed", ID_SPEED)]
    + [("ood_radius", 4, ID_RADIUS), ("ood_both", 4, ID_RADIUS)],
)
def test_ood_samples_avoid_the_id_interval_on_both_sides(name, column, id_range):
    rows, _ = initial_states(name)
    values = speeds_of(rows) if column == "speed" else rows[:, column]
    lo, hi = id_range
    assert not np.any((values >= lo) & (values <= hi))
    assert np.any(values < lo) and np.any(values > hi)


def test_ood_gravity_is_drawn_per_episode_on_both_sides():
    _, gravity = initial_states("ood_gravity")
    assert within(gravity, OOD_GRAVITY).all()
    assert np.any(gravity < 1.0) and np.any(gravity > 1.0)
    assert len(np.unique(gravity)) == len(gravity)


def test_one_seed_starts_id_and_its_ood_twins_at_the_same_places():
    id_rows, _ = initial_states("id", range(10))
    speed_rows, _ = initial_states("ood_speed", range(10))
    gravity_rows, _ = initial_states("ood_gravity", range(10))
    np.testing.assert_array_equal(speed_rows[:, [0, 1, 4]], id_rows[:, [0, 1, 4]])
    np.testing.assert_array_equal(gravity_rows, id_rows)


def test_union_sampling_weighs_pairs_by_width_and_keeps_single_ranges_bit_exact():
    values = sample_ranges(np.random.default_rng(0), ((0.0, 1.0), (2.0, 5.0)), 20_000)
    assert within(values, ((0.0, 1.0), (2.0, 5.0))).all()
    assert np.mean(values > 1.5) == pytest.approx(0.75, abs=0.02)
    points = sample_ranges(np.random.default_rng(0), ((0.2, 0.2), (0.7, 0.7)), 2_000)
    assert set(points.tolist()) == {0.2, 0.7}  # zero widths: equal chances
    single = sample_ranges(np.random.default_rng(3), ((0.3, 1.0),), 5)
    np.testing.assert_array_equal(single, np.random.default_rng(3).uniform(0.3, 1.0, size=5))


def test_a_tuple_and_a_one_pair_union_give_the_same_episodes():
    a = BounceEnv(speed_range=(0.3, 1.0)).reset(seed=4)[1]["state"]
    b = BounceEnv(speed_range=[[0.3, 1.0]]).reset(seed=4)[1]["state"]
    np.testing.assert_array_equal(a, b)
    assert BounceEnv(speed_range=[[0.3, 1.0]]).speed_range == (0.3, 1.0)


def test_bad_ranges_layouts_and_steps_are_rejected():
    with pytest.raises(ValueError, match="list of \\(lo, hi\\) pairs"):
        BounceEnv(speed_range=[[0.1, 0.2, 0.3]])
    with pytest.raises(ValueError, match="radius_range must satisfy"):
        BounceEnv(radius_range=[(0.05, 0.1), (0.4, 0.6)])
    with pytest.raises(ValueError, match="gravity_range must satisfy"):
        BounceEnv(gravity_range=(2.0, 1.0))
    with pytest.raises(ValueError, match="places 2 ball"):
        BounceEnv(num_balls=3, layout="phyworld_collision")
    with pytest.raises(ValueError, match="layout must be one of"):
        BounceEnv(layout="spiral")
    with pytest.raises(ValueError, match="dt must be > 0"):
        BounceEnv(dt=0.0)


def run(name: str, seed: int, steps: int | None = None) -> list[dict]:
    """The infos of one episode of split ``name``: reset, then ``steps`` (default: all) steps."""
    env = BounceEnv(**split_kwargs(name))
    infos = [env.reset(seed=seed)[1]]
    for _ in range(env.max_steps if steps is None else steps):
        infos.append(env.step(0)[4])
    return infos


def test_phyworld_uniform_motion_keeps_its_velocity():
    for seed in range(20):
        infos = run("phyworld_uniform", seed)
        assert len(infos) == 32 and infos[0]["velocities"][0, 1] == 0.0
        speeds = [np.linalg.norm(info["velocities"][0]) for info in infos]
        np.testing.assert_allclose(speeds, speeds[0], rtol=1e-12)
        for before, after in zip(infos, infos[1:], strict=False):
            if not after["events"]:  # between wall bounces: constant velocity, straight line
                np.testing.assert_array_equal(after["velocities"], before["velocities"])
                step = after["positions"] - before["positions"]
                np.testing.assert_allclose(step, before["velocities"] * 0.1, atol=1e-12)


def test_phyworld_parabola_falls_by_g_dt_per_step():
    g, dt = SPLITS["phyworld_parabola"].kwargs["gravity"], PHYWORLD_FRAME_TIME
    for seed in range(20):
        infos = run("phyworld_parabola", seed, steps=12)
        assert infos[0]["velocities"][0, 1] == 0.0  # launched horizontally
        for before, after in zip(infos, infos[1:], strict=False):
            if after["events"]:
                break
            dv = after["velocities"][0] - before["velocities"][0]
            assert dv[0] == pytest.approx(0.0, abs=1e-12)
            assert dv[1] == pytest.approx(-g * dt, abs=1e-12)


def test_phyworld_collision_starts_apart_on_a_collision_course_and_collides():
    collided = 0
    for seed in range(40):
        infos = run("phyworld_collision", seed)
        (x0, y0), (x1, y1) = infos[0]["positions"]
        (v0, w0), (v1, w1) = infos[0]["velocities"]
        r0, r1 = infos[0]["radii"]
        assert y0 == y1 and w0 == w1 == 0.0 and v0 >= 0.0 >= v1
        assert x1 - x0 >= r0 + r1
        kinds = [event["type"] for info in infos for event in info["events"]]
        if "collision" in kinds:
            collided += 1
            assert "wall" not in kinds[: kinds.index("collision")]  # head on, walls after
    assert collided >= 38


def test_phyworld_units_round_trip_and_match_phyworld_numbers():
    rng = np.random.default_rng(0)
    positions, velocities = rng.uniform(0, 1, (5, 2)), rng.uniform(-1, 1, (5, 2))
    back = bounce_units(*phyworld_units(positions, velocities))
    np.testing.assert_allclose(back[0], positions, rtol=1e-15)
    np.testing.assert_allclose(back[1], velocities, rtol=1e-15)
    p, v = phyworld_units([[0.5, 0.25]], [[0.1, -0.4]])
    np.testing.assert_allclose(p, [[5.0, 2.5]])
    np.testing.assert_allclose(v, [[1.0, -4.0]])
    _, speeds = phyworld_units(0, SPLITS["phyworld_uniform"].kwargs["speed_range"])
    np.testing.assert_allclose(speeds, [1.0, 4.0])  # phyworld's ID speeds
    _, radii = phyworld_units(0, SPLITS["phyworld_uniform"].kwargs["radius_range"])
    np.testing.assert_allclose(radii, [0.7, 1.4])
    _, gravity = phyworld_units(0, SPLITS["phyworld_parabola"].kwargs["gravity"])
    assert gravity == pytest.approx(2.5)
    assert BounceEnv(**split_kwargs("phyworld_uniform")).metadata["render_fps"] == 10


def test_split_kwargs_are_json_plain_take_overrides_and_name_the_splits_on_a_typo():
    kwargs = split_kwargs("ood_speed")
    assert kwargs == json.loads(json.dumps(kwargs))
    assert split_kwargs("id", {"num_balls": 1})["num_balls"] == 1
    overridden = split_kwargs("ood_gravity", {"gravity": 2.0})
    assert overridden["gravity"] == 2.0 and "gravity_range" not in overridden
    with pytest.raises(WorldlabError, match="expected one of id, ood_speed") as error:
        split_kwargs("ood_sped")
    assert "'ood_sped'" in str(error.value)


def test_python_collect_takes_split_kwargs_and_records_a_named_split(tmp_path):
    plain = collect(
        "bounce",
        tmp_path / "a",
        2,
        max_steps=3,
        size=16,
        env_kwargs=split_kwargs("ood_speed"),
        progress=False,
    )
    assert plain.split is None and plain.env_kwargs == split_kwargs("ood_speed")
    named = collect(
        "bounce",
        tmp_path / "b",
        2,
        max_steps=3,
        size=16,
        split="ood_radius",
        env_kwargs={"num_balls": 1},
        progress=False,
    )
    assert named.split == "ood_radius" and named.env_kwargs["num_balls"] == 1
    again = collect(
        "bounce",
        tmp_path / "b",
        3,
        max_steps=3,
        size=16,
        split="ood_radius",
        env_kwargs={"num_balls": 1},
        progress=False,
    )
    assert again.episodes == 3  # a rerun continues the same dataset
    with pytest.raises(WorldlabError, match="distribution of the bounce world"):
        collect("reach", tmp_path / "c", 1, split="id", progress=False)


def test_old_manifests_without_a_split_still_load(tmp_path):
    collect("bounce", tmp_path, 1, max_steps=2, size=16, progress=False)
    path = tmp_path / MANIFEST_NAME
    data = json.loads(path.read_text())
    del data["split"]
    path.write_text(json.dumps(data))
    assert Manifest.load(tmp_path).split is None
    assert len(EpisodeDataset(tmp_path)) == 1


def test_cli_collect_with_a_split(tmp_path, cli):
    out = tmp_path / "data"
    cli(
        "collect",
        "--env",
        "bounce",
        "--split",
        "ood_speed",
        "--episodes",
        3,
        "--max-steps",
        4,
        "--size",
        16,
        "--out",
        out,
    )
    dataset = EpisodeDataset(out)
    assert dataset.manifest.split == "ood_speed"
    first = np.concatenate([dataset.episode(i)["state"][0].reshape(-1, 8) for i in range(3)])
    speeds = np.hypot(first[:, 2], first[:, 3])
    assert within(speeds, SPLITS["ood_speed"].kwargs["speed_range"]).all()
    assert not np.any((speeds >= ID_SPEED[0]) & (speeds <= ID_SPEED[1]))


def test_cli_names_the_splits_on_an_unknown_one(tmp_path, cli):
    result = cli(
        "collect", "--env", "bounce", "--split", "nope", "--out", tmp_path / "d", check=False
    )
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "unknown bounce split 'nope'" in result.stderr and "ood_speed" in result.stderr
    assert not (tmp_path / "d").exists()


def test_docs_show_the_current_split_table():
    docs = Path(__file__).parents[2] / "docs" / "physics.md"
    assert describe_splits() in docs.read_text()


def test_a_splits_arguments_are_read_only_and_split_kwargs_gives_a_copy():
    with pytest.raises(TypeError):
        SPLITS["id"].kwargs["gravity"] = 3.0
    mine = split_kwargs("id")
    mine["gravity"] = 3.0
    assert split_kwargs("id")["gravity"] == SPLITS["id"].kwargs["gravity"] == 1.0
