"""Dataset sampling throughput: batches of B × T frames at 64×64 from memory-mapped episodes.

    python benchmarks/sampling_speed.py [--episodes 50] [--length 500] [--batch 16] [--seq 64]

Collects a `bounce` dataset into a temporary directory (or uses --data), drops
the page cache where it can, then times `EpisodeDataset.sample`.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import numpy as np

from worldlab.data import EpisodeDataset, collect


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default=None)
    parser.add_argument("--episodes", type=int, default=50)
    parser.add_argument("--length", type=int, default=500)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seq", type=int, default=64)
    parser.add_argument("--batches", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.data or tmp
        if args.data is None:
            collect("bounce", root, args.episodes, max_steps=args.length, progress=True)
        dataset = EpisodeDataset(root)
        rng = np.random.default_rng(0)
        for crossing in (False, True):
            times = []
            for _ in range(args.batches):
                start = time.perf_counter()
                dataset.sample(args.batch, args.seq, rng=rng, cross_episodes=crossing)
                times.append(time.perf_counter() - start)
            median = statistics.median(times)
            frames = args.batch * args.seq / median
            print(
                f"sample({args.batch}×{args.seq}, cross_episodes={crossing}) from "
                f"{len(dataset)} episodes / {dataset.num_steps:,} steps: median "
                f"{median * 1e3:.2f} ms/batch = {1 / median:,.0f} batches/s = "
                f"{frames:,.0f} frames/s"
            )


if __name__ == "__main__":
    main()
