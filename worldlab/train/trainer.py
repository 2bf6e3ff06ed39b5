"""One training loop for every family: it knows ``WorldModel.loss`` and nothing else.

Determinism: the batch sampled at step ``k`` and the model's own randomness at
step ``k`` come from generators seeded with ``(seed, rank, k)``, so a resumed
run draws exactly what the uninterrupted run would have drawn.
"""

from __future__ import annotations

import contextlib
import json
import signal
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from worldlab.data import EpisodeDataset
from worldlab.models import ActionSpec, WorldModel, get_family
from worldlab.paths import output_dir
from worldlab.progress import progress_bar
from worldlab.train import distributed
from worldlab.train.checkpoint import checkpoint_dirs, resume_checkpoint, save_checkpoint
from worldlab.train.config import TrainConfig, save_config
from worldlab.train.precision import autocast, describe_cpu, resolve_precision


def batch_to_torch(batch: dict[str, np.ndarray], device: torch.device) -> dict[str, torch.Tensor]:
    return {
        key: torch.from_numpy(value).to(device, non_blocking=True) for key, value in batch.items()
    }


class _StopFlag:
    requested = False


@contextlib.contextmanager
def stop_on_sigint():
    """First Ctrl-C: finish the current step, checkpoint, return. Second: stop at once."""
    flag = _StopFlag()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def handler(signum, frame):
        if flag.requested:
            raise KeyboardInterrupt
        flag.requested = True

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)


def step_seed(seed: int, rank: int, step: int) -> int:
    return int(np.random.SeedSequence([seed, rank, step]).generate_state(1)[0])


class Trainer:
    """Trains ``config["family"]`` on ``config["data"]["path"]`` into ``run``."""

    def __init__(self, run: str | Path, config: dict[str, Any], progress: bool = True):
        self.run = Path(run)
        self.config = config
        self.train = TrainConfig(**config["train"])
        self.device = distributed.resolve_device(self.train.device)
        self.ranks = distributed.setup(self.device)
        self.precision = resolve_precision(self.train.precision, self.device)
        self.progress = progress and self.ranks.is_main
        if self.device.type == "cpu" and self.train.threads:
            torch.set_num_threads(self.train.threads)
        self.dataset = EpisodeDataset(config["data"]["path"])
        family = get_family(config["family"])
        torch.manual_seed(self.train.seed)  # same seed, same initial weights
        self.model: WorldModel = family(
            family.Config(**config["model"]),
            tuple(config["data"]["obs_shape"]),
            ActionSpec.from_manifest(config["data"]["action"]),
        )
        self.model.to(self.device)
        self.optimizer = self.model.optimizer()
        self.step = 0
        self.elapsed = 0.0
        self._writer = None

    # -- state ---------------------------------------------------------------------
    def restore(self) -> int:
        """Load the newest checkpoint that verifies (weights, optimizer, progress); return
        its step. Newer damaged checkpoints are set aside, with a warning and a log line."""
        path, weights, trainer, moved = resume_checkpoint(self.run, self.ranks.is_main)
        self.model.load_state_dict(weights)
        self.optimizer.load_state_dict(trainer["optimizer"])
        self.step, self.elapsed = trainer["step"], trainer.get("elapsed", 0.0)
        if moved:
            self._note(
                f"step {self.step}: resumed from {path.name}; damaged newer checkpoints "
                f"set aside as {', '.join(p.name for p in moved)}"
            )
        return self.step

    def checkpoint(self) -> Path | None:
        if not self.ranks.is_main:
            return None
        state = {
            "optimizer": self.optimizer.state_dict(),
            "step": self.step,
            "elapsed": self.elapsed,
        }
        return save_checkpoint(self.run, self.step, self.model, state, self.train.keep_checkpoints)

    # -- logging -------------------------------------------------------------------
    def _log(self, metrics: dict[str, float | str]) -> None:
        if not self.ranks.is_main:
            return
        record = {"step": self.step, "elapsed_s": round(self.elapsed, 3), **metrics}
        with open(self.run / "metrics.jsonl", "a") as file:
            file.write(json.dumps(record) + "\n")
        writer = self._tensorboard()
        if writer is not None:
            for key, value in metrics.items():
                if isinstance(value, int | float | torch.Tensor) and not isinstance(value, bool):
                    writer.add_scalar(f"train/{key}", value, self.step)
            writer.flush()

    def _note(self, line: str) -> None:
        """Append a dated line to the run's human-readable log, ``RUN/log.txt``."""
        with open(self.run / "log.txt", "a") as file:
            file.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}\n")

    def _tensorboard(self):
        if self._writer is None:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                self._writer = False  # tensorboard not installed: JSON lines only
            else:
                self._writer = SummaryWriter(str(self.run / "tb"))
        return self._writer or None

    # -- one step --------------------------------------------------------------------
    def sample(self) -> dict[str, torch.Tensor]:
        """The batch of step ``self.step`` (seeded by it), on the device; seeds the model too."""
        t = self.train
        seed = step_seed(t.seed, self.ranks.rank, self.step)
        batch = self.dataset.sample(
            t.batch_size, t.seq_len, np.random.default_rng(seed), t.cross_episodes
        )
        if t.observation == "state":
            batch["obs"] = batch.pop("state")
        torch.manual_seed(seed)
        return batch_to_torch(batch, self.device)

    def update(self, batch: dict[str, torch.Tensor], loss_fn=None, precision=None) -> dict:
        """One gradient step on ``batch``; returns the step's metrics."""
        loss_fn = loss_fn or self.model
        self.model.train()
        with precision or autocast(self.device, self.precision):
            loss, metrics = loss_fn(batch)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.model.grad_clip:
            norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.model.grad_clip)
            metrics = {**metrics, "grad_norm": norm}
        self.optimizer.step()
        self.model.after_step()
        self.step += 1
        return metrics

    # -- the loop ------------------------------------------------------------------
    def fit(self, stop_when=None, check_every: int = 100) -> dict[str, Any]:
        """Train up to ``train.steps`` (or ``max_minutes``); Ctrl-C saves and returns.

        ``stop_when(trainer) -> str | None``, called every ``check_every`` steps (and before
        the first one), ends training early when it returns a reason, e.g. once a held-out
        score is reached; the reason is the summary's ``stopped``.
        """
        t = self.train
        output_dir(self.run, "run")
        # What "auto" resolved to on this machine, and why (rewritten by every resume).
        self.config["runtime"] = {
            **self.precision.to_dict(),
            "device": str(self.device),
            "cpu": describe_cpu() if self.device.type == "cpu" else None,
        }
        if self.ranks.is_main:
            save_config(self.run / "config.json", self.config)
            self._note(
                f"step {self.step}: training on {self.device} in {self.precision.name} "
                f"({self.precision.reason})"
            )
        model = self.model
        if self.ranks.distributed:
            model = torch.nn.parallel.DistributedDataParallel(model)
        loss_fn = torch.compile(model) if t.compile else model
        precision = autocast(self.device, self.precision)
        totals: dict[str, float] = {}
        labels: dict[str, str] = {}  # text metrics (e.g. a training stage): logged as they are
        count, interrupted, last_saved, stopped = 0, False, self.step, None
        start_step, started = self.step, time.perf_counter()
        elapsed_before = self.elapsed
        with progress_bar(self.progress, extra="{task.fields[status]}") as bar:
            task = bar.add_task(
                f"train {self.config['family']} ({self.precision.name})",
                total=t.steps,
                completed=self.step,
                unit="steps",
                status="",
            )
            with stop_on_sigint() as stop:
                while self.step < t.steps and not stop.requested:
                    if t.max_minutes is not None and self.elapsed >= t.max_minutes * 60:
                        stopped = f"time budget of {t.max_minutes} minutes reached"
                        break
                    if stop_when is not None and self.step % check_every == 0:
                        stopped = stop_when(self)
                        if stopped:
                            break
                    metrics = self.update(self.sample(), loss_fn, precision)
                    self.elapsed = elapsed_before + time.perf_counter() - started
                    for key, value in metrics.items():
                        if isinstance(value, str):
                            labels[key] = value
                        else:
                            totals[key] = totals.get(key, 0.0) + float(value)
                    count += 1
                    if self.step % t.log_every == 0 or self.step == t.steps:
                        means = {k: v / count for k, v in totals.items()}
                        self._log({**labels, **means})
                        bar.update(
                            task,
                            status=" ".join(
                                f"{k}={v:.3g}" for k, v in means.items() if k != "grad_norm"
                            ),
                        )
                        totals, count = {}, 0
                    bar.update(task, completed=self.step)
                    if self.step % t.checkpoint_every == 0:
                        self.checkpoint()
                        last_saved = self.step
                interrupted = stop.requested
        if self.step != last_saved or not checkpoint_dirs(self.run):
            self.checkpoint()
        if self._writer:
            self._writer.close()
        steps_done = self.step - start_step
        wall = time.perf_counter() - started
        summary = {
            "step": self.step,
            "steps_this_call": steps_done,
            "seconds": wall,
            "steps_per_second": steps_done / wall if wall > 0 else 0.0,
            "interrupted": interrupted,
            "stopped": stopped,
            **self.config["runtime"],
        }
        distributed.finish(self.ranks)
        return summary
