"""The README's first command, end to end, at a size that runs in seconds."""

import json

import pytest

from worldlab.demo import DemoSettings, bar_margins, run_demo, verdict


def tiny_settings(**changes) -> DemoSettings:
    settings = DemoSettings(
        train_episodes=3,
        val_episodes=2,
        test_episodes=2,
        episode_steps=30,
        preset="tiny",
        horizon=4,
        videos=1,
        **changes,
    )
    settings.train = {"train.batch_size": 2, "train.seq_len": 8, "train.steps": 3}
    return settings


def test_demo_writes_report_json_html_and_videos(tmp_path):
    settings = tiny_settings(stop_margin=None)
    report = run_demo(tmp_path, settings, progress=False)
    saved = json.loads((tmp_path / "report.json").read_text())
    assert saved["horizon"] == 4 and len(saved["model"]["psnr"]) == 4
    assert set(saved["baselines"]) == {"repeat_last", "mean_frame"}
    assert report["model"]["psnr"] == saved["model"]["psnr"]
    training = saved["demo"]["training"]
    assert training["updates"] == 3 and training["steps_per_second"] > 0
    assert training["precision"] in ("fp32", "bf16") and training["cpu"]
    assert saved["demo"]["bar_holds"] == verdict(saved)[0]
    html = (tmp_path / "report.html").read_text()
    assert "imagine_0.gif" in html and "report.png" in html
    assert saved["demo"]["verdict"] in html and f"{training['updates']} updates" in html
    assert (tmp_path / "media" / "imagine_0.gif").stat().st_size > 0
    # A rerun keeps the trained run (resumes at its step) and rewrites the report.
    run_demo(tmp_path, settings, progress=False)
    assert json.loads((tmp_path / "report.json").read_text())["model"] == saved["model"]


def test_demo_stops_once_the_bar_holds_on_validation_episodes(tmp_path):
    # A margin of -100 dB is reached by any model: training stops at the first check.
    settings = tiny_settings(stop_margin=-100.0, check_from=2, check_every=2)
    settings.train["train.steps"] = 50
    report = run_demo(tmp_path, settings, progress=False)
    training = report["demo"]["training"]
    assert training["updates"] == 2
    assert "validation episodes at step 2" in training["stopped"]
    assert [check["step"] for check in training["validation_checks"]] == [2]
    # With an unreachable margin it trains to the step budget and checks every 2 steps.
    settings = tiny_settings(stop_margin=100.0, check_from=2, check_every=2)
    settings.train["train.steps"] = 6
    report = run_demo(tmp_path / "strict", settings, progress=False)
    training = report["demo"]["training"]
    assert training["updates"] == 6 and "step budget" in training["stopped"]
    assert [check["step"] for check in training["validation_checks"]] == [2, 4]


def _report(model, repeat_last, mean_frame):
    return {
        "model": {"psnr": model},
        "baselines": {"repeat_last": {"psnr": repeat_last}, "mean_frame": {"psnr": mean_frame}},
    }


def test_verdict_names_the_horizons_where_the_bar_fails():
    holds = _report([30.0, 25.0, 20.0], [28.0, 22.0, 15.0], [18.0, 18.0, 18.0])
    assert bar_margins(holds) == pytest.approx([2.0, 3.0, 2.0])
    ok, words = verdict(holds)
    assert ok and "all 3 horizons" in words and "+2.00 dB" in words
    fails = _report([30.0, 21.0, 17.5], [28.0, 22.0, 15.0], [18.0, 18.0, 18.0])
    ok, words = verdict(fails)
    assert not ok and "horizon(s) 2, 3" in words and "-1.00 dB" in words
    assert "--steps" in words
