"""`worldlab curate` end to end on synthetic footage with a known fate for every file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from footage import moving_scene, write_video
from PIL import Image

from worldlab.curate import CurateConfig, curate
from worldlab.curate import stages as curate_stages
from worldlab.data import EpisodeDataset
from worldlab.errors import WorldlabError

pytest.importorskip("scenedetect")
pytest.importorskip("imagehash")

CONFIG = CurateConfig(clip_length=16)  # 4 s shots at 10 fps: two clips each


@pytest.fixture(scope="module")
def footage(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("footage")
    two_shots = np.concatenate(
        [
            moving_scene(4, seed=1),
            moving_scene(4, background=(200, 60, 60), colour=(30, 200, 90), seed=2, speed=60),
        ]
    )
    write_video(folder / "two_shots.mp4", two_shots)
    (folder / "two_shots.txt").write_text("a yellow ball, then a green one")
    smaller = [np.asarray(Image.fromarray(f).resize((120, 72))) for f in moving_scene(4, seed=1)]
    write_video(folder / "reupload.mp4", np.stack(smaller))  # shot 1 of two_shots, re-encoded
    write_video(folder / "static.mp4", moving_scene(4, seed=3, static=True))
    shutil.copy(folder / "static.mp4", folder / "static_copy.mp4")
    write_video(folder / "dark.mp4", moving_scene(4, seed=4, brightness=0.12))
    write_video(folder / "blurry.mp4", moving_scene(4, seed=5, blur=3, background=(150, 100, 30)))
    write_video(folder / "fast.mp4", moving_scene(4, seed=7, speed=600, background=(90, 60, 120)))
    write_video(folder / "letterbox.mp4", moving_scene(4, seed=6, letterbox=14))
    (folder / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 20)
    return folder


def fates(out: Path) -> dict[str, list]:
    """File name → what happened to it: a file-level reason, or its clips' fates."""
    record = json.loads((out / "curation.json").read_text())
    result: dict[str, list] = {}
    for item in record["items"]:
        name = Path(item["path"]).name
        if item["kind"] == "file":
            result[name] = [item["dropped"]]
        else:
            result.setdefault(name, []).append(item.get("dropped", "kept"))
    return result


@pytest.fixture(scope="module")
def curated(footage, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("curated") / "data"
    with pytest.warns(UserWarning, match="broken.mp4"):
        summary = curate(footage, out, CONFIG, engine="local", progress=False)
    return out, summary


def test_every_file_gets_the_fate_its_content_calls_for(curated):
    out, summary = curated
    assert fates(out) == {
        "two_shots.mp4": ["kept"] * 4,  # two shots found, two clips each
        "reupload.mp4": ["duplicate"] * 2,  # the larger original is kept
        "static.mp4": ["static"] * 2,
        "static_copy.mp4": ["duplicate"],  # same bytes: never decoded
        "dark.mp4": ["too dark"] * 2,
        "blurry.mp4": ["blurry"] * 2,
        "fast.mp4": ["too fast"] * 2,
        "letterbox.mp4": ["kept"] * 2,
        "broken.mp4": ["unreadable"],
    }
    assert summary["kept"] == 6
    assert summary["dropped"] == {
        "unreadable": 1, "too dark": 2, "static": 2, "too fast": 2, "blurry": 2, "duplicate": 3
    }  # fmt: skip


def test_the_output_is_a_standard_dataset_with_captions(curated):
    out, _ = curated
    dataset = EpisodeDataset(out)
    assert len(dataset) == 6 and dataset.obs_shape == (64, 64, 3)
    assert not dataset.has_actions
    assert set(dataset.lengths) == {16}
    captions = [dataset.caption(i) for i in range(len(dataset))]
    assert sum(1 for c in captions if c and "yellow ball" in c["caption"]) == 4


def test_black_borders_are_cropped(curated, footage):
    out, _ = curated
    record = json.loads((out / "curation.json").read_text())
    (episode,) = {
        item["episode"] for item in record["items"]
        if item["path"].endswith("letterbox.mp4") and item["clip"] == 0
    }  # fmt: skip
    frames = EpisodeDataset(out).episode(int(episode[3:9]))["obs"]
    rows = frames.astype(float).mean(axis=(0, 2, 3))
    assert rows.min() > 40  # no black bar left at the top or bottom


def test_shots_are_split_at_the_cut(curated):
    out, _ = curated
    record = json.loads((out / "curation.json").read_text())
    shots = {
        (item["shot"]["start"], item["shot"]["end"])
        for item in record["items"]
        if item["path"].endswith("two_shots.mp4")
    }
    assert sorted(shots) == [(0.0, 4.0), (4.0, 8.0)]


def test_the_report_names_every_file(curated):
    out, summary = curated
    page = (out / "curation" / "report.html").read_text()
    for name in ("broken.mp4", "static_copy.mp4", "reupload.mp4", "fast.mp4"):
        assert name in page
    assert "Error opening input" in page or "Invalid data" in page
    assert list((out / "curation" / "previews").glob("*.gif"))
    assert summary["clips_per_second"] > 0


def test_a_rerun_redoes_nothing_and_a_new_file_adds_only_its_clips(footage, tmp_path):
    source = tmp_path / "footage"
    shutil.copytree(footage, source)
    out = tmp_path / "data"
    with pytest.warns(UserWarning):
        curate(source, out, CONFIG, engine="local", progress=False)
    before = {p.name: p.stat().st_mtime_ns for p in out.glob("ep_*.npz")}
    with pytest.warns(UserWarning):
        again = curate(source, out, CONFIG, engine="local", progress=False)
    assert again["written"] == 0 and again["clips_done_before"] == again["clips"]
    write_video(source / "new.mp4", moving_scene(4, seed=9, background=(20, 150, 150)))
    with pytest.warns(UserWarning):
        more = curate(source, out, CONFIG, engine="local", progress=False)
    assert more["written"] == 2 and more["kept"] == 8
    after = {p.name: p.stat().st_mtime_ns for p in out.glob("ep_*.npz")}
    assert {k: after[k] for k in before} == before  # earlier episodes untouched


def test_an_interrupted_run_resumes_where_it_stopped(footage, tmp_path, monkeypatch):
    out = tmp_path / "data"
    calls = {"n": 0}
    original = curate_stages.TranscodeShot._transcode

    def dies_on_the_fourth_shot(self, *args):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        return original(self, *args)

    monkeypatch.setattr(curate_stages.TranscodeShot, "_transcode", dies_on_the_fourth_shot)
    with pytest.raises(KeyboardInterrupt):
        curate(footage, out, CONFIG, engine="local", progress=False)
    monkeypatch.setattr(curate_stages.TranscodeShot, "_transcode", original)
    with pytest.warns(UserWarning):
        summary = curate(footage, out, CONFIG, engine="local", progress=False)
    assert summary["clips_done_before"] > 0  # three shots' clips were not redone
    assert summary["kept"] == 6
    assert fates(out) == fates_of_a_clean_run(footage, tmp_path)


def fates_of_a_clean_run(footage, tmp_path):
    out = tmp_path / "clean"
    with pytest.warns(UserWarning):
        curate(footage, out, CONFIG, engine="local", progress=False)
    return fates(out)


def test_thresholds_are_flags(footage, tmp_path, cli):
    out = tmp_path / "data"
    result = cli("curate", footage, "--out", out, "--engine", "local", "--clip-length", "16",
                 "--min-sharpness", "0", "--clusters", "2")  # fmt: skip
    assert "broken.mp4" in result.stdout and "kept" in result.stdout
    assert fates(out)["blurry.mp4"] == ["kept"] * 2
    record = json.loads((out / "curation.json").read_text())
    clusters = {i["cluster"] for i in record["items"] if "cluster" in i}
    assert clusters == {0, 1}


def test_settings_of_another_curation_are_refused(curated, footage):
    out, _ = curated
    with pytest.raises(WorldlabError, match="already holds a dataset"):
        curate(footage, out, CurateConfig(clip_length=8), engine="local", progress=False)


def test_ray_data_gives_the_same_dataset_as_one_process(footage, curated, tmp_path):
    pytest.importorskip("ray")
    out = tmp_path / "data"
    with pytest.warns(UserWarning):
        summary = curate(footage, out, CONFIG, engine="ray", workers=2, progress=False)
    assert summary["engine"] == "ray"
    local_out, _ = curated
    assert fates(out) == fates(local_out)
    ours, theirs = EpisodeDataset(out), EpisodeDataset(local_out)
    for index in range(len(ours)):
        assert np.array_equal(ours.episode(index)["obs"], theirs.episode(index)["obs"])
