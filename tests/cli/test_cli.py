"""The command line as a user runs it: real processes, real exit codes."""

import subprocess
import sys

import pytest


def worldlab(*args, check=True):
    result = subprocess.run(
        [sys.executable, "-m", "worldlab.cli.main", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"worldlab {args} failed ({result.returncode}):\n{result.stderr}")
    return result


def test_envs_lists_worlds_and_suites():
    out = worldlab("envs").stdout
    for name in ("bounce", "reach", "platformer", "worldlab/Bounce-v0", "atari", "minatar"):
        assert name in out


@pytest.mark.parametrize("env", ["bounce", "reach", "platformer", "CartPole-v1"])
def test_collect_info_view(tmp_path, env):
    data = tmp_path / "data"
    worldlab("collect", "--env", env, "--episodes", 2, "--max-steps", 12, "--out", data)
    info = worldlab("data", "info", data).stdout
    assert "2 readable, 0 corrupt" in info and "[64, 64, 3] uint8" in info
    worldlab("data", "view", data, "--episode", 1, "--out", tmp_path / "ep.gif")
    assert (tmp_path / "ep.gif").stat().st_size > 0


def test_collect_passes_env_arguments(tmp_path):
    worldlab(
        "collect",
        "--env",
        "bounce",
        "--episodes",
        1,
        "--max-steps",
        3,
        "--out",
        tmp_path,
        "--env-arg",
        "num_balls=1",
        "--env-arg",
        "gravity=0",
    )
    assert "num_balls" in worldlab("data", "info", tmp_path).stdout


def test_info_names_corrupt_files_and_fails(tmp_path):
    worldlab("collect", "--env", "bounce", "--episodes", 3, "--max-steps", 5, "--out", tmp_path)
    (tmp_path / "ep_000002.npz").write_bytes(b"broken")
    result = worldlab("data", "info", tmp_path, check=False)
    assert result.returncode == 1
    assert "ep_000002.npz" in result.stdout and "2 readable, 1 corrupt" in result.stdout


def test_user_errors_are_messages_not_tracebacks(tmp_path):
    for args, expected in [
        (("data", "info", tmp_path / "missing"), "does not exist"),
        (("collect", "--env", "Nope-v9", "--out", tmp_path / "x"), "unknown environment"),
        (("collect", "--env", "bounce", "--out", tmp_path / "y", "--env-arg", "oops"), "malformed"),
        (("data", "view", tmp_path / "missing", "--out", tmp_path / "v.txt"), "does not exist"),
        (
            ("collect", "--env", "bounce", "--episodes", "x", "--out", tmp_path / "z"),
            "Invalid value",
        ),
        (
            ("train", "rssm", "--data", tmp_path / "missing", "--out", tmp_path / "r"),
            "does not exist",
        ),
    ]:
        result = worldlab(*args, check=False)
        assert result.returncode == 2, args
        assert expected in result.stderr and "Traceback" not in result.stderr
