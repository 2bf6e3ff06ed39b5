"""Starting a run from another run's weights (train.init): fine-tuning, and new control
branches trained on a frozen base, as ControlNet does."""

import json

import pytest
import torch

from worldlab.data.collect import collect
from worldlab.errors import WorldlabError
from worldlab.train import train
from worldlab.train.checkpoint import latest_checkpoint

TINY = {"train.steps": 3, "train.seq_len": 8, "train.batch_size": 2, "train.checkpoint_every": 3}


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    root = tmp_path_factory.mktemp("init")
    collect(env="reach", out=root / "data", episodes=3, max_steps=10, size=16, progress=False)
    train("flow", root / "data", root / "base", preset="tiny", overrides=TINY, progress=False)
    return root


def weights(run):
    return latest_checkpoint(run, with_trainer=False)[1]


def test_control_branches_train_on_a_frozen_base_and_resume_frozen(base, tmp_path, cli):
    run = tmp_path / "controlled"
    cli("train", "flow", "--data", base / "data", "--out", run, "--preset", "tiny",
        "--init", base / "base", "--set", "train.freeze_init=true",
        "--set", "model.controls=edge", "--set", "model.first_frame_dropout=0.5",
        *[arg for key, value in TINY.items() for arg in ("--set", f"{key}={value}")])  # fmt: skip
    before, after = weights(base / "base"), weights(run)
    shared = [name for name in before if name in after and before[name].is_floating_point()]
    assert shared and all(torch.equal(before[name], after[name]) for name in shared)
    branch = [name for name in after if name.startswith("control.")]
    assert any(name.endswith("middle_out.weight") for name in branch)
    assert any(after[name].abs().sum() > 0 for name in branch if "out" in name)  # it learned
    record = json.loads((run / "init.json").read_text())
    assert record["run"] == str((base / "base").resolve())
    assert record["checkpoint"] == "step_00000003"
    assert set(record["new"]) == {name for name in branch if not name.startswith("ema.")}
    # A resumed run freezes the same weights, from its init.json alone.
    (base / "base").rename(base / "away")
    try:
        cli("train", "flow", "--data", base / "data", "--out", run, "--resume", "--steps", 5)
    finally:
        (base / "away").rename(base / "base")
    resumed = weights(run)
    assert all(torch.equal(before[name], resumed[name]) for name in shared)


def test_without_freezing_every_weight_fine_tunes(base, tmp_path):
    """Any family: here an RSSM starts from another RSSM's weights and trains them all."""
    first, run = tmp_path / "first", tmp_path / "tuned"
    train("rssm", base / "data", first, preset="tiny", overrides=TINY, progress=False)
    overrides = {**TINY, "train.init": str(first)}
    train("rssm", base / "data", run, preset="tiny", overrides=overrides, progress=False)
    before, after = weights(first), weights(run)
    assert all(name in after for name in before)
    assert sum(not torch.equal(before[name], after[name]) for name in before) > len(before) // 2
    assert json.loads((run / "init.json").read_text())["new"] == []
    # It went on from the first run's weights, not from a new initialisation.
    other = {**TINY, "train.seed": 1}
    train("rssm", base / "data", tmp_path / "fresh", preset="tiny", overrides=other,
          progress=False)  # fmt: skip
    fresh = weights(tmp_path / "fresh")

    def distance(a):
        return sum(float((a[n].float() - before[n].float()).pow(2).sum()) for n in before)

    assert distance(after) < 0.1 * distance(fresh)


def test_bad_init_runs_get_clear_errors(base, tmp_path):
    def start(**overrides):
        settings = {**TINY, **overrides}
        train("flow", base / "data", tmp_path / "r", preset="tiny", overrides=settings,
              progress=False)  # fmt: skip

    with pytest.raises(WorldlabError, match="not a run directory"):
        start(**{"train.init": str(base / "data")})
    with pytest.raises(WorldlabError, match="other shapes"):
        start(**{"train.init": str(base / "base"), "model.cond_dims": 48})
    with pytest.raises(WorldlabError, match="nothing is left to train"):
        start(**{"train.init": str(base / "base"), "train.freeze_init": True})
    with pytest.raises(WorldlabError, match="give --init"):
        start(**{"train.freeze_init": True})
    rssm = tmp_path / "rssm"
    train("rssm", base / "data", rssm, preset="tiny", overrides=TINY, progress=False)
    with pytest.raises(WorldlabError, match="'rssm' run"):
        start(**{"train.init": str(rssm)})
