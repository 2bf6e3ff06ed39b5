"""World-model training speed against sheeprl's DreamerV3, side by side in one run.

    python benchmarks/train_vs_sheeprl.py --peer-python ../.peer-venv/bin/python \
        [--peer-script ../shared/peers/sheeprl_dreamerv3_bench.py] [--rounds 3] [--precision fp32]

Alternates rounds of the peer's benchmark (its real DreamerV3 agent, XS, batch 16 × 64
at 64×64, 2 threads) and worldlab's ``rssm --preset xs`` at the same shape
(``worldlab.bench.bench_train``, what ``worldlab bench train`` runs), each in a fresh
process, and prints both per round, the medians and their ratio, with the CPU
capability. Set ``ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2`` to time AVX2
kernels on an AVX-512 machine. Installing the peer: ``../shared/peers/README.md``.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
from pathlib import Path

from worldlab.train.precision import describe_cpu


def _rate(command: list[str], pattern: str, cwd: Path | None = None) -> float:
    result = subprocess.run(command, capture_output=True, text=True, cwd=cwd, timeout=1800)
    match = re.search(pattern, result.stdout + result.stderr)
    if result.returncode != 0 or match is None:
        raise SystemExit(
            f"{' '.join(command)} failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}"
        )
    return float(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--peer-python", required=True, help="python of the sheeprl venv")
    parser.add_argument(
        "--peer-script",
        default=str(
            Path(__file__).resolve().parents[2] / "shared/peers/sheeprl_dreamerv3_bench.py"
        ),
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=4, help="timed steps per round")
    parser.add_argument("--precision", default="fp32", help="worldlab's: fp32, bf16 or auto")
    args = parser.parse_args()
    script = Path(args.peer_script)
    if not script.is_file():
        raise SystemExit(f"no peer benchmark at {script}: pass --peer-script")
    peer_cmd = [args.peer_python, script.name, "XS", "2", str(args.steps)]
    ours_code = (
        "from worldlab.bench import bench_train; "
        f"r = bench_train('rssm', 'xs', 16, 64, 64, {args.steps}, threads=2, "
        f"precision={args.precision!r}); print('RATE', r['steps_per_second'])"
    )
    ours_cmd = [sys.executable, "-c", ours_code]
    peer, ours = [], []
    for round_ in range(1, args.rounds + 1):
        peer.append(_rate(peer_cmd, r"WM-only.*?= ([0-9.]+) steps/s", cwd=script.parent))
        ours.append(_rate(ours_cmd, r"RATE ([0-9.]+)"))
        print(
            f"round {round_}: sheeprl {peer[-1]:.3f}, worldlab {ours[-1]:.3f} steps/s", flush=True
        )
    ratio = statistics.median(ours) / statistics.median(peer)
    print(f"CPU {describe_cpu()}; worldlab in {args.precision}, sheeprl in fp32")
    print("| implementation | steps/s (rounds) | median | ratio to sheeprl |")
    print("|---|---|---|---|")
    for name, rates, r in (
        ("sheeprl 0.8.4 DreamerV3 XS", peer, 1.0),
        ("worldlab rssm xs", ours, ratio),
    ):
        listed = ", ".join(f"{x:.3f}" for x in rates)
        print(f"| {name} | {listed} | {statistics.median(rates):.3f} | {r:.2f}× |")


if __name__ == "__main__":
    main()
