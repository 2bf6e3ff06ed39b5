"""Video import and action-free copies, on small real videos written here."""

import json
import subprocess
import sys
import warnings

import imageio.v2 as imageio
import numpy as np
import pytest

from worldlab.data import EpisodeDataset, VideoImportWarning, collect, drop_actions, import_videos
from worldlab.data import import_video as module
from worldlab.errors import DatasetError, WorldlabError

RED, GREEN, BLUE = (230, 20, 20), (20, 230, 20), (20, 20, 230)


def thirds(width: int, height: int) -> np.ndarray:
    """A wide frame: red left, green centre square, blue right."""
    frame = np.empty((height, width, 3), np.uint8)
    side = (width - height) // 2
    frame[:, :side], frame[:, side : side + height], frame[:, side + height :] = RED, GREEN, BLUE
    return frame


def write_videos(folder):
    """30 frames at 10 fps (mp4), 12 grey levels at 10 fps (gif, in a subfolder), 3 bad files."""
    folder.mkdir()
    imageio.mimwrite(
        folder / "moving.mp4",
        [thirds(80, 48)] * 30,
        fps=10,
        codec="libx264",
        macro_block_size=1,
        ffmpeg_log_level="error",
    )
    (folder / "sub").mkdir()
    greys = [np.full((24, 24, 3), 20 * i, np.uint8) for i in range(12)]
    imageio.mimwrite(folder / "sub" / "steps.gif", greys, duration=100, loop=0)
    (folder / "broken.mp4").write_bytes(np.random.default_rng(0).bytes(2000))
    (folder / "empty.webm").write_bytes(b"")
    (folder / "notes.txt").write_text("not a video")
    return folder


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    return write_videos(tmp_path_factory.mktemp("in") / "videos")


def run_import(*args, **kwargs):
    """``import_videos`` with progress off; returns (manifest, {file name: warning})."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", VideoImportWarning)
        manifest = import_videos(*args, progress=False, **kwargs)
    skipped = {w.message.path.name: w.message for w in caught if w.category is VideoImportWarning}
    return manifest, skipped


def test_folder_import_clips_shapes_and_skips(videos, tmp_path):
    manifest, skipped = run_import(videos, tmp_path / "out", size=16, clip_length=8)
    assert set(skipped) == {"broken.mp4", "empty.webm", "notes.txt"}
    assert "empty" in skipped["empty.webm"].reason and "not a video" in skipped["notes.txt"].reason
    assert all(w.kind == "unreadable" for w in skipped.values())
    dataset = EpisodeDataset(tmp_path / "out")
    # mp4: 30 frames → 8 + 8 + 8 + 6; gif: 12 frames → 8 + 4 (files sorted by path).
    assert dataset.lengths == [8, 8, 8, 6, 8, 4]
    assert manifest.episodes == 6 and manifest.steps == sum(dataset.lengths) - 6
    assert manifest.env_id == "video" and manifest.action == {"type": "none"}
    assert not dataset.has_actions and dataset.obs_shape == (16, 16, 3)
    episode = dataset.episode(0)
    assert episode["obs"].shape == (8, 16, 16, 3) and episode["obs"].dtype == np.uint8
    assert episode["action"].shape == (8, 0) and not episode["reward"].any()
    assert not episode["terminated"].any()
    batch = dataset.sample(3, 4, rng=np.random.default_rng(0))
    assert batch["obs"].shape == (3, 4, 16, 16, 3) and batch["action"].shape == (3, 4, 0)
    sources = json.loads((tmp_path / "out" / "sources.json").read_text())["sources"]
    assert [s["path"].split("/")[-1] for s in sources] == ["moving.mp4", "steps.gif"]
    assert [e["frames"] for e in sources[0]["episodes"]] == [[0, 8], [8, 16], [16, 24], [24, 30]]
    assert sources[1]["episodes"][1] == {
        "file": "ep_000005.npz",
        "frames": [8, 12],
        "source_frames": [8, 12],
    }


def test_centre_crop_keeps_the_middle_square(videos, tmp_path):
    run_import([videos / "moving.mp4"], tmp_path, size=16)
    frame = EpisodeDataset(tmp_path).episode(0)["obs"][0].astype(float)
    red, green, blue = frame.reshape(-1, 3).mean(0)
    assert green > 200 and red < 40 and blue < 40  # the red and blue sides are cut away
    frames = [thirds(60, 20), thirds(60, 20)[::-1, ::-1]]  # distinct: GIF writers merge repeats
    imageio.mimwrite(tmp_path / "wide.gif", frames, duration=100)
    run_import([tmp_path / "wide.gif"], tmp_path / "gif", size=8)
    frames = EpisodeDataset(tmp_path / "gif").episode(0)["obs"]
    assert (np.abs(frames.astype(int) - GREEN) <= 2).all()


def test_fps_resamples_by_timestamp(videos, tmp_path):
    gif = videos / "sub" / "steps.gif"
    run_import([gif], tmp_path / "slow", size=8, fps=5)  # 10 → 5 fps: every other frame
    slow = EpisodeDataset(tmp_path / "slow").episode(0)["obs"][:, 0, 0, 0]
    assert slow.tolist() == [0, 40, 80, 120, 160, 200]
    run_import([gif], tmp_path / "fast", size=8, fps=20)  # 10 → 20 fps: each frame twice
    fast = EpisodeDataset(tmp_path / "fast").episode(0)["obs"][:, 0, 0, 0]
    assert fast.tolist() == np.repeat(20 * np.arange(12), 2).tolist()
    manifest, _ = run_import([videos / "moving.mp4"], tmp_path / "mp4", size=8, fps=2.5)
    assert EpisodeDataset(tmp_path / "mp4").lengths == [8]  # 3 s at 2.5 fps (ticks 0, 0.4, ...)
    assert manifest.env_kwargs == {"size": 8, "fps": 2.5, "clip_length": None}


def test_resample_follows_variable_frame_times():
    frames = [
        (np.full((1, 1, 3), i, np.uint8), t, d)
        for i, (t, d) in enumerate([(0, 0.1), (0.1, 0.4), (0.5, 0.1)])
    ]
    picked = [index for _, index in module.resample(frames, fps=10)]
    assert picked == [0, 1, 1, 1, 1, 2]
    assert [index for _, index in module.resample(frames, fps=None)] == [0, 1, 2]


def test_rerun_skips_imported_files_and_adds_new_ones(videos, tmp_path):
    out = tmp_path / "out"
    run_import(videos, out, size=16, clip_length=8)
    before = sorted(p.name for p in out.glob("ep_*.npz"))
    manifest, skipped = run_import(videos, out, size=16, clip_length=8)
    assert sorted(p.name for p in out.glob("ep_*.npz")) == before and manifest.episodes == 6
    assert skipped["moving.mp4"].kind == skipped["steps.gif"].kind == "duplicate"
    copy = tmp_path / "copy.gif"  # same content under another name: still a duplicate
    copy.write_bytes((videos / "sub" / "steps.gif").read_bytes())
    assert run_import([copy], out, size=16, clip_length=8)[1]["copy.gif"].kind == "duplicate"
    imageio.mimwrite(tmp_path / "new.gif", [np.full((8, 8, 3), i, np.uint8) for i in range(5)])
    manifest, skipped = run_import([tmp_path / "new.gif"], out, size=16, clip_length=8)
    assert not skipped and manifest.episodes == 7
    imageio.mimwrite(tmp_path / "still.gif", [np.zeros((8, 8, 3), np.uint8)] * 5)
    _, skipped = run_import([tmp_path / "still.gif"], out, size=16, clip_length=8)
    assert "too short: 1 frame(s)" in skipped["still.gif"].reason  # repeats were merged
    with pytest.raises(DatasetError, match="--clip-length"):
        run_import(videos, out, size=16, clip_length=4)


def test_interrupted_import_is_redone_whole(videos, tmp_path, monkeypatch):
    written = []

    def failing_write(path, arrays):
        if len(written) == 2:
            raise KeyboardInterrupt  # killed while writing the third clip
        written.append(path)
        original(path, arrays)

    original = module.write_episode
    monkeypatch.setattr(module, "write_episode", failing_write)
    with pytest.raises(KeyboardInterrupt):
        run_import([videos / "moving.mp4"], tmp_path, size=8, clip_length=8)
    assert len(list(tmp_path.glob("ep_*.npz"))) == 2
    monkeypatch.setattr(module, "write_episode", original)
    manifest, skipped = run_import([videos / "moving.mp4"], tmp_path, size=8, clip_length=8)
    assert not skipped and manifest.episodes == 4
    assert EpisodeDataset(tmp_path).lengths == [8, 8, 8, 6]


def test_bad_arguments_are_clear_errors(videos, tmp_path):
    with pytest.raises(WorldlabError, match="does not exist"):
        import_videos([tmp_path / "missing.mp4"], tmp_path / "out")
    with pytest.raises(WorldlabError, match="--clip-length"):
        import_videos(videos, tmp_path / "out", clip_length=1)
    with pytest.raises(WorldlabError, match="--fps"):
        import_videos(videos, tmp_path / "out", fps=0)
    collect("bounce", tmp_path / "bounce", episodes=1, max_steps=3, size=16, progress=False)
    with pytest.raises(DatasetError, match="env_id"):
        run_import([videos / "moving.mp4"], tmp_path / "bounce", size=16)


def test_drop_actions_copies_everything_else(tmp_path):
    collect(
        "bounce", tmp_path / "src", episodes=2, max_steps=6, size=16, progress=False,
        skins=["flat", "dusk"], controls=True,
    )  # fmt: skip
    manifest = drop_actions(tmp_path / "src", tmp_path / "dst", progress=False)
    assert manifest.skins == ["flat", "dusk"] and manifest.seg_classes
    source, copy = EpisodeDataset(tmp_path / "src"), EpisodeDataset(tmp_path / "dst")
    assert manifest.action == {"type": "none"} and manifest.episodes == 2 and not copy.has_actions
    assert manifest.env_id == source.manifest.env_id and manifest.has_state
    for index in range(2):
        original, stripped = source.episode(index), copy.episode(index)
        assert stripped["action"].shape == (7, 0)
        for key in ("obs", "reward", "terminated", "state", "style", "seg", "depth"):
            np.testing.assert_array_equal(original[key], stripped[key])
    assert drop_actions(tmp_path / "src", tmp_path / "dst", progress=False).episodes == 2
    with pytest.raises(WorldlabError, match="must differ"):
        drop_actions(tmp_path / "src", tmp_path / "src")


def worldlab(*args):
    command = [sys.executable, "-m", "worldlab.cli.main", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def test_cli_import_video_and_drop_actions(videos, tmp_path):
    out = tmp_path / "out"
    result = worldlab(
        "data", "import-video", videos, "--out", out, "--size", 16, "--clip-length", 8
    )
    assert result.returncode == 1, result.stderr  # some files were skipped
    for name in ("broken.mp4", "empty.webm", "notes.txt"):
        assert name in result.stdout
    assert "6 clips" in result.stdout and "could not be imported" in result.stdout
    good = [videos / "moving.mp4", videos / "sub"]
    result = worldlab("data", "import-video", *good, "--out", out, "--size", 16, "--clip-length", 8)
    assert result.returncode == 0 and "2 file(s) were imported before" in result.stdout
    assert "none (action-free video)" in worldlab("data", "info", out).stdout
    result = worldlab("data", "import-video", tmp_path / "nope.mp4", "--out", out)
    assert result.returncode == 2 and "does not exist" in result.stderr
    assert "Traceback" not in result.stderr
    collect("reach", tmp_path / "reach", episodes=1, max_steps=4, size=16, progress=False)
    result = worldlab("data", "drop-actions", tmp_path / "reach", "--out", tmp_path / "free")
    assert result.returncode == 0 and "without actions" in result.stdout
    assert not EpisodeDataset(tmp_path / "free").has_actions
