"""``worldlab demo``: the whole flow on the built-in ``bounce`` world, on a laptop CPU.

collect train and held-out episodes → train an RSSM (the same ``rssm`` family users
get, at the ``demo`` size) under a time budget → evaluate open loop against the
baselines → write imagination videos and ``report.html``. Rerunning into the same
directory keeps what is there: missing episodes are collected, a trained run is
resumed (its time budget is counted across runs), and the report is rewritten.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from worldlab.data import EpisodeDataset, collect
from worldlab.train.checkpoint import checkpoint_dirs


@dataclass
class DemoSettings:
    image_size: int = 32
    # One ball under gravity, not pushed: the setting where a few minutes of CPU training
    # track the ball for the whole 15-step horizon (harder settings: README).
    env_kwargs: dict[str, Any] = field(
        default_factory=lambda: {"num_balls": 1, "radius_range": [0.15, 0.2], "controllable": False}
    )
    train_episodes: int = 500
    val_episodes: int = 40  # held out for stopping early; the report scores the test episodes
    test_episodes: int = 40
    episode_steps: int = 100
    preset: str = "demo"
    # Sized on a slow 2-core AVX2 CPU in fp32: the demo preset at half its widths, short
    # sequences, and early stopping on held-out episodes make the bar hold after about
    # 1,000 updates (about 4 minutes there, 1.5 here); a faster machine only finishes sooner.
    train: dict[str, Any] = field(
        default_factory=lambda: {
            "train.batch_size": 16,
            "train.seq_len": 16,
            "model.deter": 128,
            "model.hidden": 128,
            "model.cnn_depth": 8,
            "model.lr": 2e-3,  # paper: 1e-4; 20× learns this small world within minutes
            "train.steps": 3_000,
            "train.max_minutes": 4.25,  # the cap on a very slow machine
            "train.checkpoint_every": 250,
        }
    )
    # Stop once the bar holds on the validation episodes by this margin (dB) at every
    # horizon, checked every check_every steps from check_from on (None: never stop early).
    stop_margin: float | None = 0.75
    check_from: int = 500
    check_every: int = 100
    horizon: int = 15
    context: int = 5
    videos: int = 3


def bar_margins(report: dict[str, Any]) -> list[float]:
    """Per horizon step: the model's PSNR minus the best trivial baseline's (dB)."""
    baselines = [report["baselines"][name]["psnr"] for name in report["baselines"]]
    best = [max(values) for values in zip(*baselines, strict=True)]
    return [model - base for model, base in zip(report["model"]["psnr"], best, strict=True)]


def verdict(report: dict[str, Any]) -> tuple[bool, str]:
    """Whether the demo's bar holds (beat every baseline at every horizon), in words."""
    margins = bar_margins(report)
    failed = [k + 1 for k, margin in enumerate(margins) if margin <= 0]
    if not failed:
        return True, (
            f"The bar holds: the model beats both baselines at all {len(margins)} horizons "
            f"(smallest margin {min(margins):+.2f} dB)."
        )
    return False, (
        f"The bar does NOT hold: the model is behind the best baseline at horizon(s) "
        f"{', '.join(map(str, failed))} (worst margin {min(margins):+.2f} dB). "
        "Train longer with `worldlab demo --steps N`."
    )


class _StopWhenHeldOut:
    """``stop_when`` for the trainer: the bar, scored on the validation episodes."""

    def __init__(self, settings: DemoSettings, data: Path):
        self.settings, self.data = settings, data
        self.checks: list[dict[str, float]] = []
        self._mean_frame = None

    def __call__(self, trainer) -> str | None:
        from worldlab.evaluate.open_loop import evaluate_open_loop, mean_dataset_frame

        s = self.settings
        if s.stop_margin is None or trainer.step < s.check_from:
            return None
        if self._mean_frame is None:
            self._mean_frame = mean_dataset_frame(EpisodeDataset(self.data / "train"))
        report = evaluate_open_loop(  # puts the model in eval mode and back
            trainer.model,
            EpisodeDataset(self.data / "val"),
            s.horizon,
            s.context,
            mean_frame=self._mean_frame,
            progress=False,
        )
        margin = min(bar_margins(report))
        self.checks.append({"step": trainer.step, "validation_margin": round(margin, 3)})
        if margin >= s.stop_margin:
            return (
                f"the bar holds on the validation episodes at step {trainer.step} "
                f"(smallest margin {margin:+.2f} dB ≥ {s.stop_margin})"
            )
        return None


def run_demo(
    out: str | Path, settings: DemoSettings | None = None, progress: bool = True
) -> dict[str, Any]:
    """Run the demo into ``out``; returns the evaluation report (also ``out/report.json``)."""
    from worldlab.evaluate import evaluate_run, save_report, write_html_report, write_imagination
    from worldlab.train import load, train

    settings = settings or DemoSettings()
    out = Path(out)
    timings: dict[str, float] = {}

    started = time.perf_counter()
    for split, episodes, seed in (
        ("train", settings.train_episodes, 0),
        ("test", settings.test_episodes, 10_000),
        ("val", settings.val_episodes, 20_000),
    ):
        collect(
            "bounce",
            out / "data" / split,
            episodes,
            max_steps=settings.episode_steps,
            seed=seed,
            size=settings.image_size,
            env_kwargs=settings.env_kwargs,
            progress=progress,
        )
    timings["collect"] = time.perf_counter() - started

    started = time.perf_counter()
    run = out / "run"
    resume = bool(checkpoint_dirs(run))
    stop = _StopWhenHeldOut(settings, out / "data")
    summary = train(
        "rssm",
        out / "data" / "train",
        run,
        None if resume else settings.preset,
        {} if resume else settings.train,
        resume=resume,
        progress=progress,
        stop_when=stop,
        check_every=settings.check_every,
    )
    timings["train"] = time.perf_counter() - started

    started = time.perf_counter()
    model = load(run)
    test = EpisodeDataset(out / "data" / "test")
    report = evaluate_run(model, test, settings.horizon, settings.context, progress=progress)
    holds, words = verdict(report)
    training = {
        "updates": summary["step"],
        "steps_per_second": round(summary["steps_per_second"], 2),
        "precision": summary["precision"],
        "precision_reason": summary["reason"],
        "cpu": summary["cpu"],
        "stopped": summary["stopped"] or f"step budget of {summary['step']} reached",
        "validation_checks": stop.checks,
    }
    report["demo"] = {"bar_holds": holds, "verdict": words, "training": training}
    json_path, png_path = save_report(report, out / "report.json")
    timings["evaluate"] = time.perf_counter() - started

    started = time.perf_counter()
    videos = []
    for index in range(min(settings.videos, len(test))):
        path = write_imagination(
            model,
            test.episode(index),
            out / "media" / f"imagine_{index}.gif",
            context=settings.context,
            horizon=settings.horizon * 2,
        )
        videos.append((f"held-out episode {index}: real | imagined | error", str(path)))
    timings["videos"] = time.perf_counter() - started

    notes = (
        f"{words} bounce world {settings.env_kwargs} at "
        f"{settings.image_size}×{settings.image_size}, {settings.train_episodes} training, "
        f"{settings.val_episodes} validation and {settings.test_episodes} test episodes of "
        f"{settings.episode_steps} steps. rssm preset '{model.run_config['preset']}' "
        f"({sum(p.numel() for p in model.parameters()):,} parameters) trained for "
        f"{summary['step']} updates in {training['precision']} ({training['precision_reason']}; "
        f"CPU {training['cpu']}) at {training['steps_per_second']:.2f} steps/s this run; "
        f"stopped: {training['stopped']}. The model observes {settings.context} real frames "
        "of each test window, then imagines open loop under the recorded actions."
    )
    config = {"demo": asdict(settings), "run": model.run_config}
    write_html_report(out, report, videos, png_path, config, timings, notes)
    return report
