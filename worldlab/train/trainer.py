"""One training loop for every family: it knows ``WorldModel.loss`` and nothing else.

Determinism: the windows of step ``k`` come from one draw of
``processes × batch_size × accumulate`` windows seeded with ``(seed, k)``, of which each
rank takes its own slice (so no two ranks train on the same window), and the model's
own randomness at step ``k`` from ``(seed, rank, k)``; so a resumed run draws exactly
what the uninterrupted run would have drawn, given the same number of processes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import signal
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from worldlab.data import EpisodeDataset
from worldlab.errors import WorldlabError
from worldlab.models import WorldModel
from worldlab.paths import output_dir
from worldlab.progress import progress_bar
from worldlab.train import distributed
from worldlab.train.checkpoint import (
    checkpoint_dirs,
    read_checkpoint,
    resume_checkpoint,
    save_checkpoint,
)
from worldlab.train.config import save_config
from worldlab.train.init import save_record, start_from
from worldlab.train.precision import autocast, describe_cpu, resolve_precision
from worldlab.train.run_config import RunConfig


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


def split_batch(batch: dict[str, torch.Tensor], parts: int) -> list[dict[str, torch.Tensor]]:
    """``parts`` equal micro-batches along the leading (window) dimension."""
    size = len(next(iter(batch.values())))
    if size % parts:
        raise WorldlabError(
            f"a batch of {size} windows does not split into {parts} equal micro-batches "
            "(train.accumulate): pass batch_size × accumulate windows"
        )
    chunks = {key: value.split(size // parts) for key, value in batch.items()}
    return [{key: chunk[index] for key, chunk in chunks.items()} for index in range(parts)]


def describe_episodes(dataset: EpisodeDataset) -> str:
    """``4 episodes, 164 observations (lengths sha256 1a2b…)``: equal for datasets whose
    windows are numbered alike."""
    lengths = np.asarray(dataset.lengths, dtype=np.int64)
    digest = hashlib.sha256(lengths.tobytes()).hexdigest()[:12]
    return f"{len(lengths)} episodes, {lengths.sum()} observations (lengths sha256 {digest}…)"


def step_seed(seed: int, rank: int, step: int) -> int:
    return int(np.random.SeedSequence([seed, rank, step]).generate_state(1)[0])


def batch_seed(seed: int, step: int) -> int:
    """Seed of step ``step``'s draw of windows: the same on every rank."""
    return int(np.random.SeedSequence([seed, step]).generate_state(1)[0])


class Trainer:
    """Trains ``config.family`` on ``config.data.path`` into ``run``."""

    def __init__(
        self,
        run: str | Path,
        config: RunConfig,
        progress: bool = True,
        dataset: EpisodeDataset | None = None,
    ):
        """``dataset``: the episodes to train on, when the caller keeps them (an online run's
        replay, which grows and is pruned on resume); by default ``config.data.path``."""
        self.run = Path(run)
        self.config = config
        self.train = config.train
        self.train.check()
        self.device = distributed.resolve_device(self.train.device)
        self.ranks = distributed.setup(self.device)
        self.precision = resolve_precision(self.train.precision, self.device)
        self.progress = progress and self.ranks.is_main
        if self.device.type == "cpu" and self.train.threads:
            torch.set_num_threads(self.train.threads)
        self.dataset = dataset if dataset is not None else EpisodeDataset(config.data.path)
        # Ranks slice one draw of windows: they must all see the same episodes.
        distributed.check_same(describe_episodes(self.dataset), "datasets")
        torch.manual_seed(self.train.seed)  # same seed, same initial weights
        self.model: WorldModel = config.build_model()
        self.init_record = None
        if self.train.init:  # before DDP, which keeps only the weights that train
            self.init_record = start_from(
                self.model, self.run, self.train.init, config.family, self.train.freeze_init
            )
        self.model.to(self.device)
        # What the loop calls: the model itself, a DDP replica, or the model sharded in place.
        self.parallel = distributed.wrap(self.model, self.train.strategy, self.ranks, self.device)
        self.optimizer = self.model.optimizer()
        self.step = 0
        self.elapsed = 0.0
        # More state saved with the optimizer: name → object with state_dict() and
        # load_state_dict() (an online run's counters, Dreamer's actor-critic); rank 0's.
        self.extra_state: dict[str, Any] = {}
        self._writer = None

    @property
    def effective_batch(self) -> int:
        """Windows per optimizer step, over all processes."""
        return self.train.batch_size * self.train.accumulate * self.ranks.world_size

    # -- state ---------------------------------------------------------------------
    def restore(self) -> int:
        """Load the newest checkpoint that verifies (weights, optimizer, progress); return
        its step. Newer damaged checkpoints are set aside, with a warning and a log line.

        Under torchrun rank 0 chooses the checkpoint and every rank loads that one (the run
        directory is on a filesystem they share), optimizer state included."""
        found, chosen = None, None
        if self.ranks.is_main:
            try:
                found = resume_checkpoint(self.run)
                chosen = found[0]
            except WorldlabError as error:
                chosen = error  # raised on every rank below, not on rank 0 alone
        chosen = distributed.from_main(chosen)  # the path only: every rank reads the files
        if isinstance(chosen, WorldlabError):
            raise chosen
        if self.ranks.is_main:
            path, weights, trainer, moved = found
        else:
            (weights, trainer), path, moved = read_checkpoint(chosen), chosen, []
        distributed.load_full_state(self.parallel, self.optimizer, weights, trainer["optimizer"])
        self.step, self.elapsed = trainer["step"], trainer.get("elapsed", 0.0)
        for name, holder in self.extra_state.items():
            holder.load_state_dict(trainer[name])
        if moved:
            self._note(
                f"step {self.step}: resumed from {path.name}; damaged newer checkpoints "
                f"set aside as {', '.join(p.name for p in moved)}"
            )
        self._check_world_size()
        return self.step

    def _check_world_size(self) -> None:
        before = (self.config.runtime or {}).get("world_size")
        if before is None or before == self.ranks.world_size or not self.ranks.is_main:
            return
        t = self.train
        message = (
            f"--resume: this run trained on {before} process(es) and continues on "
            f"{self.ranks.world_size}, so each step now draws {self.effective_batch} windows "
            f"(batch_size × accumulate × processes), not {t.batch_size * t.accumulate * before}: "
            "it trains on, but no longer as the uninterrupted run would have; launch "
            f"{before} processes to continue exactly"
        )
        warnings.warn(message, stacklevel=2)
        self._note(f"step {self.step}: {message}")

    def checkpoint(self, number: int | None = None) -> Path | None:
        """Save weights, optimizer state, progress and ``extra_state`` (rank 0 writes; under
        FSDP every rank must call this, to gather the shards). ``number`` names the
        checkpoint (``step_N``): the optimizer step unless given (an online run counts
        environment steps)."""
        weights, optimizer = distributed.full_state(self.parallel, self.optimizer)
        if not self.ranks.is_main:
            return None
        state = {"optimizer": optimizer, "step": self.step, "elapsed": self.elapsed}
        state.update({name: holder.state_dict() for name, holder in self.extra_state.items()})
        number = self.step if number is None else number
        return save_checkpoint(self.run, number, weights, state, self.train.keep_checkpoints)

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
        """This rank's windows of step ``self.step``, on the device: ``batch_size ×
        accumulate`` of them, its slice of the step's draw (see the module); seeds the
        model's randomness too."""
        t = self.train
        batch = self.dataset.sample(
            t.batch_size * t.accumulate,
            t.seq_len,
            np.random.default_rng(batch_seed(t.seed, self.step)),
            t.cross_episodes,
            self.ranks.rank,
            self.ranks.world_size,
        )
        if t.observation == "state":
            batch["obs"] = batch.pop("state")
        torch.manual_seed(step_seed(t.seed, self.ranks.rank, self.step))
        return batch_to_torch(batch, self.device)

    def update(self, batch: dict[str, torch.Tensor], loss_fn=None, precision=None) -> dict:
        """One optimizer step on ``batch``, in ``train.accumulate`` micro-batches of its
        leading dimension; returns the step's metrics, averaged over the micro-batches."""
        loss_fn = loss_fn or self.parallel
        accumulate = self.train.accumulate
        micro_batches = split_batch(batch, accumulate)
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        summed: dict[str, Any] = {}
        for index, micro_batch in enumerate(micro_batches):
            # Ranks average gradients once, after the last micro-batch's backward.
            with distributed.gradient_sync(self.parallel, index == accumulate - 1):
                with precision or autocast(self.device, self.precision):
                    loss, metrics = loss_fn(micro_batch)
                (loss / accumulate).backward()
            for key, value in metrics.items():
                text = isinstance(value, str) or key not in summed
                summed[key] = value if text else summed[key] + value
        metrics = {k: v if isinstance(v, str) else v / accumulate for k, v in summed.items()}
        if self.model.grad_clip:
            norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.model.grad_clip)
            metrics["grad_norm"] = distributed.plain(norm)
        self.optimizer.step()
        self.model.after_step()
        self.step += 1
        return metrics

    def _stop_reason(self, stop, stop_when, check_every: int) -> tuple[bool, str | None]:
        """``(interrupted, reason)``: whether training ends before this step, the same on
        every rank (a rank that stopped alone would leave the others waiting forever).
        Ctrl-C on any rank stops all; rank 0's clock and ``stop_when`` decide the rest."""
        t = self.train
        out_of_time = (
            t.max_minutes is not None and self.elapsed >= t.max_minutes * 60 and self.ranks.is_main
        )
        if self.ranks.distributed:
            interrupted, out_of_time = distributed.any_rank(
                [stop.requested, out_of_time], self.device
            )
        else:
            interrupted = stop.requested
        if interrupted:
            return True, None
        if out_of_time:
            return False, f"time budget of {t.max_minutes} minutes reached"
        if stop_when is not None and self.step % check_every == 0:
            return False, distributed.from_main(stop_when(self))
        return False, None

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
        self.config.runtime = {
            **self.precision.to_dict(),
            "device": str(self.device),
            "cpu": describe_cpu() if self.device.type == "cpu" else None,
            "world_size": self.ranks.world_size,
            "effective_batch": self.effective_batch,
        }
        if self.ranks.is_main:
            save_config(self.run / "config.json", self.config.to_dict())
            if self.init_record is not None:
                save_record(self.run, self.init_record)
            processes = f" × {self.ranks.world_size} processes" if self.ranks.distributed else ""
            self._note(
                f"step {self.step}: training on {self.device}{processes} in "
                f"{self.precision.name} ({self.precision.reason}), {self.effective_batch} "
                "windows per step"
            )
        loss_fn = torch.compile(self.parallel) if t.compile else self.parallel
        precision = autocast(self.device, self.precision)
        totals: dict[str, float] = {}
        labels: dict[str, str] = {}  # text metrics (e.g. a training stage): logged as they are
        count, interrupted, stopped = 0, False, None
        # Every rank decides alike whether to save at the end (under FSDP all must take part).
        last_saved, saved_any = self.step, bool(checkpoint_dirs(self.run))
        start_step, started = self.step, time.perf_counter()
        elapsed_before = self.elapsed
        with progress_bar(self.progress, extra="{task.fields[status]}") as bar:
            task = bar.add_task(
                f"train {self.config.family} ({self.precision.name})",
                total=t.steps,
                completed=self.step,
                unit="steps",
                status="",
            )
            with stop_on_sigint() as stop:
                while self.step < t.steps:
                    interrupted, stopped = self._stop_reason(stop, stop_when, check_every)
                    if interrupted or stopped:
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
                        last_saved, saved_any = self.step, True
                interrupted = interrupted or stop.requested
        if self.step != last_saved or not saved_any:
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
            **self.config.runtime,
        }
        distributed.finish(self.ranks)
        return summary
