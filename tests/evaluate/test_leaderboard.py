"""The leaderboard: runs and reference rows, in and out of distribution, three formats."""

import json

from worldlab.data import collect
from worldlab.train import train


def test_leaderboard_cli_scores_runs_and_references_in_and_out_of_distribution(tmp_path, cli):
    one_ball = {"num_balls": 1, "radius_range": [0.1, 0.12]}
    collect("bounce", tmp_path / "id", 3, max_steps=30, size=32, progress=False,
            env_kwargs=one_ball)  # fmt: skip
    collect("bounce", tmp_path / "ood", 2, max_steps=30, size=32, progress=False, seed=50,
            env_kwargs={**one_ball, "radius_range": [0.16, 0.18]})  # fmt: skip
    overrides = {"train.batch_size": 2, "train.seq_len": 8, "train.steps": 2}
    train("rssm", tmp_path / "id", tmp_path / "run", "tiny", overrides, progress=False)
    result = cli(
        "bench", "leaderboard", tmp_path / "run", tmp_path / "run", "--data", tmp_path / "id",
        "--ood", tmp_path / "ood", "--out", tmp_path / "board",
        "--horizon", "4", "--context", "2", "--starts", "2", "--sample", "imagine_latents=mode",
    )  # fmt: skip
    board = json.loads((tmp_path / "board" / "leaderboard.json").read_text())
    assert set(board["table"]) == {"in distribution", "ood"}
    rows = board["table"]["in distribution"]
    mode = "rssm (run), imagine_latents=mode"
    assert list(rows) == [
        "rssm (run)", mode, "rssm (run) #2", "rssm (run) #2, imagine_latents=mode",
        "repeat_last", "mean_frame", "simulator", "real_frames",
    ]  # fmt: skip
    assert rows["rssm (run) #2"] == rows["rssm (run)"]  # scored alone, the same windows
    assert rows[mode]["psnr"] != rows["rssm (run)"]["psnr"]  # scored with its setting
    assert board["sampling"] == {mode: {"imagine_latents": "mode"}, **{
        "rssm (run) #2, imagine_latents=mode": {"imagine_latents": "mode"}}}  # fmt: skip
    assert mode in board["table"]["ood"]
    assert rows["real_frames"]["position_px"] < 0.5 and rows["simulator"]["violations"] == 0
    assert rows["repeat_last"]["psnr"] is not None and rows["simulator"]["psnr"] is None
    assert board["ood_gap"]["rssm (run)"]["ood"] > 0
    assert rows["simulator"]["physics_iq"] == 100.0 and rows["mean_frame"]["physics_iq"] is None
    assert 0 <= rows["rssm (run)"]["physics_iq"] < 100
    assert rows["rssm (run)"]["encoder_fd"] > 0  # perceptual, in distribution only
    assert "encoder_fd" not in board["table"]["ood"]["rssm (run)"]
    assert "WORLDLAB_I3D" in board["perceptual_skipped"]["fvd"]
    markdown = (tmp_path / "board" / "leaderboard.md").read_text()
    assert "**ood**" in markdown and "| simulator |" in markdown
    assert "physics-IQ-style" in markdown and "FD, worldlab encoder" in markdown
    assert "OOD gap" in result.stdout and (tmp_path / "board" / "leaderboard.html").exists()


def test_leaderboard_sampling_options_no_run_declares_are_a_clear_error(tmp_path, cli):
    collect("bounce", tmp_path / "id", 2, max_steps=20, size=32, progress=False)
    overrides = {"train.batch_size": 2, "train.seq_len": 8, "train.steps": 1}
    train("rssm", tmp_path / "id", tmp_path / "run", "tiny", overrides, progress=False)
    result = cli(
        "bench", "leaderboard", tmp_path / "run", "--data", tmp_path / "id",
        "--out", tmp_path / "board", "--sample", "prediction=mean", check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert "no run declares the sampling options prediction" in result.stderr + result.stdout
