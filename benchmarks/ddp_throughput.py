"""Data-parallel training throughput on one machine: torchrun's 2 processes × 1 thread
against 1 process × 2 threads, the same optimizer steps at the same batch per process.

    python benchmarks/ddp_throughput.py [--family rssm] [--preset tiny] [--size 64] \
        [--batch 8] [--seq 32] [--steps 40] [--warmup 5] [--repeats 3] [--precision fp32]

Collects a small ``bounce`` dataset into a temporary directory, then alternates rounds
of ``worldlab train`` in one process and under ``torchrun --nproc_per_node=2``, each in
fresh processes. A round's rate is read from its ``metrics.jsonl`` (rank 0's clock),
over the steps after ``--warmup``. Samples are training windows: one process trains
``batch`` per step, two train ``2 × batch`` (each its own slice of one draw). Prints
every round, the medians, their ratio, and the CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from worldlab.data import collect
from worldlab.train.precision import describe_cpu


def samples_per_second(run: Path, warmup: int, windows_per_step: int) -> float:
    """Windows per second between the end of step ``warmup`` and the last step."""
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    elapsed = {record["step"]: record["elapsed_s"] for record in records}
    last = max(elapsed)
    return (last - warmup) * windows_per_step / (elapsed[last] - elapsed[warmup])


def train_round(args, data: Path, run: Path, processes: int) -> float:
    settings = {
        "train.batch_size": args.batch,
        "train.seq_len": args.seq,
        "train.threads": 2 // processes,
        "train.precision": args.precision,
        "train.log_every": 1,
        "train.checkpoint_every": 10**9,  # only the final save, outside the timed steps
    }
    command = [sys.executable, "-m", "worldlab.cli.main", "train", args.family]
    if processes > 1:
        torchrun = Path(sys.executable).with_name("torchrun")
        command = [str(torchrun), "--standalone", f"--nproc_per_node={processes}", "-m"]
        command += ["worldlab.cli.main", "train", args.family]
    command += ["--data", str(data), "--out", str(run), "--preset", args.preset]
    command += ["--steps", str(args.steps)]
    command += [arg for key, value in settings.items() for arg in ("--set", f"{key}={value}")]
    env = {**os.environ, "OMP_NUM_THREADS": str(2 // processes)}
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=3600)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stderr[-3000:]}")
    return samples_per_second(run, args.warmup, args.batch * processes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--family", default="rssm")
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--size", type=int, default=64, help="frame side of the dataset")
    parser.add_argument("--episodes", type=int, default=16)
    parser.add_argument("--batch", type=int, default=8, help="windows per process per step")
    parser.add_argument("--seq", type=int, default=32)
    parser.add_argument("--steps", type=int, default=40, help="optimizer steps per round")
    parser.add_argument("--warmup", type=int, default=5, help="first steps left out of the rate")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--precision", default="fp32", help="fp32, bf16 or auto")
    args = parser.parse_args()
    if not 0 < args.warmup < args.steps:
        raise SystemExit("--warmup must be at least 1 and fewer than --steps")
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "bounce"
        collect("bounce", data, args.episodes, max_steps=200, size=args.size, progress=False)
        rates: dict[str, list[float]] = {"1 process × 2 threads": [], "2 processes × 1 thread": []}
        for repeat in range(1, args.repeats + 1):
            for processes, label in ((1, "1 process × 2 threads"), (2, "2 processes × 1 thread")):
                run = Path(tmp) / f"run_{processes}_{repeat}"
                rates[label].append(train_round(args, data, run, processes))
                print(f"round {repeat}: {label}: {rates[label][-1]:,.1f} samples/s", flush=True)
    single, parallel = (statistics.median(values) for values in rates.values())
    print(
        f"{args.family} --preset {args.preset}, {args.batch} windows × {args.seq} frames at "
        f"{args.size}×{args.size} per process per step, {args.steps} steps ({args.warmup} "
        f"warm-up), {args.precision}, median of {args.repeats}:"
    )
    print(f"  1 process × 2 threads:   {single:,.1f} samples/s")
    print(f"  2 processes × 1 thread:  {parallel:,.1f} samples/s")
    print(f"  ratio (2 processes / 1): {parallel / single:.2f}×")
    print(
        f"CPU: {describe_cpu()} (torch.backends.cpu.get_cpu_capability() = "
        f"{torch.backends.cpu.get_cpu_capability()}), {os.cpu_count()} cores, "
        f"torch {torch.__version__}"
    )


if __name__ == "__main__":
    main()
