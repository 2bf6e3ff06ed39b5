"""Acting from unlabeled video: return against the number of labelled transitions.

Trains, per seed, latent BC through a latent-action model (one policy per seed, its map
refitted for every label count), BC on the labelled transitions alone, and the oracle
(BC on every transition of the expert's labelled episodes), then plays each in the real
world beside random actions and the scripted expert itself. Every run's result is a JSON
file under ``--out``; a rerun skips the runs already done, so seeds may run as separate
processes and ``--report`` gathers them into one table.

    python benchmarks/latent_bc.py --video video --expert expert --labelled labelled \\
        --model lam --out bench --seeds 0 1 2 --labels 0 100 1000
    python benchmarks/latent_bc.py --out bench --report
"""

from __future__ import annotations

import argparse
import json
import time
from functools import partial
from pathlib import Path

import numpy as np
import torch

from worldlab.agents.imitation import ImitationConfig, evaluate_imitation, train_bc, train_latent_bc
from worldlab.agents.rollout import run_episodes
from worldlab.evaluate.metrics import mean_ci
from worldlab.train.precision import describe_cpu
from worldlab.worlds import make_env
from worldlab.worlds.experts import make_expert

EVAL_SEED = 1_000_000  # levels no dataset was collected on


class _Blind:
    """An observer for policies that read the world itself (random, the expert)."""

    def reset(self, obs):
        return None

    def update(self, action, obs):
        return None


def reference(name: str, env_id: str, size: int, episodes: int, steps: int, seed: int) -> dict:
    env = make_env(env_id, size=size)
    if name == "expert":
        expert = make_expert(env.unwrapped.spec.id)
        policy = lambda _: expert(env)  # noqa: E731
    else:
        env.action_space.seed(seed)
        policy = lambda _: env.action_space.sample()  # noqa: E731
    return run_episodes(
        env_id, env, _Blind(), policy, lambda a: a, episodes, EVAL_SEED, steps, progress=False
    )


def run_all(args: argparse.Namespace) -> None:
    out = Path(args.out)
    for seed in args.seeds:
        config = ImitationConfig(seed=seed, updates=args.updates)
        # The seed's latent policy (frames → codes; no label touches it), with a map drawn
        # at random: the N = 0 row. The other label counts reuse it and fit only the map.
        base = out / "runs" / f"latent-bc_n0_s{seed}"
        for labels in sorted(set(args.labels) | {0}) if "latent-bc" in args.methods else []:
            name = f"latent-bc_n{labels}_s{seed}"
            reuse = base if (base / "agent.json").exists() else None
            train = partial(
                train_latent_bc, args.video, args.model, args.labelled, labels,
                out / "runs" / name, config, progress=False, policy_from=reuse,
            )  # fmt: skip
            _once(out, name, train, "latent-bc", labels, seed, args.episodes)
        for labels in [n for n in args.labels if n > 0 and "bc" in args.methods]:
            name = f"bc_n{labels}_s{seed}"
            train = partial(train_bc, args.labelled, labels, out / "runs" / name, config)
            _once(out, name, partial(train, progress=False), "bc", labels, seed, args.episodes)
        if "oracle" in args.methods:
            name = f"oracle_s{seed}"
            train = partial(
                train_bc, args.expert, None, out / "runs" / name, config, progress=False
            )
            _once(out, name, train, "oracle", None, seed, args.episodes)


def _once(out, name, train, method, labels, seed, episodes) -> None:
    path = out / "results" / f"{name}.json"
    if path.exists():
        return
    start = time.perf_counter()
    card = train()
    seconds = time.perf_counter() - start
    result = evaluate_imitation(out / "runs" / name, episodes, EVAL_SEED, progress=False)
    if card.get("decoder"):  # the same policy read out through the majority map instead
        by_map = evaluate_imitation(
            out / "runs" / name, episodes, EVAL_SEED, progress=False, decode="map"
        )
        _write(out, f"{name}_map", _record(method + " (map)", labels, seed, by_map, card))
    _write(out, name, {**_record(method, labels, seed, result, card), "train_s": round(seconds, 1)})
    print(f"{name}: return {np.mean(result['returns']):.2f} ({seconds:.0f} s)", flush=True)


def _record(method, labels, seed, result, card) -> dict:
    return {
        "method": method,
        "labels": labels,
        "seed": seed,
        "returns": result["returns"],
        "lengths": result["lengths"],
        "episode_steps": card["episode_steps"],
        "map": card.get("map_metrics"),
        "cpu": describe_cpu(),
    }


def _write(out: Path, name: str, record: dict) -> None:
    path = out / "results" / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=1) + "\n")


def report(args: argparse.Namespace) -> None:
    records = [json.loads(p.read_text()) for p in sorted(Path(args.out, "results").glob("*.json"))]
    if not records:
        raise SystemExit(f"no results under {args.out}/results: run the benchmark first")
    steps = records[0]["episode_steps"]
    rows: dict[tuple, list] = {}
    for record in records:
        rows.setdefault((record["method"], record["labels"]), []).append(record)
    lines = [
        f"CPU: {records[0]['cpu']}; {len(records[0]['returns'])} real episodes of {steps} steps "
        f"per run (levels {EVAL_SEED}+), mean return ± 95% CI over training seeds",
        "",
        "| method | labelled transitions | return | falls | seeds "
        "| held-out accuracy: map, decoder (chance) |",
        "|---|---|---|---|---|---|",
    ]
    order = {"random": 0, "latent-bc (map)": 1, "latent-bc": 2, "bc": 3, "oracle": 4, "expert": 5}
    for (method, labels), group in sorted(
        rows.items(), key=lambda kv: (order[kv[0][0]], kv[0][1] or 0)
    ):
        means = np.array([np.mean(r["returns"]) for r in group])
        mean, half = mean_ci(means)
        falls = np.mean([np.mean(np.array(r["lengths"]) < steps) for r in group])
        maps = [r["map"] for r in group if r.get("map") and "accuracy" in r["map"]]
        accuracy = "—"
        if maps:
            hits, chance = (np.mean([m[k] for m in maps]) for k in ("accuracy", "chance"))
            decoded = [m["decoder_accuracy"] for m in maps if "decoder_accuracy" in m]
            accuracy = f"{hits:.2f}, {np.mean(decoded):.2f}" if decoded else f"{hits:.2f}"
            accuracy += f" ({chance:.2f})"
        ci = "" if np.isnan(half) else f" ± {half:.2f}"
        count = "all" if method == "oracle" else ("—" if labels is None else f"{labels:,}")
        lines.append(
            f"| {method} | {count} | {mean:.2f}{ci} | {falls:.0%} | {len(group)} | {accuracy} |"
        )
    text = "\n".join(lines)
    print(text)
    Path(args.out, "table.md").write_text(text + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--video")
    parser.add_argument("--expert", help="the expert's labelled episodes (the oracle's data)")
    parser.add_argument("--labelled", help="labelled expert episodes to draw N from")
    parser.add_argument("--model", help="latent-action model run (genie)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--labels", type=int, nargs="+", default=[0, 100, 1000])
    parser.add_argument("--episodes", type=int, default=30)
    parser.add_argument("--methods", nargs="+", default=["latent-bc", "bc", "oracle"])
    parser.add_argument("--updates", type=int, default=3000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--report", action="store_true", help="only gather the results")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if not args.report:
        run_all(args)
        for name in ("random", "expert"):
            path = Path(args.out, "results", f"{name}.json")
            if not path.exists():
                from worldlab.data import EpisodeDataset

                data = EpisodeDataset(args.expert)
                steps = max(len(data.episode(i)["obs"]) - 1 for i in range(len(data)))
                result = reference(
                    name, data.manifest.env_id, data.obs_shape[0], args.episodes, steps, 0
                )
                record = {"method": name, "labels": None, "seed": 0, "returns": result["returns"],
                          "lengths": result["lengths"], "episode_steps": steps, "map": None,
                          "cpu": describe_cpu()}  # fmt: skip
                path.write_text(json.dumps(record, indent=1) + "\n")
    report(args)


if __name__ == "__main__":
    main()
