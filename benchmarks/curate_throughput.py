"""`worldlab curate` throughput: Ray Data against the single-process loop, same footage.

    python benchmarks/curate_throughput.py [--videos 16] [--scale 4] [--repeats 3] [--workers 1 2]

Writes synthetic footage (tests/curate/footage.py, scaled up ``--scale`` times from
160 × 96: 640 × 384 by default; 20 fps, three 4-second shots per video, one video in
four static), then curates it into a fresh directory with
``--engine local`` and with ``--engine ray --workers N`` for each N, ``--repeats`` times
each, interleaved. Reports the median clips/s of each (curation time, without Ray's
start-up, which is printed apart), and each Ray setting's ratio to the loop.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "curate"))
from footage import moving_scene, write_video  # noqa: E402

from worldlab.curate import CurateConfig, curate  # noqa: E402


def make_footage(folder: Path, videos: int, scale: int = 1) -> None:
    rng = np.random.default_rng(0)
    for index in range(videos):
        shots = [
            moving_scene(
                4,
                background=tuple(int(c) for c in rng.integers(30, 220, 3)),
                colour=tuple(int(c) for c in rng.integers(30, 255, 3)),
                speed=float(rng.uniform(20, 80)),
                seed=index * 3 + shot,
                static=index % 4 == 3,
            )
            for shot in range(3)
        ]
        frames = np.concatenate(shots)
        if scale > 1:
            frames = frames.repeat(scale, axis=1).repeat(scale, axis=2)
        write_video(folder / f"video_{index:03d}.mp4", frames)


def run(footage: Path, engine: str, workers: int | None) -> dict:
    out = Path(tempfile.mkdtemp(prefix="curate-bench-"))
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        summary = curate(footage, out / "data", CurateConfig(), engine, workers, progress=False)
    summary["wall"] = time.perf_counter() - started
    shutil.rmtree(out)
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=16)
    parser.add_argument("--scale", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    print(f"CPU capability: {torch.backends.cpu.get_cpu_capability()}, "
          f"{__import__('os').cpu_count()} cores")  # fmt: skip
    footage = Path(tempfile.mkdtemp(prefix="curate-footage-"))
    make_footage(footage, args.videos, args.scale)
    settings = [("local", None)] + [("ray", w) for w in args.workers]
    results: dict = {s: [] for s in settings}
    for repeat in range(args.repeats):
        for engine, workers in settings:
            summary = run(footage, engine, workers)
            results[(engine, workers)].append(summary)
            took = f"{summary['seconds']:.2f} s (wall {summary['wall']:.2f} s)"
            print(f"  {repeat}: {engine} {workers or ''}: {summary['clips']} clips in {took}")
    shutil.rmtree(footage)
    base = statistics.median(s["clips_per_second"] for s in results[("local", None)])
    size = f"{160 * args.scale}×{96 * args.scale}"
    print(f"\n{args.videos} videos of {size}, {args.videos * 12} s, median of {args.repeats}")
    print("| engine | clips/s | × one process | start-up + finish (s) |")
    print("|---|---|---|---|")
    for (engine, workers), summaries in results.items():
        rate = statistics.median(s["clips_per_second"] for s in summaries)
        extra = statistics.median(s["wall"] - s["seconds"] for s in summaries)
        name = "local (one process)" if engine == "local" else f"Ray Data, {workers} CPUs"
        print(f"| {name} | {rate:.2f} | {rate / base:.2f} | {extra:.1f} |")


if __name__ == "__main__":
    main()
