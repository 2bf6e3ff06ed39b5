"""The README's first command, end to end, at a size that runs in seconds."""

import json

from worldlab.demo import DemoSettings, run_demo


def test_demo_writes_report_json_html_and_videos(tmp_path):
    settings = DemoSettings(
        train_episodes=3, test_episodes=2, episode_steps=30, preset="tiny", horizon=4, videos=1
    )
    settings.train = {"train.batch_size": 2, "train.seq_len": 8, "train.steps": 3}
    report = run_demo(tmp_path, settings, progress=False)
    saved = json.loads((tmp_path / "report.json").read_text())
    assert saved["horizon"] == 4 and len(saved["model"]["psnr"]) == 4
    assert set(saved["baselines"]) == {"repeat_last", "mean_frame"}
    assert report["model"]["psnr"] == saved["model"]["psnr"]
    html = (tmp_path / "report.html").read_text()
    assert "imagine_0.gif" in html and "report.png" in html
    assert (tmp_path / "media" / "imagine_0.gif").stat().st_size > 0
    # A rerun keeps the trained run (resumes at its step) and rewrites the report.
    run_demo(tmp_path, settings, progress=False)
    assert json.loads((tmp_path / "report.json").read_text())["model"] == saved["model"]
