"""The Cosmos Transfer experiment: does re-rendered data help a policy see through new looks?

On ``reach`` from pixels, a behavioural-cloning policy learns from a scripted expert's
episodes drawn in one look (the ``flat`` skin), and is played in the real world drawn in
skins it never saw (``noise``, ``stripes``, ``night``). Its training data, per condition:

- ``flat``: the expert's episodes alone;
- ``flat + jitter``: plus copies under classic colour augmentation (brightness, contrast,
  channel order, tint; RAD / DrAC-style), as many copies as the transfer makes;
- ``flat + transfer``: plus the same episodes re-rendered by a control-conditioned flow
  model in the other training skins (``worldlab augment``, edge + segmentation controls);
- ``flat + transfer + jitter``: both augmentations' data together (a data engine beside
  the photometric augmentation a policy would get anyway);
- ``flat + simulator``: plus the same episodes rendered by the simulator itself in those
  skins, the ceiling a perfect transfer would reach.

Every step is a folder under ``--out`` and is skipped when done, so the script resumes.
Results land in ``OUT/results.json`` and a Markdown table in ``OUT/results.md``.

    python benchmarks/transfer_generalisation.py --out bench/transfer --model-minutes 25

``--target-shape ring`` draws the target as a ring, so that it differs from the agent in
shape: under the skins that turn every hue (``sand``, ``slate``, ``forest``) colour alone
cannot tell the two discs apart, their hues being half a turn apart.

The transfer model is told each episode's hue turn (``model.hue_input``): ``augment``
draws one per episode for the looks that turn every hue, as the simulator does, so its
re-renderings move the target's colour as the simulator's renders do (``--no-hue-input``:
the model picks a palette itself, and kept the target red in 98% of episodes);
``--hue-guidance 3`` augments with classifier-free guidance on that hue. The table counts
the episodes drawn at the hue they were told, per fifth of the colour wheel.

``--encoder keypoints`` gives BC a spatial-softmax encoder instead of the strided
convolutions. ``--conditions`` runs some of them (without ``flat + transfer`` no model is
trained). ``--left-out checker pastel`` keeps training skins out of every dataset and of
the transfer model, and plays the policies in them too: looks that no dataset, model or
policy saw. ``--mixed-looks noise/flat flat/noise`` also plays each policy in looks that
take the scene of one skin and the object colours of another: which half of a look it
fails on.
"""

from __future__ import annotations

import argparse
import colorsys
import json
import time
from pathlib import Path

import numpy as np

import worldlab
from worldlab.agents.frame_policy import ENCODERS
from worldlab.agents.imitation import ImitationConfig, evaluate_imitation, train_bc
from worldlab.config import parse_assignments
from worldlab.data.collect import collect
from worldlab.data.dataset import EpisodeDataset
from worldlab.data.episode import episode_filename, read_episode, read_json, write_episode
from worldlab.data.manifest import Manifest
from worldlab.evaluate.metrics import difference_ci, mean_ci
from worldlab.train import train
from worldlab.train.precision import describe_cpu
from worldlab.transfer import ControlSpec, augment, quality, transfer_frames
from worldlab.transfer.augment import RECORD
from worldlab.transfer.clutter import placed_maps
from worldlab.worlds.reach import ReachEnv
from worldlab.worlds.skins import HELD_OUT_SKINS, SKIN_NAMES, TRAIN_SKINS, skin_id

SIZE, STEPS = 32, 50
HUE_BINS = 5  # palettes_kept: the hues a model was told, in fifths of the wheel
EXPERT_SEED, EVAL_SEED = 10_000, 1_000_000
OTHER_SKINS = [name for name in TRAIN_SKINS if name != "flat"]
CONDITIONS = (
    "flat", "flat + jitter", "flat + transfer", "flat + transfer + jitter", "flat + simulator"
)  # fmt: skip
COMMON = dict(env="reach", size=SIZE, controls=True, progress=False)


def merge(sources: list[Path], out: Path) -> Path:
    """One dataset holding every episode of ``sources``, in order (same world and size)."""
    if (out / "manifest.json").exists():
        return out
    out.mkdir(parents=True)
    manifest = Manifest.load(sources[0])
    manifest.episodes, manifest.steps, manifest.skins = 0, 0, []
    for source in sources:
        for path in EpisodeDataset(source).paths:
            arrays = dict(read_episode(path, mmap=False))
            write_episode(out / episode_filename(manifest.episodes), arrays)
            manifest.episodes += 1
            manifest.steps += len(arrays["obs"]) - 1
    manifest.save(out)
    return out


def jitter(source: Path, out: Path, copies: int, seed: int = 0, base: Path | None = None) -> Path:
    """``base`` (default ``source``) plus ``copies`` colour-jittered versions of every
    episode of ``source``."""
    if (out / "manifest.json").exists():
        return out
    rng = np.random.default_rng(seed)
    staging = []
    for copy in range(copies):
        folder = out.parent / f"{out.name}_part{copy}"
        folder.mkdir(parents=True, exist_ok=True)
        manifest = Manifest.load(source)
        for index, path in enumerate(EpisodeDataset(source).paths):
            arrays = dict(read_episode(path, mmap=False))
            frames = arrays["obs"].astype(np.float32)
            frames = frames[..., rng.permutation(3)]  # channel order
            mean = frames.mean()
            frames = (frames - mean) * rng.uniform(0.6, 1.4) + mean  # contrast
            frames = frames * rng.uniform(0.6, 1.4) + rng.uniform(-40, 40, 3)  # brightness, tint
            arrays["obs"] = np.clip(frames, 0, 255).astype(np.uint8)
            write_episode(folder / episode_filename(index), arrays)
        manifest.save(folder)
        staging.append(folder)
    return merge([base or source, *staging], out)


def prepare(args, out: Path) -> dict[str, Path]:
    data, looks = {}, training_looks(args)
    common = dict(COMMON, env_kwargs={"target_shape": args.target_shape})
    model = Path(args.model) if args.model else out / "transfer_model"
    transferring = uses_transfer(args)
    if transferring and not (model / "config.json").exists():
        if not (out / "mix" / "manifest.json").exists():
            collect(out=out / "mix", episodes=args.mix_episodes, skins=["flat", *looks],
                    policy="brownian", max_steps=STEPS, **common)  # fmt: skip
        overrides = {
            "model.controls": ["edge", "seg"], "model.styles": len(SKIN_NAMES),
            "model.first_frame_dropout": args.first_frame_dropout,
            "model.hue_input": args.hue_input, "model.hue_map": args.hue_map,
            "train.steps": args.model_updates or 1_000_000,
            "train.max_minutes": None if args.model_updates else args.model_minutes,
            **parse_assignments(args.model_set),
        }  # fmt: skip
        train("flow", out / "mix", model, overrides=overrides)
    data["model"] = model
    flat = out / "expert_flat"
    if not (flat / "manifest.json").exists():
        collect(out=flat, episodes=args.expert_episodes, seed=EXPERT_SEED, policy="expert",
                max_steps=args.expert_steps, **common)  # fmt: skip
    rendered = []
    for skin in looks:
        folder = out / f"expert_{skin}"
        if not (folder / "manifest.json").exists():
            collect(out=folder, episodes=args.expert_episodes, seed=EXPERT_SEED,
                    policy="expert", skins=[skin], max_steps=args.expert_steps,
                    **common)  # fmt: skip
        rendered.append(folder)
    data["flat"] = flat
    data["flat + simulator"] = merge([flat, *rendered], out / "expert_simulator")
    if "flat + jitter" in args.conditions:
        data["flat + jitter"] = jitter(flat, out / "expert_jitter", len(looks))
    data["rendered"] = dict(zip(looks, rendered, strict=True))
    if not transferring:
        return data
    augmented = out / "expert_transfer"
    finished = out / "augment_seconds.txt"  # written last: augment.json grows per episode
    if not finished.exists():
        started = time.time()  # an interrupted augment resumes, and times only the rest
        generator = worldlab.load(model)
        with generator.sampling(hue_guidance=args.hue_guidance):
            augment(generator, flat, augmented, ControlSpec(["edge", "seg"]), looks,
                    run=model, clutter=args.clutter)  # fmt: skip
        finished.write_text(f"{time.time() - started:.1f}\n")
    data["flat + transfer"] = augmented
    if "flat + transfer + jitter" in args.conditions:
        data["flat + transfer + jitter"] = jitter(
            flat, out / "expert_transfer_jitter", len(looks), base=augmented
        )
    return data


def transfer_quality(
    model_run: Path,
    flat: Path,
    rendered: dict[str, Path],
    count: int,
    clutter: bool = True,
    hue_guidance: float = 1.0,
) -> dict:
    """Per target skin: the transfer of ``count`` flat episodes against the simulator's
    (``clutter``: a look's distractors placed in the seg control where the simulator's
    render of the same episode has them; ``hue_guidance``: as ``augment`` ran)."""
    model = worldlab.load(model_run)
    source = EpisodeDataset(flat)
    episodes = [source.episode(i) for i in range(count)]
    frames = np.stack([e["obs"] for e in episodes])
    maps = {"seg": np.stack([e["seg"] for e in episodes])}
    actions = np.stack([e["action"] for e in episodes])
    results = {}
    for skin, folder in rendered.items():
        rendered_data = EpisodeDataset(folder)
        real_episodes = [rendered_data.episode(i) for i in range(count)]
        real = np.stack([e["obs"] for e in real_episodes])
        # A model with a hue input is asked for the palette the simulator drew.
        hue = None
        if model.config.hue_input and all("hue" in e for e in real_episodes):
            hue = np.array([e["hue"][0] for e in real_episodes])
        steering = maps
        if clutter:
            references = np.stack([e["seg"] for e in real_episodes])
            manifest = source.manifest
            steering, _ = placed_maps(maps, skin, manifest.env_id, manifest.seg_classes,
                                      references=references)  # fmt: skip
        with model.sampling(hue_guidance=hue_guidance):
            made = transfer_frames(model, frames, ControlSpec(["edge", "seg"]), skin_id(skin),
                                   steering, actions, hue=hue)  # fmt: skip
        other_episodes = [rendered_data.episode(i) for i in range(count, 2 * count)]
        others = np.stack([e["obs"] for e in other_episodes])
        # A segmenter of the target skin, trained on other episodes than those scored.
        segmenter = quality.fit_segmenter(others, np.stack([e["seg"] for e in other_episodes]), 4)

        def iou(frames_to_read, segmenter=segmenter, truth=steering["seg"]):
            return quality.segmentation_iou(quality.segment(segmenter, frames_to_read), truth, 4)

        results[skin] = {
            "psnr": quality.psnr(real, made),
            "psnr_input": quality.psnr(real, frames),
            "edge_f1": quality.edge_f1(frames, made)["f1"],
            "edge_f1_simulator": quality.edge_f1(frames, real)["f1"],
            "seg_iou": iou(made),
            "seg_iou_input": iou(frames),
            "seg_iou_simulator": iou(real),
            "flicker": quality.flicker(frames, made),
            "flicker_simulator": quality.flicker(frames, real),
            "style_fd": quality.style_distance(
                real, {"transfer": made, "input": frames, "simulator (other episodes)": others}
            ),
        }
    return results


def part_hue(episode: dict, part: int, frame: int) -> float | None:
    """The mean hue (in turns) of the pixels of segmentation class ``part`` in one frame of
    a ``reach`` episode (``None`` where it is hidden)."""
    obs, seg = np.asarray(episode["obs"][frame]), np.asarray(episode["seg"][frame])
    pixels = obs[seg == part]
    if len(pixels) < 3:
        return None
    return colorsys.rgb_to_hsv(*(pixels.mean(0) / 255.0))[0]


def hue_gap(episode: dict, frame: int = 10) -> float | None:
    """Turns of the colour wheel from the target's mean hue to the agent's in one frame of
    a ``reach`` episode (``None`` where either disc is hidden)."""
    agent = part_hue(episode, ReachEnv.AGENT_CLASS, frame)
    target = part_hue(episode, ReachEnv.TARGET_CLASS, frame)
    return None if agent is None or target is None else (agent - target) % 1.0


def turn_apart(hues, reference: float) -> np.ndarray:
    """How far each hue sits from ``reference`` around the wheel, in turns (0–0.5)."""
    return np.abs((np.asarray(hues) - reference + 0.5) % 1.0 - 0.5)


def palettes_kept(flat: Path, augmented: Path, rendered: dict[str, Path]) -> dict:
    """Per look, in the transfer's re-renderings and the simulator's: the share of episodes
    whose agent and target hues sit as far apart as in ``flat`` (within 0.1 of a turn; a hue
    turn keeps that gap, a generator that colours each disc on its own does not), and the
    share whose target is drawn more than 0.1 of a turn from flat's hue at the first frame
    (a look that turns every hue moves it in 80% of its episodes; one that keeps the
    target's flat colour lets a policy go on finding the target by colour), and the share
    whose first-frame target is drawn at the hue the episode was told (the simulator's
    renders: 100%)."""

    def kept(episodes) -> float:
        gaps = [g for g in map(hue_gap, episodes) if g is not None]
        return float((turn_apart(gaps, reference) < 0.1).mean())

    def target_hues(episodes) -> list[float]:
        hues = (part_hue(e, ReachEnv.TARGET_CLASS, 0) for e in episodes)
        return [h for h in hues if h is not None]

    def turned(episodes) -> float:
        return float((turn_apart(target_hues(episodes), flat_target) > 0.1).mean())

    def at_hue(episodes, asked: list[float]) -> tuple[float, list[float]]:
        """Share of episodes told a hue whose first-frame target sits within 0.1 of a turn
        of flat's target turned by it (``nan`` where none was told one), over all of them
        and per fifth of the wheel they were told (``HUE_BINS``)."""
        pairs = [(part_hue(e, ReachEnv.TARGET_CLASS, 0), h)
                 for e, h in zip(episodes, asked, strict=True) if h >= 0]  # fmt: skip
        found = [(turn_apart(seen, (flat_target + h) % 1.0) < 0.1, h)
                 for seen, h in pairs if seen is not None]  # fmt: skip

        def share(hits) -> float:
            return float(np.mean(hits)) if hits else float("nan")

        bins = [share([hit for hit, h in found if int(h * HUE_BINS) == b])
                for b in range(HUE_BINS)]  # fmt: skip
        return share([hit for hit, _ in found]), bins

    def episodes(folder: Path) -> list[dict]:
        data = EpisodeDataset(folder)
        return [data.episode(i) for i in range(len(data))]

    flat_episodes = episodes(flat)
    reference = float(np.median([g for g in map(hue_gap, flat_episodes) if g is not None]))
    flat_target = float(np.median(target_hues(flat_episodes)))
    made = EpisodeDataset(augmented)
    record = read_json(augmented / RECORD, f"{augmented} has no {RECORD}")["episodes"]
    results = {"flat_gap": reference}
    for skin, folder in rendered.items():
        chosen = [(i, p.name) for i, p in enumerate(made.paths) if record[p.name]["style"] == skin]
        mine = [made.episode(i) for i, _ in chosen]
        asked = [record[name].get("hue", -1.0) for _, name in chosen]
        simulated = episodes(folder)
        drawn = [float(e["hue"][0]) if "hue" in e else -1.0 for e in simulated]
        mine_at, mine_bins = at_hue(mine, asked)
        simulator_at, simulator_bins = at_hue(simulated, drawn)
        results[skin] = {
            "transfer": kept(mine), "simulator": kept(simulated),
            "target_turned": {"transfer": turned(mine), "simulator": turned(simulated)},
            "target_at_hue": {"transfer": mine_at, "simulator": simulator_at},
            "target_at_hue_by_turn": {"transfer": mine_bins, "simulator": simulator_bins},
        }  # fmt: skip
    return results


def uses_transfer(args) -> bool:
    """Whether a condition asked for needs the transfer model and its data."""
    return any("transfer" in condition for condition in args.conditions)


def training_looks(args) -> list[str]:
    """The looks other than ``flat`` that the transfer model learns and the augmented data
    is drawn in: the training skins, less those ``--left-out`` (played only)."""
    return [name for name in OTHER_SKINS if name not in args.left_out]


def eval_skins(args) -> tuple[str, ...]:
    """Where policies are played: the training look and the held-out ones (and the other
    training looks with ``--eval-train-skins``)."""
    trained = training_looks(args) if args.eval_train_skins else ()
    return ("flat", *trained, *args.left_out, *HELD_OUT_SKINS, *args.mixed_looks)


def policies(args, out: Path, data: dict) -> list[dict]:
    rows = []
    for condition in args.conditions:
        for seed in args.seeds:
            run = out / "bc" / f"{condition.replace(' + ', '_')}_s{seed}"
            result_file = run / "eval.json"
            if result_file.exists():
                record = json.loads(result_file.read_text())
            else:
                config = ImitationConfig(
                    updates=args.updates, lr=args.lr, seed=seed, encoder=args.encoder
                )
                card = train_bc(data[condition], None, run, config, progress=False)
                record = {"condition": condition, "seed": seed, "skins": {},
                          "transitions": card["training"]["transitions"]}  # fmt: skip
            for skin in eval_skins(args):  # looks asked for since, too
                if skin not in record["skins"]:
                    result = evaluate_imitation(
                        run, args.episodes, EVAL_SEED, STEPS, progress=False,
                        env_kwargs={"skin": skin},
                    )  # fmt: skip
                    record["skins"][skin] = {
                        "success": result["success_rate"], "return": result["mean_return"]
                    }  # fmt: skip
                    result_file.write_text(json.dumps(record, indent=2))
            rows.append(record)
    return rows


def quality_table(quality_rows: dict) -> list[str]:
    """Markdown lines of the transfer quality per target skin (none without a transfer)."""
    if not quality_rows:
        return []
    lines = ["", "Transfer quality (8 flat episodes re-rendered vs the simulator's render):", "",
             "| target skin | PSNR (input) | edge F1 (simulator) | seg IoU (input / simulator) "
             "| flicker (simulator) | style FD: transfer / input / simulator |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    for skin, q in quality_rows.items():
        fd = q["style_fd"]
        lines.append(
            f"| {skin} | {q['psnr']:.2f} ({q['psnr_input']:.2f}) | {q['edge_f1']:.3f} "
            f"({q['edge_f1_simulator']:.3f}) | {q['seg_iou']:.3f} ({q['seg_iou_input']:.3f} / "
            f"{q['seg_iou_simulator']:.3f}) | {q['flicker']:.2f} ({q['flicker_simulator']:.2f}) "
            f"| {fd['transfer']:.1f} / {fd['input']:.1f} / {fd['simulator (other episodes)']:.1f} |"
        )
    return lines


def table(rows: list[dict], quality_rows: dict, palettes: dict, out: Path, args) -> str:
    groups = {
        "flat": ["flat"],
        "train skins": training_looks(args),
        "left-out looks": list(args.left_out),
        "held-out skins": list(HELD_OUT_SKINS),
        "every unseen look": [*args.left_out, *HELD_OUT_SKINS],
    }
    if not args.eval_train_skins:
        del groups["train skins"]
    if not args.left_out:
        del groups["left-out looks"], groups["every unseen look"]
    singles = [*args.left_out, *HELD_OUT_SKINS, *args.mixed_looks]
    headline = "every unseen look" if "every unseen look" in groups else "held-out skins"

    def unseen(condition: str) -> np.ndarray:  # per seed, the headline looks' mean success
        mine = [r for r in rows if r["condition"] == condition]
        return np.array([np.mean([r["skins"][s]["success"] for s in groups[headline]])
                         for r in mine]) * 100  # fmt: skip

    flat_scores = unseen("flat")
    flat_seeds = [r["seed"] for r in rows if r["condition"] == "flat"]
    flat_by_seed = dict(zip(flat_seeds, flat_scores, strict=True))

    def paired_gain(condition: str, scores: np.ndarray) -> str:
        """The mean per-seed difference of ``scores`` (``unseen(condition)``) from flat over
        the seeds both ran, ± its 95% CI: a seed fixes BC's initial weights, which both
        conditions share."""
        seeds = [r["seed"] for r in rows if r["condition"] == condition]
        differences = [v - flat_by_seed[seed] for seed, v in zip(seeds, scores, strict=True)
                       if seed in flat_by_seed]  # fmt: skip
        if len(differences) < 2:
            return "–"
        mean, half = mean_ci(np.array(differences))
        return f"{mean:+.0f} ± {half:.0f} ({len(differences)})"

    lines = [
        f"CPU: {describe_cpu()}; reach {SIZE}×{SIZE} ({args.target_shape} target), "
        f"{args.expert_episodes} expert episodes of "
        f"{args.expert_steps} steps; BC ({args.encoder} encoder) {args.updates} updates at lr "
        f"{args.lr:g}; "
        f"{args.episodes} real episodes of {STEPS} steps per skin and seed; seeds {args.seeds}; "
        "success = reached the target; mean ± 95% CI over seeds.",
        "",
        f"| training data | seeds | transitions | {headline}: gain over flat (Welch) | "
        "paired gain (seeds) | " + " | ".join(groups) + " | " + " | ".join(singles) + " |",
        "|---" * (5 + len(groups) + len(singles)) + "|",
    ]
    for condition in args.conditions:
        mine = [r for r in rows if r["condition"] == condition]
        cells = []
        for skins in [*groups.values(), *[[s] for s in singles]]:
            per_seed = [np.mean([r["skins"][s]["success"] for s in skins]) for r in mine]
            mean, half = mean_ci(np.array(per_seed) * 100)
            cells.append(f"{mean:.0f}% ± {0 if np.isnan(half) else half:.0f}")
        gain, paired = "–", "–"
        if condition != "flat" and len(mine) > 1 and len(flat_scores) > 1:
            scores = unseen(condition)
            difference, half = difference_ci(scores, flat_scores)
            gain, paired = f"{difference:+.0f} ± {half:.0f}", paired_gain(condition, scores)
        lines.append(
            f"| {condition} | {len(mine)} | {mine[0]['transitions']} | {gain} | {paired} | "
            + " | ".join(cells) + " |"
        )  # fmt: skip
    lines += ["", f"Per seed, {headline}:", ""]
    lines += [f"- {condition}: " + " / ".join(f"{v:.0f}" for v in unseen(condition)) + "%"
              for condition in args.conditions]  # fmt: skip
    lines += quality_table(quality_rows)
    if palettes:
        lines += [
            "",
            f"Episodes whose agent and target hues sit {palettes['flat_gap']:.2f} of a "
            "turn apart as in flat (within 0.1), frame 10: transfer / simulator",
            "",
        ]
        looks = {skin: kept for skin, kept in palettes.items() if skin != "flat_gap"}
        lines += [f"- {skin}: {kept['transfer']:.0%} / {kept['simulator']:.0%}"
                  for skin, kept in looks.items()]  # fmt: skip
        lines += ["", "Episodes whose target is drawn more than 0.1 of a turn from flat's hue, "
                  "frame 0: transfer / simulator", ""]  # fmt: skip
        lines += [f"- {skin}: {kept['target_turned']['transfer']:.0%} / "
                  f"{kept['target_turned']['simulator']:.0%}"
                  for skin, kept in looks.items()]  # fmt: skip
        lines += ["", "Episodes whose target is drawn within 0.1 of a turn of the hue it was "
                  "told (flat's target turned by it), frame 0: transfer / simulator",
                  ""]  # fmt: skip
        lines += [f"- {skin}: {kept['target_at_hue']['transfer']:.0%} / "
                  f"{kept['target_at_hue']['simulator']:.0%}"
                  for skin, kept in looks.items() if "target_at_hue" in kept]  # fmt: skip
        edges = [f"{b / HUE_BINS:.1f}–{(b + 1) / HUE_BINS:.1f}" for b in range(HUE_BINS)]
        lines += ["", "The same for the transfer, by the turn it was told (a hue it never "
                  "draws is a palette its data never shows a policy):", "",
                  "| look | " + " | ".join(edges) + " |",
                  "|---" * (1 + HUE_BINS) + "|"]  # fmt: skip
        lines += [f"| {skin} | " + " | ".join(
                      "–" if np.isnan(v) else f"{v:.0%}"
                      for v in kept["target_at_hue_by_turn"]["transfer"]) + " |"
                  for skin, kept in looks.items() if "target_at_hue_by_turn" in kept]  # fmt: skip
    text = "\n".join(lines) + "\n"
    (out / "results.md").write_text(text)
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--model", help="a trained control-conditioned flow run to use")
    parser.add_argument("--model-minutes", type=float, default=25)
    parser.add_argument(
        "--model-updates", type=int, help="train the model this many updates, not minutes "
        "(the same model whatever else shares the cores)",
    )  # fmt: skip
    parser.add_argument("--mix-episodes", type=int, default=400)
    parser.add_argument(
        "--model-set", nargs="+", default=[], metavar="SECTION.FIELD=VALUE",
        help="more overrides for the transfer model's training, as train's --set (e.g. "
        "train.batch_size=64 train.seq_len=8 model.targets_per_window=1: more episodes, and "
        "so more hues, per update at the same cost)",
    )  # fmt: skip
    parser.add_argument(
        "--hue-input", action=argparse.BooleanOptionalAction, default=True,
        help="tell the transfer model each episode's hue turn (model.hue_input)",
    )  # fmt: skip
    parser.add_argument(
        "--hue-map", action=argparse.BooleanOptionalAction, default=False,
        help="also lay the hue over the seg control pixel by pixel (model.hue_map)",
    )  # fmt: skip
    parser.add_argument(
        "--hue-guidance", type=float, default=1.0,
        help="classifier-free guidance on the hue while augmenting (1: none; models with "
        "hue_input)",
    )  # fmt: skip
    parser.add_argument(
        "--first-frame-dropout", type=float, default=0.1,
        help="share of the model's training samples without context (how it starts a video)",
    )  # fmt: skip
    parser.add_argument(
        "--clutter", action=argparse.BooleanOptionalAction, default=True,
        help="give the distractors look its clutter in the seg control (transfer/clutter.py)",
    )  # fmt: skip
    parser.add_argument("--expert-episodes", type=int, default=120)
    parser.add_argument("--expert-steps", type=int, default=20, help="steps per expert episode")
    parser.add_argument("--updates", type=int, default=3000)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument(
        "--encoder", choices=ENCODERS, default="conv",
        help="the BC policy's encoder: conv (how frames look) or keypoints (where things are)",
    )  # fmt: skip
    parser.add_argument("--episodes", type=int, default=30)
    parser.add_argument(
        "--target-shape", choices=ReachEnv.TARGET_SHAPES, default="disc",
        help="ring: the target differs from the agent in shape too, not only in colour",
    )  # fmt: skip
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--eval-train-skins", action="store_true", help="also play in those")
    parser.add_argument(
        "--left-out", nargs="+", choices=OTHER_SKINS, default=[], metavar="SKIN",
        help="training skins no data, model or policy sees; policies are also played in them",
    )  # fmt: skip
    parser.add_argument("--conditions", nargs="+", choices=CONDITIONS, default=list(CONDITIONS))
    parser.add_argument(
        "--mixed-looks", nargs="+", default=[], metavar="SCENE/OBJECTS",
        help="also play in looks mixing two skins (e.g. noise/flat: noise's scene, flat's objects)",
    )  # fmt: skip
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data = prepare(args, out)
    quality_file = out / "quality.json"
    if uses_transfer(args) and not quality_file.exists():
        count = min(8, args.expert_episodes // 2)
        found = transfer_quality(
            data["model"], data["flat"], data["rendered"], count, args.clutter, args.hue_guidance
        )
        quality_file.write_text(json.dumps(found, indent=2))
    quality_rows = json.loads(quality_file.read_text()) if quality_file.exists() else {}
    palettes = {}
    if uses_transfer(args):
        palettes = palettes_kept(data["flat"], data["flat + transfer"], data["rendered"])
    rows = policies(args, out, data)
    record = {"rows": rows, "quality": quality_rows, "palettes": palettes}
    (out / "results.json").write_text(json.dumps(record, indent=2))
    print(table(rows, quality_rows, palettes, out, args))


if __name__ == "__main__":
    main()
