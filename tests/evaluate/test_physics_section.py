"""The physics section end to end: a tiny trained run beside the reference rows."""

import json

import pytest

import worldlab
from worldlab.data import EpisodeDataset, collect
from worldlab.errors import DatasetError
from worldlab.evaluate.physics.section import has_physics, physics_section
from worldlab.train import train


@pytest.fixture(scope="module")
def run_and_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("physics")
    kwargs = {"num_balls": 2, "occluder": True, "radius_range": [0.08, 0.1]}
    collect("bounce", root / "data", 4, max_steps=40, size=32, progress=False, env_kwargs=kwargs)
    overrides = {"train.batch_size": 2, "train.seq_len": 8, "train.steps": 2}
    train("rssm", root / "data", root / "run", "tiny", overrides, progress=False)
    return worldlab.load(root / "run"), EpisodeDataset(root / "data")


def test_section_scores_the_model_beside_floor_simulator_and_freeze(run_and_data):
    model, data = run_and_data
    report = physics_section(model, data, horizon=8, context=3, starts=3, progress=False)
    assert report["windows"] == 12 and report["world"]["occluder_columns"] == [12, 20]
    rows = report["rows"]
    assert set(rows) == {"model", "repeat_last", "real_frames", "simulator"}
    floor = rows["real_frames"]["summary"]
    simulator = rows["simulator"]["summary"]
    frozen = rows["repeat_last"]["summary"]
    assert floor["position_error"]["mean"] < 0.5 / 32 and floor["violation_rate"]["mean"] == 0
    assert simulator["position_error"]["mean"] < 1.0 / 32
    assert simulator["violation_rate"]["mean"] <= 0.1
    assert frozen["position_error"]["mean"] > 3 * simulator["position_error"]["mean"]
    assert len(rows["model"]["per_horizon"]["position_error"]) == 8


def test_only_bounce_with_its_state_has_a_physics_section(tmp_path, run_and_data):
    collect("reach", tmp_path / "reach", 1, max_steps=10, size=32, progress=False)
    reach = EpisodeDataset(tmp_path / "reach")
    assert not has_physics(reach) and has_physics(run_and_data[1])
    with pytest.raises(DatasetError, match="bounce"):
        physics_section(run_and_data[0], reach, horizon=2, context=2, progress=False)


def test_evaluate_cli_adds_the_physics_section_to_json_console_and_html(
    run_and_data, tmp_path, cli
):
    model, data = run_and_data
    out = tmp_path / "eval" / "report.json"
    result = cli(
        "evaluate", data.root.parent / "run", "--data", data.root, "--out", out,
        "--horizon", "6", "--context", "3", "--starts", "2",
    )  # fmt: skip
    assert "physics over 8 windows" in result.stdout
    assert "simulator:" in result.stdout and "real_frames:" in result.stdout
    report = json.loads(out.read_text())
    assert set(report["physics"]["rows"]) == {"model", "repeat_last", "real_frames", "simulator"}
    page = (out.parent / "report.html").read_text()
    assert "<h2>Physics</h2>" in page and "Controllability" in page
    only = cli(
        "evaluate", data.root.parent / "run", "--data", data.root, "--out", tmp_path / "o.json",
        "--horizon", "6", "--context", "3", "--starts", "2", "--section", "controllability",
    )  # fmt: skip
    assert "physics over" not in only.stdout
    bad = cli(
        "evaluate", data.root.parent / "run", "--data", data.root, "--out", tmp_path / "b.json",
        "--section", "physic", check=False,
    )  # fmt: skip
    assert bad.returncode != 0 and "physics" in bad.stderr + bad.stdout


def test_perceptual_section_on_request_gives_encoder_scores_and_says_what_to_supply(
    run_and_data, tmp_path, cli, monkeypatch
):
    model, data = run_and_data
    for name in ("WORLDLAB_I3D", "WORLDLAB_INCEPTION", "WORLDLAB_LPIPS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WORLDLAB_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "p.json"
    result = cli(
        "evaluate", data.root.parent / "run", "--data", data.root, "--out", out,
        "--context", "3", "--starts", "1", "--section", "perceptual",
    )  # fmt: skip
    section = json.loads(out.read_text())["perceptual"]
    assert section["encoder_fd"]["value"] >= 0 and section["encoder_kid"]["value"] is not None
    assert "WORLDLAB_I3D" in section["fvd"]["skipped"]
    assert "FD (worldlab encoder)" in result.stdout and "skipped" in result.stdout
    assert "<h2>Perceptual</h2>" in (tmp_path / "p.html").read_text()  # named after the JSON


def test_gt_prime_resimulates_balls_recorded_in_contact():
    import numpy as np

    from worldlab.evaluate.physics.section import _simulate

    world = {"kwargs": {"num_balls": 2, "gravity": 1.0}, "size": 32}
    touching = np.array(
        [[0.3, 0.5, 0.2, 0.0, 0.1, 1, 0, 0], [0.5, 0.5, -0.2, 0.0, 0.1, 0, 1, 0]], np.float32
    )
    rng = np.random.default_rng(0)
    for _ in range(20):  # some draws push the balls into each other
        frames = _simulate(world, touching, np.zeros(3, int), 1.0, 1e-3, rng)
        assert frames.shape == (4, 32, 32, 3)


def test_gt_prime_keeps_float32_balls_at_the_wall_inside_the_box():
    import numpy as np

    from worldlab.evaluate.physics.section import _separate

    radii = np.array([0.07, 0.0765432], np.float32)  # float32(1 − 0.07) + 0.07 > 1
    at_walls = np.array([[1 - radii[0], 0.5], [radii[1], 0.5]], np.float32)  # float32 state
    placed = _separate(at_walls.astype(np.float64) + [[1e-4, 0.0], [-1e-4, 0.0]], radii)
    r = radii.astype(np.float64)[:, None]
    assert np.all(placed - r >= 0) and np.all(placed + r <= 1)  # what load_balls checks
