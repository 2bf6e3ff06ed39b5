"""Text2world on ``bounce``: does a generated world show what its caption says?

A ``flow`` model learns from captioned ``bounce`` episodes (1–3 balls of colours drawn from
six, sizes and gravity varying per episode; captions made from ground truth, embedded by
the hashed encoder). It then generates a world from each caption of a test set, and the
frames are read back (``worldlab.evaluate.prompt_adherence``) into ball count, colours,
sizes and gravity. Beside it, on the same prompts:

- the simulator's own episodes of those captions (the reader's ceiling);
- shuffled captions and the majority answer (chance);
- the same model given no text (what it draws unprompted);
- prompt guidance 1, 2 and 4 (adherence against diversity and sharpness);
- compositional generalisation: no training episode has a large red ball (large balls and
  red balls both appear, never together); test prompts with one are scored apart;
- image2world and video2world: the same model continues from the caption and the first
  one or four real frames; PSNR by steps ahead beside repeat-last and the mean frame.

Every step is a folder under ``--out`` and skipped when done.

    python benchmarks/prompt_adherence.py --out bench/prompts --minutes 20
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

import worldlab
from worldlab.data.captions import embed_captions, read_captions, write_json
from worldlab.data.collect import collect
from worldlab.data.dataset import EpisodeDataset
from worldlab.data.episode import episode_filename, read_episode, write_episode
from worldlab.data.manifest import Manifest
from worldlab.evaluate.metrics import psnr
from worldlab.evaluate.open_loop import mean_dataset_frame
from worldlab.evaluate.prompt_adherence import adherence
from worldlab.evaluate.sharpness import sharpness_ratios
from worldlab.models.text_encoder import make_text_encoder
from worldlab.train import train
from worldlab.train.precision import describe_cpu

SIZE, STEPS, DT = 32, 40, 1 / 15
PALETTE = {
    "red": (0.92, 0.15, 0.15), "green": (0.2, 0.85, 0.25), "blue": (0.2, 0.35, 0.95),
    "yellow": (0.95, 0.85, 0.15), "purple": (0.6, 0.25, 0.9), "cyan": (0.15, 0.85, 0.9),
}  # fmt: skip
RADII = (0.05, 0.1)
ENCODER = make_text_encoder("hash")


def held_out(attributes: dict) -> bool:
    """The combination no training episode shows: a large red ball."""
    return any(
        c == "red" and s == "large"
        for c, s in zip(attributes["colours"], attributes["sizes"], strict=True)
    )


def make_data(out: Path, configs: int, per_config: int, seed: int, drop_held_out: bool) -> Path:
    """Episodes of ``configs`` random (count, colours) settings, merged into ``out``."""
    if (out / "manifest.json").exists():
        return out
    rng = np.random.default_rng(seed)
    parts = []
    for index in range(configs):
        balls = int(rng.integers(1, 4))
        names = [list(PALETTE)[i] for i in rng.choice(len(PALETTE), balls, replace=False)]
        part = out.parent / f"{out.name}_parts" / f"{index:03d}"
        kwargs = {
            "num_balls": balls, "colours": [PALETTE[n] for n in names],
            "gravity_range": [0.0, 2.5], "controllable": False, "radius_range": list(RADII),
        }  # fmt: skip
        collect("bounce", part, episodes=per_config, max_steps=STEPS, size=SIZE,
                seed=seed * 100_000 + index * 100, env_kwargs=kwargs, progress=False)  # fmt: skip
        parts.append(part)
    out.mkdir(parents=True)
    manifest = Manifest.load(parts[0])
    manifest.env_kwargs, manifest.episodes, manifest.steps = {}, 0, 0
    manifest.has_state, manifest.state_dims = False, 0
    captions = {}
    for part in parts:
        records = read_captions(part)
        for path in EpisodeDataset(part).paths:
            record = records[path.name]
            if drop_held_out and held_out(record):
                continue
            name = episode_filename(manifest.episodes)
            arrays = dict(read_episode(path, mmap=False))
            arrays.pop("state")  # its width is 8 per ball: episodes of 1–3 balls cannot stack
            write_episode(out / name, arrays)
            captions[name] = record
            manifest.episodes += 1
            manifest.steps += len(arrays["obs"]) - 1
    write_json(out / "captions.json", captions)
    manifest.save(out)
    embed_captions(out, lambda texts: ENCODER(texts).numpy(), ENCODER.name, progress=False)
    return out


@torch.no_grad()
def imagine(model, texts: np.ndarray, frames: int, seed: int) -> np.ndarray:
    """Worlds ``[B, frames, H, W, 3]`` from caption embeddings ``texts [B, D]`` (zeros:
    no text), null actions."""
    torch.manual_seed(seed)
    state = model.prompt(torch.from_numpy(texts).float())
    out = [model.render(state)]
    null = model.action_spec.null((len(texts),))
    for _ in range(frames - 1):
        state, _, _ = model.step(state, null)
        out.append(model.render(state))
    return torch.stack(out, 1).numpy()


@torch.no_grad()
def continue_from(model, texts: np.ndarray, prompt: np.ndarray, frames: int, seed: int):
    """Frames ``[B, frames, H, W, 3]`` after the prompt frames ``prompt [B, K, H, W, 3]``
    (image2world: K = 1; video2world: K > 1) with their captions, null actions."""
    torch.manual_seed(seed)
    state = model.prompt(torch.from_numpy(texts).float(), torch.from_numpy(prompt))
    null = model.action_spec.null((len(texts),))
    out = []
    for _ in range(frames):
        state, _, _ = model.step(state, null)
        out.append(model.render(state))
    return torch.stack(out, 1).numpy()


def fidelity(model, texts, real: np.ndarray, mean_frame: np.ndarray, context: int) -> dict:
    """PSNR by steps ahead of the frames the model continues from ``context`` real prompt
    frames, beside repeat-last (the last prompt frame) and the training set's mean frame."""
    horizon = real.shape[1] - context
    future = torch.from_numpy(real[:, context:])
    rows = {
        "model": continue_from(model, texts, real[:, :context], horizon, 0),
        "repeat_last": np.repeat(real[:, context - 1 : context], horizon, 1),
        "mean_frame": np.broadcast_to(mean_frame, real[:, context:].shape),
    }
    result = {"context_frames": context, "horizon": horizon}
    for name, frames in rows.items():
        per_step = psnr(torch.from_numpy(np.ascontiguousarray(frames)), future).mean(0)
        result[name] = [round(float(v), 2) for v in per_step]
    return result


def summary(result: dict) -> dict:
    return {
        key: {name: value[name] for name in ("accuracy", "ci95", "shuffled", "majority")}
        for key, value in result["attributes"].items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--minutes", type=float, default=20)
    parser.add_argument("--configs", type=int, default=60)
    parser.add_argument("--per-config", type=int, default=6)
    parser.add_argument("--test-configs", type=int, default=40)
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument(
        "--first-frame-dropout", type=float, default=0.3,
        help="share of training samples with no context frame: text2world's only lesson",
    )  # fmt: skip
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data = make_data(out / "train", args.configs, args.per_config, 1, drop_held_out=True)
    test = make_data(out / "test", args.test_configs, 2, 2, drop_held_out=False)
    run = out / "run"
    if not (run / "config.json").exists():
        overrides = {
            "model.text_dims": ENCODER.dims, "model.text_encoder": ENCODER.name,
            "model.first_frame_dropout": args.first_frame_dropout, "train.steps": 1_000_000,
            "train.max_minutes": args.minutes, "train.seq_len": 16,
        }  # fmt: skip
        train("flow", data, run, overrides=overrides)
    model = worldlab.load(run).eval()
    dataset = EpisodeDataset(test)
    captions = [dataset.caption(i) for i in range(len(dataset))]
    real = np.stack([dataset.episode(i)["obs"][: args.frames] for i in range(len(dataset))])
    texts = ENCODER([c["caption"] for c in captions]).numpy()
    read = {"radius_range": RADII, "dt": DT}
    last = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    results = {"cpu": describe_cpu(), "test_prompts": len(captions), "updates": last["step"]}
    results["first_frame_dropout"] = model.config.first_frame_dropout
    mean_frame = mean_dataset_frame(EpisodeDataset(data))
    for name, context in (("image2world", 1), ("video2world", 4)):
        results[name] = fidelity(model, texts, real, mean_frame, context)
    results["simulator"] = summary(adherence(list(real), captions, **read))
    unprompted = imagine(model, np.zeros_like(texts), args.frames, 0)
    results["no text"] = summary(adherence(list(unprompted), captions, **read))
    held = np.array([held_out(c) for c in captions])
    for guidance in (1.0, 2.0, 4.0):
        with model.sampling(prompt_guidance=guidance):
            worlds = imagine(model, texts, args.frames, 0)
            again = imagine(model, texts, args.frames, 1)
        scored = adherence(list(worlds), captions, **read)
        row = summary(scored)
        row["diversity"] = float(np.abs(worlds.astype(float) - again.astype(float)).mean())
        row["sharpness"] = sharpness_ratios(
            torch.from_numpy(worlds.reshape(-1, *worlds.shape[2:])),
            torch.from_numpy(real.reshape(-1, *real.shape[2:])),
        )
        for name, mask in (("held-out combos", held), ("seen combos", ~held)):
            if mask.any():
                chosen = np.flatnonzero(mask)
                part = adherence([worlds[i] for i in chosen], [captions[i] for i in chosen], **read)
                row[name] = {"episodes": int(mask.sum()), **summary(part)}
        results[f"guidance {guidance:g}"] = row
        if guidance == 1.0:
            from worldlab.data import write_video

            grid = np.concatenate([np.concatenate(list(real[:6]), 2),
                                   np.concatenate(list(worlds[:6]), 2)], 1)  # fmt: skip
            write_video(grid, out / "text2world.gif", fps=8, scale=3)
    (out / "results.json").write_text(json.dumps(results, indent=2))
    print(json.dumps({k: v for k, v in results.items()}, indent=1)[:6000])


if __name__ == "__main__":
    main()
