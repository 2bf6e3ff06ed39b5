"""Checkpoints verify their contents: a flipped bit is caught, named, and the last good
checkpoint used (by loads, by --resume, by agents, and listed by `worldlab runs check`)."""

import json
import re
import shutil
import warnings

import pytest
import torch
from safetensors.torch import load_file

import worldlab
from worldlab.agents.online import load_online_agent, train_online
from worldlab.data import collect
from worldlab.errors import WorldlabError
from worldlab.train import train
from worldlab.train.checkpoint import checkpoint_dirs, latest_checkpoint
from worldlab.train.integrity import verify

torch.set_num_threads(2)
TINY = {"train.batch_size": 4, "train.seq_len": 8, "train.log_every": 1}
STEPS = {**TINY, "train.steps": 2, "train.checkpoint_every": 1}  # step_1 and step_2


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("bounce32")
    collect("bounce", root, episodes=3, max_steps=30, size=32, progress=False)
    return root


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory):
    run = tmp_path_factory.mktemp("trained") / "run"
    train("rssm", data, run, "tiny", STEPS, progress=False)
    return run


@pytest.fixture
def run(trained, tmp_path):
    """A fresh copy of a tiny run with two good checkpoints, step_1 and step_2."""
    return shutil.copytree(trained, tmp_path / "run")


def flip(path, size=4096):
    """Invert ``size`` bytes in the middle of ``path`` (the file keeps its length)."""
    data = bytearray(path.read_bytes())
    start = max(0, len(data) // 2 - size // 2)
    data[start : start + size] = bytes(b ^ 0xFF for b in data[start : start + size])
    path.write_bytes(bytes(data))


def loaded_from(model, checkpoint):
    weights = load_file(checkpoint / "model.safetensors")
    return all(torch.equal(tensor, weights[name]) for name, tensor in model.state_dict().items())


def test_every_file_of_a_checkpoint_is_recorded_and_verifies(run):
    newest = checkpoint_dirs(run)[-1]
    meta = json.loads((newest / "meta.json").read_text())
    on_disk = {p.name for p in newest.iterdir()} - {"meta.json"}
    assert meta["step"] == 2 and set(meta["files"]) == on_disk == {
        "model.safetensors",
        "trainer.pt",
    }
    for name, record in meta["files"].items():
        assert record["bytes"] == (newest / name).stat().st_size and len(record["sha256"]) == 64
    verdict = verify(newest)
    assert verdict.state == "good" and verdict.files == 2 and not verdict.problems


@pytest.mark.parametrize("name", ["model.safetensors", "trainer.pt", "meta.json"])
def test_a_flipped_file_is_named_and_the_older_checkpoint_used(run, name):
    older, newest = checkpoint_dirs(run)
    flip(newest / name, size=4096 if name != "meta.json" else 8)
    problem = f"{name} fails its checksum" if name != "meta.json" else "meta.json cannot be read"
    with pytest.warns(UserWarning, match=f"step_00000002 is damaged: {problem}") as caught:
        model = worldlab.load(run)
    assert "using the older step_00000001" in str(caught[0].message)
    assert loaded_from(model, older)
    with pytest.warns(UserWarning, match=problem):
        path, _, trainer = latest_checkpoint(run)  # as --resume reads it
    assert path == older and trainer["step"] == 1


def test_an_edited_record_size_or_missing_file_is_damage(run):
    older, newest = checkpoint_dirs(run)
    meta = json.loads((newest / "meta.json").read_text())
    meta["step"] = 7  # valid JSON, but not what was written
    (newest / "meta.json").write_text(json.dumps(meta))
    assert verify(newest).problems == ["meta.json fails its checksum"]
    weights = older / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-10])
    assert verify(older).problems[0].startswith("model.safetensors has ")
    (older / "model.safetensors").unlink()
    assert verify(older).message().endswith("is incomplete: model.safetensors is missing")


def test_a_checkpoint_written_before_checksums_loads_with_one_note(run):
    for checkpoint in checkpoint_dirs(run):
        (checkpoint / "meta.json").write_text(json.dumps({"step": 1}) + "\n")  # the old record
    with pytest.warns(UserWarning, match="written before worldlab recorded checksums"):
        model = worldlab.load(run)
    assert loaded_from(model, checkpoint_dirs(run)[-1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # noted once: a second load is silent
        worldlab.load(run)


def test_resume_falls_back_sets_the_damage_aside_and_continues_exactly(data, run, tmp_path):
    flip(checkpoint_dirs(run)[-1] / "model.safetensors")
    with pytest.warns(UserWarning) as caught:
        summary = train("rssm", data, run, None, {"train.steps": 3}, resume=True, progress=False)
    damaged, resumed = (str(w.message) for w in caught)
    assert "step_00000002 is damaged: model.safetensors fails its checksum" in damaged
    assert re.search(r"--resume continues from .*step_00000001 \(step 1\)", resumed)
    assert summary["step"] == 3 and summary["steps_this_call"] == 2
    root = run / "checkpoints"
    assert (root / "damaged_step_00000002").is_dir()  # kept for inspection, never loaded
    assert [p.name for p in checkpoint_dirs(run)] == ["step_00000002", "step_00000003"]
    assert "damaged newer checkpoints set aside" in (run / "log.txt").read_text()
    straight = tmp_path / "straight"
    train("rssm", data, straight, "tiny", {**STEPS, "train.steps": 3}, progress=False)
    expected = worldlab.load(straight).state_dict()
    for key, tensor in worldlab.load(run).state_dict().items():
        assert torch.equal(tensor, expected[key]), key


def test_all_damaged_is_a_clear_error_for_load_and_resume(data, run):
    older, newest = checkpoint_dirs(run)
    flip(older / "trainer.pt")
    flip(newest / "model.safetensors")
    for attempt in (
        lambda: worldlab.load(run),
        lambda: train("rssm", data, run, None, {"train.steps": 3}, resume=True, progress=False),
    ):
        with pytest.raises(WorldlabError, match="no checkpoint of run .* verifies") as error:
            attempt()
        message = str(error.value)
        assert "step_00000002 is damaged: model.safetensors fails" in message
        assert "step_00000001 is damaged: trainer.pt fails" in message
        assert "nothing was loaded" in message and "runs check" in message


def test_runs_check_lists_each_checkpoint_and_fails_on_damage(run, cli):
    result = cli("runs", "check", run)
    assert "good: step_00000001" in result.stdout and "good: step_00000002" in result.stdout
    older, newest = checkpoint_dirs(run)
    (older / "meta.json").write_text(json.dumps({"step": 1}))
    flip(newest / "trainer.pt")
    result = cli("runs", "check", run, check=False)
    assert result.returncode == 1
    assert "unverified: step_00000001" in result.stdout
    assert "damaged: step_00000002: trainer.pt fails its checksum (sha256" in result.stdout
    assert "newest checkpoint, step_00000002, is damaged" in result.stdout
    weights = older / "model.safetensors"  # unverified: only unreadable damage shows
    weights.write_bytes(weights.read_bytes()[:1000])
    result = cli("runs", "check", run, check=False)
    assert result.returncode == 1 and "damaged: step_00000001: model.safetensors" in result.stdout
    assert "no checkpoint of" in result.stdout and "can be loaded" in result.stdout


def test_the_cli_says_which_checkpoint_it_used(run, data, cli):
    flip(checkpoint_dirs(run)[-1] / "model.safetensors")
    result = cli("imagine", run, "--data", data, "--horizon", 2, "--out", run / "i.gif")
    assert "step_00000002 is damaged: model.safetensors fails its checksum" in result.stderr
    assert "using the older step_00000001" in result.stderr


def test_an_agent_checkpoint_is_verified_and_falls_back_as_one(tmp_path):
    settings = {
        "online.size": 32,
        "online.prefill": 20,
        "online.checkpoint_every": 20,
        "online.eval_every": 10**6,
        "online.eval_episodes": 1,
        "online.max_episode_steps": 10,
        "online.train_ratio": 8.0,
        "train.batch_size": 2,
        "train.seq_len": 8,
        "behavior.hidden": 16,
        "behavior.layers": 1,
        "behavior.horizon": 3,
    }
    run = tmp_path / "dreamer"
    train_online("dreamer", "reach", 40, run, overrides=settings, progress=False)
    older, newest = checkpoint_dirs(run)[-2:]
    assert set(json.loads((newest / "meta.json").read_text())["files"]) == {
        p.name for p in newest.iterdir() if p.name != "meta.json"
    }
    flip(newest / "trainer.pt")  # the behaviour lives there: the weights must not be newer
    with pytest.warns(UserWarning, match="trainer.pt fails its checksum"):
        model, _, _ = load_online_agent(run)
    assert loaded_from(model, older)
    flip(newest / "model.safetensors")
    with pytest.warns(UserWarning) as caught:
        train_online("dreamer", "reach", 40, run, overrides=None, resume=True, progress=False)
    assert any(f"--resume continues from {older}" in str(w.message) for w in caught)
    assert (run / "checkpoints" / f"damaged_{newest.name}").is_dir()
