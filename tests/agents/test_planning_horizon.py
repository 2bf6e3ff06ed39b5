"""`worldlab bench planning-horizon`: the sweep, the choice of horizon, the leaderboard line."""

from __future__ import annotations

import json

import numpy as np

from worldlab.agents.planning_horizon import choose_horizon
from worldlab.data import collect
from worldlab.evaluate.leaderboard import leaderboard_markdown
from worldlab.train import train


def rows(*returns_per_horizon):
    return [
        {"horizon": 2**k, "returns": list(returns)} for k, returns in enumerate(returns_per_horizon)
    ]


def test_the_planning_horizon_is_the_longest_that_beats_the_best_shorter_one():
    rng = np.random.default_rng(0)
    noise = lambda: rng.normal(0, 0.1, 20)  # noqa: E731
    # returns rise clearly up to h=4, then flatten (h=8 is no better than h=4), then fall
    sweep = rows(1 + noise(), 2 + noise(), 3 + noise(), 3.02 + noise(), 2 + noise())
    useful, best = choose_horizon(sweep)
    assert useful == 4
    assert best in (4, 8)
    assert sweep[1]["improves"] and sweep[2]["improves"]
    assert not sweep[3]["improves"] and not sweep[4]["improves"]
    assert sweep[4]["gain_over_best_shorter"]["vs"] == best


def test_no_gain_anywhere_keeps_the_shortest_horizon():
    same = [1.0, 2.0, 3.0, 4.0]
    assert choose_horizon(rows(same, same, same))[0] == 1


def test_the_cli_sweeps_saves_and_the_leaderboard_shows_it(tmp_path, cli):
    collect("reach", tmp_path / "data", episodes=3, max_steps=20, size=32, progress=False)
    train(
        "rssm", tmp_path / "data", tmp_path / "run", "tiny",
        {"train.steps": 2, "train.batch_size": 2, "train.seq_len": 6}, progress=False,
    )  # fmt: skip
    result = cli(
        "bench", "planning-horizon", tmp_path / "run", "--horizons", "1,2", "--episodes", "2",
        "--max-steps", "3", "--iterations", "1", "--samples", "8", "--elites", "2",
    )  # fmt: skip
    assert "planning horizon:" in result.stdout and "random actions" in result.stdout
    saved = json.loads((tmp_path / "run" / "planning_horizon.json").read_text())
    assert [row["horizon"] for row in saved["horizons"]] == [1, 2]
    assert len(saved["random"]["returns"]) == 2 and saved["planning_horizon"] in (1, 2)
    assert (tmp_path / "run" / "planning_horizon.png").stat().st_size > 1000
    board = {"table": {"in distribution": {}}, "ood_gap": {}, "planning_horizon": {
        "rssm (run)": {key: saved[key] for key in
                       ("planning_horizon", "best_horizon", "env_id", "episodes")},
        "flow (f)": None,
    }}  # fmt: skip
    text = leaderboard_markdown(board)
    assert f"rssm (run): {saved['planning_horizon']}" in text and "flow (f): not measured" in text
