"""Bad paths and damaged files get a message that names the file and says what to do.

Every command is tried with a file where a directory is expected (and the reverse), JSON
files full of binary junk, a directory that cannot be written and a disk that fills up
mid-write. None may end in a traceback; nothing written before the failure may be lost.
"""

import errno
import os
import sys

import numpy as np
import pytest

from worldlab.cli.main import main
from worldlab.data import EpisodeDataset, collect, write_video
from worldlab.train import train

JUNK = bytes(range(256)) * 4  # not UTF-8, not JSON


def run_main(monkeypatch, capsys, *args) -> tuple[int, str]:
    """``worldlab ARGS`` in this process (so a test can break the file system under it)."""
    monkeypatch.setattr(sys, "argv", ["worldlab", *map(str, args)])
    with pytest.raises(SystemExit) as done:
        main()
    captured = capsys.readouterr()
    return done.value.code, captured.out + captured.err


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad_paths")
    collect("bounce", root / "data", 2, max_steps=12, size=16, progress=False)
    overrides = {"train.steps": 1, "train.batch_size": 2, "train.seq_len": 4}
    train("rssm", root / "data", root / "run", "tiny", overrides, progress=False)
    (root / "afile").write_text("I am a file\n")
    write_video(EpisodeDataset(root / "data").episode(0)["obs"], root / "video" / "clip.gif")
    return root


def test_collect_into_an_existing_file(setup, monkeypatch, capsys):
    code, out = run_main(
        monkeypatch, capsys, "collect", "--env", "bounce", "--episodes", 1, "--out", setup / "afile"
    )
    assert code == 2 and "Traceback" not in out
    assert "afile is a file, not a directory" in out
    assert (setup / "afile").read_text() == "I am a file\n"  # untouched


def test_info_on_a_dataset_of_random_bytes(tmp_path, monkeypatch, capsys):
    collect("bounce", tmp_path, 2, max_steps=5, size=16, progress=False)
    for path in tmp_path.iterdir():
        path.write_bytes(JUNK)
    code, out = run_main(monkeypatch, capsys, "data", "info", tmp_path)
    assert code == 2 and "Traceback" not in out
    assert "manifest.json is corrupt" in out and "binary data" in out
    assert "rerun `worldlab collect`" in out


@pytest.mark.parametrize(
    "args, expected",
    [
        (("data", "info", "{afile}"), "is a file, not a dataset directory"),
        (("data", "view", "{afile}", "--out", "{tmp}/v.gif"), "is a file, not a dataset"),
        (("data", "drop-actions", "{data}", "--out", "{afile}"), "is a file, not a directory"),
        (("data", "import-video", "{video}", "--out", "{afile}"), "is a file, not a directory"),
        (("train", "rssm", "--data", "{afile}", "--out", "{tmp}/r"), "is a file"),
        (("train", "rssm", "--data", "{data}", "--out", "{afile}"), "is a file"),
        (("imagine", "{afile}", "--data", "{data}", "--out", "{tmp}/i.gif"), "it is a file"),
        (("imagine", "{run}", "--data", "{data}", "--out", "{tmp}"), "use a .mp4 or .gif file"),
        (("evaluate", "{run}", "--data", "{afile}", "--out", "{tmp}/r.json"), "is a file"),
        (
            ("evaluate", "{run}", "--data", "{data}", "--horizon", "3", "--out", "{tmp}"),
            "is a directory",
        ),
        (("map-actions", "{afile}", "--data", "{data}"), "it is a file"),
        (("agent", "eval", "{afile}"), "afile"),
        (
            ("agent", "train", "mpc", "--env", "reach", "--steps", "10", "--out", "{afile}"),
            "is a file",
        ),
        (("plan", "{afile}", "--env", "reach"), "it is a file"),
        (("demo", "--out", "{afile}"), "is a file"),
        (("collect", "--env", "bounce", "--out", "{afile}/sub"), "afile"),
    ],
)
def test_files_where_directories_belong_and_the_reverse(setup, tmp_path, args, expected, cli):
    names = {name: setup / name for name in ("afile", "data", "run", "video")} | {"tmp": tmp_path}
    result = cli(*(a.format(**names) for a in args), check=False)
    assert result.returncode == 2, (args, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    assert expected in result.stderr, result.stderr


@pytest.mark.parametrize("name", ["config.json", "action_map.json"])
def test_run_json_files_full_of_binary_junk(setup, tmp_path, name, cli):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(setup / "run", run)
    (run / name).write_bytes(JUNK)
    for args in (
        ("imagine", run, "--data", setup / "data", "--out", tmp_path / "i.gif"),
        ("play", run, "--port", 1),
    ):
        if name == "action_map.json" and args[0] == "imagine":
            continue  # imagine drives the model with its own actions: it reads no map
        result = cli(*args, check=False)
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr
        assert f"{name} is corrupt" in result.stderr and "binary data" in result.stderr


def test_a_directory_that_cannot_be_written(tmp_path, monkeypatch, capsys):
    # Tests may run as root, whom chmod does not stop: refuse the rename of every write.
    def refuse(source, target):
        raise PermissionError(errno.EACCES, "Permission denied", str(target))

    monkeypatch.setattr(os, "replace", refuse)
    code, out = run_main(
        monkeypatch, capsys, "collect", "--env", "bounce", "--episodes", 1, "--out", tmp_path / "d"
    )
    assert code == 2 and "Traceback" not in out
    assert "cannot write" in out and "manifest.json" in out and "permission denied" in out


def test_a_disk_that_fills_mid_collection_loses_nothing(tmp_path, monkeypatch, capsys):
    out_dir = tmp_path / "d"
    real_savez, calls = np.savez, []

    def savez_until_full(file, **arrays):
        calls.append(1)
        if len(calls) == 2:  # the second episode: half written, then the disk is full
            file.write(b"\0" * 1000)
            raise OSError(errno.ENOSPC, "No space left on device", str(out_dir / "ep_000001.npz"))
        real_savez(file, **arrays)

    monkeypatch.setattr(np, "savez", savez_until_full)
    args = ("collect", "--env", "bounce", "--episodes", 3, "--max-steps", 5, "--size", 16)
    code, out = run_main(monkeypatch, capsys, *args, "--out", out_dir)
    assert code == 2 and "Traceback" not in out
    assert "the disk is full while writing" in out and "ep_000001.npz" in out
    assert "rerun" in out
    names = sorted(p.name for p in out_dir.iterdir())
    assert names == ["captions.json", "ep_000000.npz", "manifest.json"]
    assert EpisodeDataset(out_dir).validate() == {}  # no half-written file, nothing corrupt
    monkeypatch.setattr(np, "savez", real_savez)
    code, out = run_main(monkeypatch, capsys, *args, "--out", out_dir)
    assert code == 0 and len(EpisodeDataset(out_dir)) == 3
