"""Which hue turns can a transfer model draw? A quick check before a data-engine run.

``transfer_generalisation.py`` spends an hour augmenting and training policies before its
table says whether the model drew the palettes it was told. This probe answers in a
minute: it re-renders the first frames of ``--episodes`` flat expert episodes in each
look that turns every hue (``sand``, ``slate``, ``forest``), telling episode ``i`` the
turn ``(i + 0.5) / N`` so the wheel is covered evenly, and counts, per fifth of the wheel,
the episodes whose target and whose agent are drawn within 0.1 of a turn of their flat
hue turned by the asked amount. It also prints where the target was drawn, in tenths of
a turn from flat's red.

The ``simulator`` row scores the simulator's own renders of the same expert episodes
(``expert_<look>`` from the benchmark's ``--out``, each at the hue it recorded) with the
same scorer: 100% in every fifth, the check that the scorer reads hues right.

    python benchmarks/transfer_hue_probe.py RUN [RUN ...] --bench bench/ring \\
        --guidance 1 3 --episodes 80
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from transfer_generalisation import HUE_BINS, part_hue, turn_apart

import worldlab
from worldlab.data.dataset import EpisodeDataset
from worldlab.train.checkpoint import checkpoint_dirs
from worldlab.train.precision import describe_cpu
from worldlab.transfer import ControlSpec, transfer_frames
from worldlab.worlds.reach import ReachEnv
from worldlab.worlds.skins import skin_id

PARTS = {"target": ReachEnv.TARGET_CLASS, "agent": ReachEnv.AGENT_CLASS}


def flat_hues(episodes: list[dict]) -> dict[str, float]:
    """Each part's median first-frame hue in flat episodes, in turns."""
    return {
        name: float(np.median([h for e in episodes if (h := part_hue(e, part, 0)) is not None]))
        for name, part in PARTS.items()
    }


def score(frames: np.ndarray, seg: np.ndarray, asked: np.ndarray, base: dict) -> dict:
    """Per part, the share of first frames at the asked hue per fifth of the wheel, and
    where the target was drawn in tenths of a turn from its flat hue."""
    hits = {name: [[] for _ in range(HUE_BINS)] for name in PARTS}
    tenths = [0] * 10
    for frame, mask, turn in zip(frames, seg, asked, strict=True):
        for name, part in PARTS.items():
            seen = part_hue({"obs": frame[None], "seg": mask[None]}, part, 0)
            if seen is None:
                continue
            hits[name][int(turn * HUE_BINS)].append(
                turn_apart(seen, (base[name] + turn) % 1.0) < 0.1
            )
            if name == "target":
                tenths[int((seen - base[name]) % 1.0 * 10) % 10] += 1
    shares = {
        name: [float(np.mean(b)) if b else float("nan") for b in bins]
        for name, bins in hits.items()
    }
    return {**shares, "target_tenths": tenths}


def trained(run: Path) -> int:
    """The step of a run's newest checkpoint (the one ``worldlab.load`` reads)."""
    return int(checkpoint_dirs(run)[-1].name.split("_")[-1])


def row(label: str, scored: dict) -> str:
    cells = [" ".join(f"{100 * s:3.0f}" for s in scored[name]) for name in PARTS]
    return f"| {label} | {cells[0]} | {cells[1]} | {scored['target_tenths']} |"


def strip(model, frames, seg, spec: ControlSpec, look: str, seed: int, path: Path) -> None:
    """Ten flat first frames above their re-renderings told turns 0, 0.1 … 0.9."""
    asked = np.arange(10, dtype=np.float32) / 10
    with torch.no_grad():
        made = transfer_frames(model, frames[:10], spec, skin_id(look), maps={"seg": seg[:10]},
                               seed=seed, hue=asked)  # fmt: skip
    columns = [np.concatenate([frames[i, 0], made[i, 0]], 0) for i in range(10)]
    picture = Image.fromarray(np.concatenate(columns, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    picture.resize((picture.width * 4, picture.height * 4), Image.NEAREST).save(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="transfer models (flow runs)")
    parser.add_argument("--bench", type=Path, required=True,
                        help="transfer_generalisation's --out (expert_flat, …)")  # fmt: skip
    parser.add_argument("--looks", nargs="+", default=["sand", "slate", "forest"])
    parser.add_argument("--guidance", nargs="+", type=float, default=[1.0])
    parser.add_argument("--episodes", type=int, default=80)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--weights", nargs=2, type=float, default=[1.0, 1.0],
                        help="the edge and seg controls' weights")  # fmt: skip
    parser.add_argument("--picture", type=Path,
                        help="PNG: the first run's first frames in the first look, told turns "
                             "0, 0.1 … 0.9 (flat input above, re-rendering below)")  # fmt: skip
    args = parser.parse_args()

    flat = EpisodeDataset(args.bench / "expert_flat")
    count = min(args.episodes, len(flat))
    episodes = [flat.episode(i) for i in range(count)]
    base = flat_hues(episodes)
    frames = np.stack([np.asarray(e["obs"][:1]) for e in episodes])
    seg = np.stack([np.asarray(e["seg"][:1]) for e in episodes])
    asked = ((np.arange(count) + 0.5) / count).astype(np.float32)
    spec = ControlSpec(["edge", "seg"], weights=list(args.weights))
    print(
        f"CPU: {describe_cpu()}; {count} episodes; edge and seg weights {args.weights}; "
        "share drawn at the asked turn per fifth of the wheel, in %"
    )
    edges = " ".join(f"{b / HUE_BINS:.1f}" for b in range(HUE_BINS))
    print(f"| look · source | target at {edges} | agent at {edges} | target drawn, tenths |")
    print("|---|---|---|---|")
    models = {run: worldlab.load(run) for run in args.runs}
    for look in args.looks:
        rendered = EpisodeDataset(args.bench / f"expert_{look}")
        truth = [rendered.episode(i) for i in range(min(count, len(rendered)))]
        told = np.array([float(np.asarray(e["hue"])[0]) for e in truth])
        scored = score(
            np.stack([np.asarray(e["obs"][0]) for e in truth]),
            np.stack([np.asarray(e["seg"][0]) for e in truth]),
            told,
            base,
        )
        print(row(f"{look} · simulator", scored), flush=True)
        for run, model in models.items():
            for guidance in args.guidance:
                with model.sampling(hue_guidance=guidance), torch.no_grad():
                    made = transfer_frames(
                        model, frames, spec, skin_id(look),
                        maps={"seg": seg}, seed=args.seed, hue=asked,
                    )  # fmt: skip
                    if args.picture and look == args.looks[0] and run == args.runs[0]:
                        strip(model, frames, seg, spec, look, args.seed, args.picture)
                        args.picture = None  # one picture, at the first guidance
                label = f"{look} · {run.name} ({trained(run)} updates), guidance {guidance:g}"
                print(row(label, score(made[:, 0], seg[:, 0], asked, base)), flush=True)


if __name__ == "__main__":
    main()
