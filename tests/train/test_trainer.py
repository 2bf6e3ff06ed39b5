import json
import signal
import subprocess
import sys
import time

import pytest
import torch

import worldlab
from worldlab.data import collect
from worldlab.errors import WorldlabError
from worldlab.train import train
from worldlab.train.checkpoint import checkpoint_dirs

torch.set_num_threads(2)
TINY = {"train.batch_size": 4, "train.seq_len": 8, "train.log_every": 1}


def weights(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_loss_falls_on_a_tiny_dataset(data, tmp_path):
    train(
        "rssm",
        data,
        tmp_path / "run",
        "tiny",
        {**TINY, "train.steps": 40, "model.lr": 1e-3},
        progress=False,
    )
    losses = [json.loads(line)["image"] for line in open(tmp_path / "run" / "metrics.jsonl")]
    assert len(losses) == 40
    assert sum(losses[-5:]) / 5 < 0.5 * sum(losses[:5]) / 5


def test_stop_when_ends_training_early_and_says_why(data, tmp_path):
    seen = []

    def stop_when(trainer):
        seen.append((trainer.step, trainer.model.training))
        return "good enough" if trainer.step >= 4 else None

    summary = train(
        "rssm",
        data,
        tmp_path / "run",
        "tiny",
        {**TINY, "train.steps": 20},
        progress=False,
        stop_when=stop_when,
        check_every=2,
    )
    assert [step for step, _ in seen] == [0, 2, 4]
    assert summary["step"] == 4 and summary["stopped"] == "good enough"
    assert checkpoint_dirs(tmp_path / "run")  # an early stop still saves
    summary = train(
        "rssm", data, tmp_path / "plain", "tiny", {**TINY, "train.steps": 2}, progress=False
    )
    assert summary["stopped"] is None


def test_resume_continues_exactly(data, tmp_path):
    overrides = {**TINY, "train.checkpoint_every": 3}
    train(
        "rssm", data, tmp_path / "straight", "tiny", {**overrides, "train.steps": 6}, progress=False
    )
    train("rssm", data, tmp_path / "split", "tiny", {**overrides, "train.steps": 3}, progress=False)
    summary = train(
        "rssm", data, tmp_path / "split", None, {"train.steps": 6}, resume=True, progress=False
    )
    assert summary["step"] == 6 and summary["steps_this_call"] == 3
    assert summary["notes"] == ["train.steps: 3 → 6"]
    straight = worldlab.load(tmp_path / "straight").state_dict()
    split = worldlab.load(tmp_path / "split").state_dict()
    for key in straight:
        torch.testing.assert_close(straight[key], split[key], rtol=0, atol=0, msg=key)
    optimizer_state = torch.load(
        checkpoint_dirs(tmp_path / "split")[-1] / "trainer.pt", weights_only=False
    )["optimizer"]
    assert optimizer_state["state"][0]["step"] == 6  # Adam's own step count carried over


def test_resume_refuses_a_conflicting_setting(data, tmp_path):
    train("rssm", data, tmp_path / "run", "tiny", {**TINY, "train.steps": 1}, progress=False)
    with pytest.raises(WorldlabError, match="trained with model.deter=128.*64"):
        train("rssm", data, tmp_path / "run", None, {"model.deter": 64}, resume=True)
    with pytest.raises(WorldlabError, match="already holds a trained run"):
        train("rssm", data, tmp_path / "run", "tiny", {"train.steps": 1})
    with pytest.raises(WorldlabError, match="trained with preset='tiny'.*'demo'"):
        train("rssm", data, tmp_path / "run", "demo", {"train.steps": 2}, resume=True)
    summary = train("rssm", data, tmp_path / "run", "tiny", {"train.steps": 2}, resume=True)
    assert summary["step"] == 2  # naming the run's own preset again is fine


def test_resume_with_a_dataset_of_another_shape_is_refused(data, tmp_path):
    train("rssm", data, tmp_path / "run", "tiny", {**TINY, "train.steps": 1}, progress=False)
    other = tmp_path / "other"
    collect(
        "bounce",
        other,
        episodes=1,
        max_steps=10,
        size=64,
        progress=False,
        env_kwargs={"num_balls": 1},
    )
    with pytest.raises(WorldlabError, match=r"\[64, 64, 3\].*trained on \[32, 32, 3\]"):
        train("rssm", other, tmp_path / "run", None, {"train.steps": 2}, resume=True)


def test_load_gives_the_trained_model(data, tmp_path):
    train("rssm", data, tmp_path / "run", "tiny", {**TINY, "train.steps": 2}, progress=False)
    model = worldlab.load(tmp_path / "run")
    assert model.family == "rssm" and not model.training
    assert (tmp_path / "run" / "config.json").exists()
    again = worldlab.load(tmp_path / "run")
    obs = torch.zeros(1, 2, 32, 32, 3, dtype=torch.uint8)
    action = torch.zeros(1, 2, dtype=torch.long)
    torch.manual_seed(0)
    a = model.render(model.observe(obs, action))
    torch.manual_seed(0)
    b = again.render(again.observe(obs, action))
    assert torch.equal(a, b)


def test_missing_and_truncated_checkpoints_are_clear_errors(data, tmp_path):
    with pytest.raises(WorldlabError, match="not a worldlab run"):
        worldlab.load(tmp_path / "nothing")
    train("rssm", data, tmp_path / "run", "tiny", {**TINY, "train.steps": 1}, progress=False)
    (checkpoint,) = checkpoint_dirs(tmp_path / "run")
    weights_file = checkpoint / "model.safetensors"
    weights_file.write_bytes(weights_file.read_bytes()[:1000])
    with pytest.raises(WorldlabError, match="damaged"):
        worldlab.load(tmp_path / "run")
    weights_file.unlink()
    with pytest.raises(WorldlabError, match="incomplete.*model.safetensors"):
        worldlab.load(tmp_path / "run")


def test_a_damaged_newest_checkpoint_falls_back_to_the_previous(data, tmp_path):
    train(
        "rssm",
        data,
        tmp_path / "run",
        "tiny",
        {**TINY, "train.steps": 2, "train.checkpoint_every": 1},
        progress=False,
    )
    newest = checkpoint_dirs(tmp_path / "run")[-1]
    (newest / "model.safetensors").write_bytes(b"junk")
    with pytest.warns(UserWarning, match="using the older step_00000001"):
        worldlab.load(tmp_path / "run")


def test_ctrl_c_saves_a_checkpoint_and_exits_cleanly(data, tmp_path):
    run = tmp_path / "run"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "worldlab.cli.main",
            "train",
            "rssm",
            "--data",
            str(data),
            "--out",
            str(run),
            "--preset",
            "tiny",
            "--steps",
            "100000",
            "--set",
            "train.batch_size=2",
            "--set",
            "train.seq_len=4",
            "--set",
            "train.log_every=1",
            "--set",
            "train.checkpoint_every=100000",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 60
    while not (run / "metrics.jsonl").exists() and time.time() < deadline:
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "interrupted, checkpoint saved" in out
    (checkpoint,) = checkpoint_dirs(run)
    assert 0 < int(checkpoint.name.split("_")[1]) < 100000


def test_save_load_evaluate_gives_identical_numbers(data, tmp_path):
    from worldlab.data import EpisodeDataset
    from worldlab.evaluate import evaluate_open_loop
    from worldlab.train.setup import prepare_run
    from worldlab.train.trainer import Trainer

    config, _ = prepare_run("rssm", data, tmp_path / "run", "tiny", {**TINY, "train.steps": 3})
    trainer = Trainer(tmp_path / "run", config, progress=False)
    trainer.fit()
    dataset = EpisodeDataset(data)
    in_memory = evaluate_open_loop(trainer.model.eval(), dataset, horizon=4, progress=False)
    loaded = evaluate_open_loop(worldlab.load(tmp_path / "run"), dataset, horizon=4, progress=False)
    assert in_memory == loaded


def test_evaluating_on_frames_of_another_size_is_refused(data, tmp_path):
    from worldlab.train.setup import check_dataset_fits

    train("rssm", data, tmp_path / "run", "tiny", {**TINY, "train.steps": 1}, progress=False)
    other = tmp_path / "big"
    collect("bounce", other, episodes=1, max_steps=10, size=64, progress=False)
    model = worldlab.load(tmp_path / "run")
    with pytest.raises(WorldlabError, match=r"holds \[64, 64, 3\] frames.*\[32, 32, 3\]"):
        check_dataset_fits(model.run_config, other)


def test_a_checkpoint_of_other_shapes_is_a_clear_error(data, tmp_path):
    run = tmp_path / "run"
    train("rssm", data, run, "tiny", {**TINY, "train.steps": 1}, progress=False)
    config = json.loads((run / "config.json").read_text())
    config["model"]["deter"] = 64  # as if the family's networks had changed shape since
    (run / "config.json").write_text(json.dumps(config))
    with pytest.raises(WorldlabError, match="does not fit the rssm model.*retrain.*size mismatch"):
        worldlab.load(run)


def test_the_run_config_is_typed_from_the_root_and_round_trips_config_json(data, tmp_path):
    from worldlab.models.rssm import RSSMConfig
    from worldlab.train import RunConfig, TrainConfig

    run = tmp_path / "run"
    train("rssm", data, run, "tiny", {**TINY, "train.steps": 1}, progress=False)
    saved = json.loads((run / "config.json").read_text())
    config = RunConfig.from_dict(saved)
    assert isinstance(config.model, RSSMConfig) and isinstance(config.train, TrainConfig)
    assert config.data.obs_shape == [32, 32, 3] and config.runtime["world_size"] == 1
    assert config.to_dict() == saved
    saved["train"]["stepz"] = 3  # a misspelt field fails where the file is read
    with pytest.raises(WorldlabError, match="does not fit this version.*stepz"):
        RunConfig.from_dict(saved)
