"""Training across processes: sharded sampling, gradient accumulation, resume under DDP
and FSDP (``torchrun`` with gloo on CPU, two processes of one thread each)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import worldlab
from worldlab.data import EpisodeDataset
from worldlab.errors import WorldlabError
from worldlab.train import train
from worldlab.train.checkpoint import checkpoint_dirs
from worldlab.train.distributed import Ranks
from worldlab.train.setup import prepare_run
from worldlab.train.trainer import Trainer

torch.set_num_threads(2)
TORCHRUN = Path(sys.executable).with_name("torchrun")
WORKER = Path(__file__).with_name("ddp_worker.py")
SMALL = {
    "train.batch_size": 2,
    "train.seq_len": 4,
    "train.threads": 1,
    "train.precision": "fp32",  # the same arithmetic on every CPU
    "train.log_every": 1,
}


def torchrun(*args) -> subprocess.CompletedProcess:
    """Two processes on this machine; --standalone picks a free port."""
    result = subprocess.run(
        [str(TORCHRUN), "--standalone", "--nproc_per_node=2", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return result


def train_cli(family, data, run, *options, settings=SMALL) -> subprocess.CompletedProcess:
    sets = [arg for key, value in settings.items() for arg in ("--set", f"{key}={value}")]
    return torchrun(
        "-m", "worldlab.cli.main", "train", family, "--data", data, "--out", run, *options, *sets
    )


def resume_recording(family, data, run, steps: int, tmp_path) -> dict:
    """Resume ``run`` to ``steps`` under torchrun; each rank's state digest before every step."""
    out = tmp_path / f"{run.name}_digests.json"
    torchrun(WORKER, family, data, run, steps, out)
    return json.loads(out.read_text())


def final_weights(run):
    return load_file(checkpoint_dirs(run)[-1] / "model.safetensors")


def trainer_for(data, run, **train_settings) -> Trainer:
    overrides = {**SMALL, **{f"train.{k}": v for k, v in train_settings.items()}}
    config, _ = prepare_run("rssm", data, run, "tiny", overrides)
    return Trainer(run, config, progress=False)


# -- sampling ---------------------------------------------------------------------------
@pytest.mark.parametrize("cross_episodes", [False, True])
def test_ranks_take_disjoint_slices_of_the_single_process_batch(data, tmp_path, cross_episodes):
    single = trainer_for(data, tmp_path / "one", batch_size=4, cross_episodes=cross_episodes)
    expected = single.sample()
    shards = []
    for rank in (0, 1):
        run = tmp_path / f"rank{rank}"
        trainer = trainer_for(data, run, batch_size=1, accumulate=2, cross_episodes=cross_episodes)
        trainer.ranks = Ranks(rank=rank, world_size=2)  # what torchrun would give this rank
        shards.append(trainer.sample())
    for key in expected:
        assert torch.equal(torch.cat([shards[0][key], shards[1][key]]), expected[key]), key
    windows = [{bytes(w.numpy()) for w in shard["obs"]} for shard in shards]
    assert len(windows[0]) == len(windows[1]) == 2 and not windows[0] & windows[1]


@pytest.mark.parametrize("cross_episodes", [False, True])
def test_a_step_never_draws_a_window_twice_while_it_has_enough(data, cross_episodes):
    starts = EpisodeDataset(data).window_starts(64, 8, np.random.default_rng(0), cross_episodes)
    assert len(set(starts.tolist())) == 64


def test_with_fewer_windows_than_asked_each_comes_once_before_any_repeats(data):
    dataset = EpisodeDataset(data)  # 4 episodes of 41 observations
    # Windows of 40 fit twice in each episode: 8 in all, so 20 must repeat some, evenly.
    starts = dataset.window_starts(20, 40, np.random.default_rng(0))
    assert sorted(starts[:8].tolist()) == [0, 1, 41, 42, 82, 83, 123, 124]
    assert set(np.unique(starts, return_counts=True)[1].tolist()) == {2, 3}
    episodes = [dataset.episode(i)["obs"] for i in range(len(dataset))]
    for start, window in zip(starts, dataset.windows(starts, 40)["obs"], strict=True):
        episode, offset = divmod(int(start), 41)
        assert np.array_equal(window, episodes[episode][offset : offset + 40])


# -- gradient accumulation ---------------------------------------------------------------
def test_accumulating_micro_batches_matches_one_batch_of_their_size(data, tmp_path):
    def encoder_loss(model):
        """No per-window randomness (rssm's own loss samples latents): a mean over windows."""

        def loss(batch):
            value = model.encoder(model._inputs(batch["obs"])).square().mean()
            return value, {"loss": value.detach(), "stage": "encoder"}

        return loss

    results = []
    for batch_size, accumulate in ((4, 1), (2, 2)):
        trainer = trainer_for(
            data, tmp_path / f"b{batch_size}", batch_size=batch_size, accumulate=accumulate
        )
        metrics = trainer.update(trainer.sample(), encoder_loss(trainer.model))
        parameters = trainer.model.named_parameters()
        grads = {name: p.grad.clone() for name, p in parameters if p.grad is not None}
        results.append((trainer, metrics, grads))
    (whole, whole_metrics, whole_grads), (micro, micro_metrics, micro_grads) = results
    assert micro.step == whole.step == 1  # one optimizer step, however many micro-batches
    assert whole_grads.keys() == micro_grads.keys() and whole_grads
    for name, grad in whole_grads.items():
        torch.testing.assert_close(micro_grads[name], grad, rtol=1e-5, atol=1e-7, msg=name)
    for (name, weight), other in zip(
        whole.model.state_dict().items(), micro.model.state_dict().values(), strict=True
    ):
        torch.testing.assert_close(other, weight, rtol=1e-5, atol=1e-7, msg=name)
    torch.testing.assert_close(micro_metrics["loss"], whole_metrics["loss"])  # averaged
    assert micro_metrics["stage"] == "encoder"


def test_accumulate_and_strategy_are_checked(data, tmp_path):
    with pytest.raises(WorldlabError, match="train.accumulate must be .* ≥ 1.*got 0"):
        prepare_run("rssm", data, tmp_path / "a", "tiny", {"train.accumulate": 0})
    with pytest.raises(WorldlabError, match="train.strategy must be one of ddp, fsdp, got 'zero'"):
        prepare_run("rssm", data, tmp_path / "a", "tiny", {"train.strategy": "zero"})
    train("rssm", data, tmp_path / "run", "tiny", {**SMALL, "train.steps": 1}, progress=False)
    with pytest.raises(WorldlabError, match="trained with train.accumulate=1"):
        train("rssm", data, tmp_path / "run", None, {"train.accumulate": 2}, resume=True)
    summary = train(
        "rssm",
        data,
        tmp_path / "run",
        None,
        {"train.steps": 2, "train.strategy": "fsdp"},  # one process: trains as usual
        resume=True,
        progress=False,
    )
    assert summary["notes"] == ["train.steps: 1 → 2", "train.strategy: 'ddp' → 'fsdp'"]


# -- torchrun ----------------------------------------------------------------------------
def test_ddp_resume_gives_the_weights_of_an_uninterrupted_run(data, tmp_path):
    settings = {**SMALL, "train.accumulate": 2}  # micro-batches skip the all-reduce but one
    straight, split = tmp_path / "straight", tmp_path / "split"
    result = train_cli("rssm", data, straight, "--preset", "tiny", "--steps", 4, settings=settings)
    assert "step 4 (done)" in result.stdout
    assert [p.name for p in checkpoint_dirs(straight)] == ["step_00000004"]
    assert len((straight / "metrics.jsonl").read_text().splitlines()) == 4  # rank 0 logs alone
    runtime = json.loads((straight / "config.json").read_text())["runtime"]
    assert runtime["world_size"] == 2 and runtime["effective_batch"] == 2 * 2 * 2

    train_cli("rssm", data, split, "--preset", "tiny", "--steps", 2, settings=settings)
    resumed = resume_recording("rssm", data, split, 4, tmp_path)
    assert resumed["summary"]["step"] == 4 and resumed["summary"]["steps_this_call"] == 2
    # Both ranks hold the same weights and optimizer state from the restore on.
    assert [record["step"] for record in resumed["records"]] == [2, 3]
    for record in resumed["records"]:
        assert record["digests"][0] == record["digests"][1], record

    a, b = final_weights(straight), final_weights(split)
    assert a.keys() == b.keys() == worldlab.load(split).state_dict().keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name


def test_fsdp_trains_like_ddp_and_writes_plain_checkpoints(data, tmp_path):
    # flow's DiT (its blocks are sharded one by one) and EMA weights (sharded, never gathered)
    settings = {**SMALL, "model.backbone": "dit", "train.accumulate": 2}
    replicated, sharded = tmp_path / "ddp", tmp_path / "fsdp"
    train_cli("flow", data, replicated, "--preset", "tiny", "--steps", 4, settings=settings)
    fsdp = {**settings, "train.strategy": "fsdp"}
    train_cli("flow", data, sharded, "--preset", "tiny", "--steps", 2, settings=fsdp)
    resumed = resume_recording("flow", data, sharded, 4, tmp_path)  # FSDP restores the shards
    assert resumed["summary"]["step"] == 4

    a, b = final_weights(replicated), final_weights(sharded)
    assert a.keys() == b.keys()
    for name in a:  # the same steps; only the order of float sums across ranks differs
        torch.testing.assert_close(b[name], a[name], rtol=1e-5, atol=1e-6, msg=name)
    model = worldlab.load(sharded)  # a plain checkpoint, like any other
    assert model.family == "flow" and model.state_dict().keys() == a.keys()

    # ...which one process resumes, warning that the batch of a step changes with it.
    with pytest.warns(UserWarning, match="trained on 2 process.*continues on 1.*4 windows.*not 8"):
        summary = train("flow", data, sharded, None, {"train.steps": 5}, resume=True)
    assert summary["step"] == 5 and "continues on 1" in (sharded / "log.txt").read_text()
