"""Training-speed benchmark: world-model gradient steps per second on random data.

Times exactly what the trainer does per step (loss, backward, clip, Adam) for a family
at a preset, batch and sequence length, the same shape sheeprl's DreamerV3 benchmark
uses (``../shared/peers``), so the two can be compared back to back.
"""

from __future__ import annotations

import resource
import statistics
import time
from typing import Any

import torch

from worldlab.models import ActionSpec, get_family
from worldlab.train.config import apply_overrides, family_config
from worldlab.train.precision import autocast, describe_cpu, resolve_precision


def random_batch(batch: int, seq: int, size: int, actions: int, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    is_first = torch.zeros(batch, seq, dtype=torch.bool)
    is_first[:, 0] = True
    return {
        "obs": torch.randint(0, 256, (batch, seq, size, size, 3), generator=g, dtype=torch.uint8),
        "action": torch.randint(0, actions, (batch, seq), generator=g),
        "reward": torch.rand(batch, seq, generator=g),
        "terminated": torch.zeros(batch, seq, dtype=torch.bool),
        "is_first": is_first,
    }


def bench_train(
    family: str = "rssm",
    preset: str | None = "xs",
    batch: int = 16,
    seq: int = 64,
    size: int = 64,
    steps: int = 6,
    warmup: int = 2,
    threads: int = 2,
    overrides: dict[str, Any] | None = None,
    compile: bool = False,
    precision: str = "auto",
) -> dict[str, Any]:
    """Median seconds per gradient step; returns a dict of the measurement."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    family_class = get_family(family)
    config, preset = family_config(family_class, preset)
    apply_overrides({"model": config}, overrides or {})
    model = family_class(config, (size, size, 3), ActionSpec("discrete", n=2))
    optimizer = model.optimizer()
    loss_fn = torch.compile(model) if compile else model
    data = random_batch(batch, seq, size, actions=2)
    resolved = resolve_precision(precision, torch.device("cpu"))
    context = autocast(torch.device("cpu"), resolved)

    def step() -> None:
        with context:
            loss, _ = loss_fn(data)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if model.grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), model.grad_clip)
        optimizer.step()

    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    return {
        "family": family,
        "preset": preset,
        "batch": batch,
        "seq": seq,
        "size": size,
        "threads": threads,
        "precision": resolved.name,
        "precision_reason": resolved.reason,
        "cpu": describe_cpu(),
        "parameters": sum(p.numel() for p in model.parameters()),
        "seconds_per_step": median,
        "steps_per_second": 1 / median,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
