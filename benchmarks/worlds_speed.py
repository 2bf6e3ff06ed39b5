"""Steps per second of each built-in world, rendering included, on one core.

    python benchmarks/worlds_speed.py [--steps 20000] [--repeats 5]

Prints the median over repeats of a random-action loop (reset excluded).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import worldlab  # noqa: E402,F401  (registers the worlds)
from worldlab.worlds import BUILTIN_WORLDS, make_env  # noqa: E402


def steps_per_second(name: str, steps: int, size: int) -> float:
    env = make_env(name, size=size)
    env.reset(seed=0)
    env.action_space.seed(0)
    actions = [env.action_space.sample() for _ in range(steps)]
    start = time.perf_counter()
    for action in actions:
        _, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            env.reset()
    return steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--size", type=int, default=64)
    args = parser.parse_args()
    print(f"| world | steps/s (median of {args.repeats}, {args.size}×{args.size}, rendering) |")
    print("|---|---|")
    for name in BUILTIN_WORLDS:
        rates = [steps_per_second(name, args.steps, args.size) for _ in range(args.repeats)]
        print(f"| {name} | {statistics.median(rates):,.0f} |")


if __name__ == "__main__":
    main()
