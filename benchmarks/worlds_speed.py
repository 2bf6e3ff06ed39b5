"""Steps per second of each built-in world, rendering included, on one core.

    python benchmarks/worlds_speed.py [--steps 20000] [--repeats 5] [--reference ALE/Pong-v5]

Prints the median over repeats of a random-action loop (reset excluded), and, since
absolute speed depends on the machine, its ratio to a reference env (ALE Pong through
the same 64×64 adapter, with the ``atari`` extra) timed in the same repeats.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import worldlab  # noqa: E402,F401  (registers the worlds)
from worldlab.train.precision import describe_cpu  # noqa: E402
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
    parser.add_argument("--reference", default="ALE/Pong-v5", help="'' for none")
    args = parser.parse_args()
    names = list(BUILTIN_WORLDS)
    reference = args.reference
    if reference:
        try:
            make_env(reference, size=args.size).close()
        except Exception as error:  # the atari extra is missing, or another id failed
            print(f"no reference ({reference}: {error}); printing absolute rates only")
            reference = ""
    rates: dict[str, list[float]] = {name: [] for name in names + [reference] if name}
    for _ in range(args.repeats):  # interleaved, so drift hits every world alike
        for name in rates:
            rates[name].append(steps_per_second(name, args.steps, args.size))
    medians = {name: statistics.median(values) for name, values in rates.items()}
    print(
        f"CPU {describe_cpu()}; median of {args.repeats} × {args.steps:,} steps, "
        f"{args.size}×{args.size}, rendering included, one thread"
    )
    print(f"| world | steps/s | ratio to {reference or '—'} |")
    print("|---|---|---|")
    for name in rates:
        ratio = f"{medians[name] / medians[reference]:.2f}×" if reference else "—"
        print(f"| {name} | {medians[name]:,.0f} | {ratio} |")


if __name__ == "__main__":
    main()
