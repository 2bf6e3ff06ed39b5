"""The flow family beside rssm and the trivial baselines, on the same held-out episodes.

    python benchmarks/flow_bench.py --data TEST_DIR --run flow=RUN --run rssm=RUN \
        [--steps 1,2,4,8] [--episodes 40] [--json OUT.json] [--gif DIR] \
        [--sampling context_noise=0]

``--sampling KEY=VALUE`` (repeatable) sets a sampling option on every run that declares it
(``WorldModel.sampling_options``), e.g. the context noise a ``flow`` run holds.

For every run (and, for a model with a ``sampling_steps`` option, every step count):

- open-loop PSNR at horizons 1–15 (5 context frames, the demo's protocol), beside
  repeat-last and the training set's mean frame;
- sharpness at horizons 15–30 as a ratio to the real frames (gradient energy, Laplacian
  variance: 1 is as sharp as the world, below is blur), the baselines' too;
- diversity: the per-pixel standard deviation over 8 samples of the same 16 windows at
  horizon 15 (0 for a deterministic model);
- speed: frames/s of one imagined step at batch 1 (median of 5 runs of 20 steps);
- with ``--collapse``: a 200-step rollout under random actions, its frames' mean and
  standard deviation against the real data's, with the context noise on and off
  (``--gif DIR`` writes both rollouts).

Report the CPU beside the numbers: the script prints ``torch.backends.cpu.get_cpu_capability()``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch

import worldlab
from worldlab.config import parse_assignments
from worldlab.data import EpisodeDataset, write_video
from worldlab.evaluate.open_loop import (
    evaluate_open_loop,
    imagine_windows,
    mean_dataset_frame,
    sample_windows,
)
from worldlab.evaluate.run import training_mean_frame
from worldlab.evaluate.sharpness import sharpness_ratios
from worldlab.train.precision import describe_cpu


def speed(model, dataset: EpisodeDataset) -> float:
    episode = dataset.episode(0)
    obs = torch.from_numpy(episode["obs"][None, :5])
    action = torch.from_numpy(episode["action"][None, :5])
    times = []
    with torch.no_grad():
        for _ in range(5):
            state = model.observe(obs, action)
            start = time.perf_counter()
            for t in range(20):
                state, _, _ = model.step(state, action[:, t % 5])
                model.render(state)
            times.append(20 / (time.perf_counter() - start))
    return statistics.median(times)


def long_rollouts(model, dataset, episodes, horizon=30, seed=0):
    """Imagined and real frames at horizons 15–30 of one window per episode."""
    pairs = sample_windows(dataset, episodes, 5 + horizon, 1, seed)
    imagined, real = [], []
    for _, batch, frames, _ in imagine_windows(model, dataset, pairs, 5, horizon, seed):
        imagined.append(frames[:, 14:])
        real.append(batch["obs"][:, 5 + 14 :])
    return torch.cat(imagined), torch.cat(real), pairs


def diversity(model, dataset, pairs, samples=8) -> float:
    pairs = pairs[:16]
    draws = []
    for seed in range(samples):
        for _, _, frames, _ in imagine_windows(
            model, dataset, pairs, 5, 15, seed=seed, batch_size=64
        ):
            draws.append(frames[:, 14].float())
    stacked = torch.stack(draws)  # [samples, N, H, W, C]
    return float(stacked.std(0).mean())


def collapse(model, dataset, gif_dir: Path | None, name: str, steps=200) -> dict:
    real = np.stack([dataset.episode(i)["obs"] for i in range(min(len(dataset), 20))])
    reference = {
        "mean": float(real.mean()),
        "std": float(real.reshape(-1, real.shape[-1]).std(0).mean()),
    }
    episode = dataset.episode(0)
    obs = torch.from_numpy(episode["obs"][:5])[None].repeat(4, 1, 1, 1, 1)
    action = torch.from_numpy(episode["action"][:5])[None]
    action = action.repeat(4, *([1] * (action.dim() - 1)))
    result = {"real": reference}
    generator = torch.Generator().manual_seed(0)
    actions = model.action_spec.random((4, steps), generator)
    noise_levels = {"context noise on": None, "context noise off": 0.0}
    for label, level in noise_levels.items():
        settings = (
            {}
            if level is None or "context_noise" not in model.sampling_settings()
            else {"context_noise": level}
        )
        if level is not None and not settings:
            continue
        torch.manual_seed(0)
        with torch.no_grad(), model.sampling(**settings):
            state = model.observe(obs, action)
            frames = model.imagine(state, actions)["frames"].float()
        stats = {}
        for at in (10, 50, 100, 200):
            chunk = frames[:, at - 10 : at]
            stats[at] = {
                "mean": float(chunk.mean()),
                "std": float(chunk.reshape(-1, chunk.shape[-1]).std(0).mean()),
            }
        result[label] = stats
        if gif_dir is not None:
            gif_dir.mkdir(parents=True, exist_ok=True)
            write_video(
                frames[0].to(torch.uint8).numpy(), gif_dir / f"{name} {label}.gif".replace(" ", "_")
            )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--run", action="append", required=True, help="NAME=RUN_DIR")
    parser.add_argument("--steps", default="1,2,4,8")
    parser.add_argument("--episodes", type=int, default=40)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--collapse", action="store_true")
    parser.add_argument("--gif", type=Path)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--sampling", action="append", help="KEY=VALUE, a sampling option")
    args = parser.parse_args()
    sampling = parse_assignments(args.sampling, "--sampling")
    torch.set_num_threads(args.threads)
    dataset = EpisodeDataset(args.data)
    print(f"CPU capability: {describe_cpu()}, threads {args.threads}")
    rows, report = [], {"cpu": describe_cpu(), "sampling": sampling, "runs": {}}
    baselines_done = False
    for item in args.run:
        name, _, run = item.partition("=")
        model = worldlab.load(run)
        options = model.sampling_settings()
        chosen = {key: value for key, value in sampling.items() if key in options}
        step_counts = (
            [int(s) for s in args.steps.split(",")] if "sampling_steps" in options else [None]
        )
        for steps in step_counts:
            label = name if steps is None else f"{name} ({steps} steps)"
            settings = chosen if steps is None else {**chosen, "sampling_steps": steps}
            with model.sampling(**settings):
                mean = training_mean_frame(model)
                scores = evaluate_open_loop(
                    model, dataset, 15, 5, args.episodes, 4, mean, progress=False
                )
                imagined, real, pairs = long_rollouts(model, dataset, args.episodes)
                entry = {
                    "psnr": scores["model"]["psnr"],
                    "sharpness_h15_30": sharpness_ratios(imagined, real),
                    "diversity_h15": diversity(model, dataset, pairs),
                    "frames_per_second_batch1": speed(model, dataset),
                }
                if args.collapse and steps in (None, options.get("sampling_steps")):
                    entry["collapse"] = collapse(model, dataset, args.gif, name)
            report["runs"][label] = entry
            rows.append((label, entry))
            if not baselines_done:
                baselines_done = True
                mean_image = torch.from_numpy(
                    mean if mean is not None else mean_dataset_frame(dataset)
                ).to(torch.uint8)
                report["baselines"] = {
                    name_: {"psnr": scores["baselines"][name_]["psnr"]}
                    for name_ in ("repeat_last", "mean_frame")
                }
                report["baselines"]["mean_frame"]["sharpness_h15_30"] = sharpness_ratios(
                    mean_image.expand_as(real[:1]), real
                )
            print(
                f"{label}: PSNR h1 {entry['psnr'][0]:.2f} h5 {entry['psnr'][4]:.2f} "
                f"h15 {entry['psnr'][14]:.2f}; sharpness {entry['sharpness_h15_30']}; "
                f"diversity {entry['diversity_h15']:.2f}; "
                f"{entry['frames_per_second_batch1']:.1f} frames/s",
                flush=True,
            )
    print()
    print(
        "| model | "
        + " | ".join(f"h{h}" for h in (1, 2, 3, 4, 5, 10, 15))
        + " | gradient energy h15–30 | Laplacian var. h15–30 | diversity h15 | frames/s (batch 1) |"
    )
    print("|---" * 12 + "|")
    for name_ in ("repeat_last", "mean_frame"):
        psnr = report["baselines"][name_]["psnr"]
        sharp = report["baselines"][name_].get(
            "sharpness_h15_30", {"gradient_energy": 1.0, "laplacian_variance": 1.0}
        )
        print(
            f"| {name_} | "
            + " | ".join(f"{psnr[h - 1]:.2f}" for h in (1, 2, 3, 4, 5, 10, 15))
            + f" | {sharp['gradient_energy']:.2f} | {sharp['laplacian_variance']:.2f} | 0 | – |"
        )
    for label, entry in rows:
        sharp = entry["sharpness_h15_30"]
        print(
            f"| {label} | "
            + " | ".join(f"{entry['psnr'][h - 1]:.2f}" for h in (1, 2, 3, 4, 5, 10, 15))
            + f" | {sharp['gradient_energy']:.2f} | {sharp['laplacian_variance']:.2f}"
            + f" | {entry['diversity_h15']:.2f} | {entry['frames_per_second_batch1']:.1f} |"
        )
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
