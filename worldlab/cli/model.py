"""``worldlab imagine`` and ``worldlab evaluate`` — use a trained run of any family."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

console = Console()


SAMPLE_HELP = (
    "sampling option of the model NAME=VALUE (repeatable), e.g. sampling_steps=4 for flow; "
    "a wrong name lists the model's options"
)


def _open(run: Path, data: Path):
    import worldlab
    from worldlab.train.setup import check_dataset_fits

    model = worldlab.load(run)
    return model, check_dataset_fits(model.run_config, data)


def _sampling(model, sample: list[str] | None):
    """The model with ``--sample`` settings applied inside the block."""
    from worldlab.config import parse_assignments

    return model.sampling(**parse_assignments(sample, "--sample"))


def imagine(
    run: Path = typer.Argument(..., help="run directory"),
    data: Path = typer.Option(..., help="dataset to take start frames and actions from"),
    out: Path = typer.Option(..., help="output .mp4 or .gif"),
    episode: int = typer.Option(0, help="episode index in --data"),
    context: int = typer.Option(5, min=1, help="real frames the model observes first"),
    horizon: int | None = typer.Option(None, min=1, help="imagined steps (default: rest)"),
    actions: str = typer.Option("dataset", help="dataset, random, or a FILE.npy of actions"),
    seed: int = typer.Option(0),
    sample: list[str] | None = typer.Option(None, help=SAMPLE_HELP),
) -> None:
    """Video of ground truth | imagined | error, open loop after the context frames."""
    from worldlab.evaluate import write_imagination

    model, dataset = _open(run, data)
    with _sampling(model, sample):
        write_imagination(model, dataset.episode(episode), out, context, horizon, actions, seed)
    console.print(f"[green]{out}[/]: episode {episode}, {context} context frames, then imagined")


def generate(
    run: Path = typer.Argument(..., help="run directory"),
    out: Path = typer.Option(..., help="output .mp4 or .gif (NAME.json is written beside it)"),
    frames: int = typer.Option(32, min=1, help="frames to imagine after the prompt"),
    image: Path | None = typer.Option(None, help="image prompt (image2world)"),
    video: Path | None = typer.Option(None, help="video prompt: its last --context frames"),
    prompt: str | None = typer.Option(
        None, help='text prompt (text2world; with --image/--video too): "two balls: ..."'
    ),
    context: int = typer.Option(4, min=1, help="prompt frames the model observes"),
    actions: str = typer.Option("random", help="random, null, or a FILE.npy of actions"),
    seed: int = typer.Option(0),
    sample: list[str] | None = typer.Option(None, help=SAMPLE_HELP),
) -> None:
    """Start a world from a text, an image or a video prompt and imagine it onward."""
    from worldlab.config import parse_assignments
    from worldlab.evaluate.generate import write_generation

    record = write_generation(
        run, out, frames, image, video, context, actions, seed,
        parse_assignments(sample, "--sample"), text=prompt,
    )  # fmt: skip
    given = record["prompt"]
    source = f'the text "{prompt}"' if prompt is not None else ""
    if given["file"] is not None:
        source = f"{given['context_frames']} frames of {given['file']}" + (
            f" and {source}" if source else ""
        )
    console.print(
        f"[green]{out}[/]: a {given['type']} prompt ({source}), then {frames} imagined "
        f"({actions} actions); {Path(out).with_suffix('.json')}"
    )


def evaluate(
    run: Path = typer.Argument(..., help="run directory"),
    data: Path = typer.Option(..., help="held-out dataset"),
    out: Path = typer.Option(..., help="report .json (a .png plot is written beside it)"),
    horizon: int = typer.Option(15, min=1),
    context: int = typer.Option(5, min=1),
    episodes: int | None = typer.Option(None, min=1, help="evaluate the first N episodes"),
    starts: int = typer.Option(4, min=1, help="windows per episode"),
    seed: int = typer.Option(0),
    controllability: bool = typer.Option(
        True, help="also measure ΔtPSNR: inferred vs random actions (Genie)"
    ),
    delta_t: int = typer.Option(4, min=1, help="steps ahead at which ΔtPSNR is measured"),
    section: list[str] | None = typer.Option(
        None,
        help="compute only these sections (controllability, physics, perceptual); default: "
        "every one that applies (physics on bounce data, perceptual when weights are given)",
    ),
    html: bool = typer.Option(True, help="also write an HTML page beside the JSON (OUT.html)"),
    sample: list[str] | None = typer.Option(None, help=SAMPLE_HELP),
) -> None:
    """Open-loop PSNR/SSIM per horizon step against repeat-last and mean-frame baselines,
    controllability (ΔtPSNR), and physics on bounce data with its true state."""
    from worldlab.evaluate import evaluate_run, save_report, write_html_report

    model, dataset = _open(run, data)
    with _sampling(model, sample):
        report = evaluate_run(
            model,
            dataset,
            horizon,
            context,
            episodes,
            starts,
            seed,
            controllability=controllability,
            delta_t=delta_t,
            sections=section or None,
        )
        report["sampling"] = model.sampling_settings()
    json_path, png_path = save_report(report, out)
    print_summary(report)
    written = f"[green]{json_path}[/] and [green]{png_path}[/]"
    if html:
        config = {"run": str(run), "data": str(data), "horizon": horizon, "context": context}
        config |= {"episodes": episodes, "starts": starts, "seed": seed}
        config |= {"sampling": report["sampling"]}
        page = write_html_report(
            json_path.parent, report, [], png_path, config, {}, name=f"{json_path.stem}.html"
        )
        written += f" and [green]{page}[/]"
    console.print(written)


def print_summary(report: dict) -> None:
    table = Table(title=f"open-loop PSNR (dB) over {report['windows']} windows")
    for column in ("horizon", "model", "repeat_last", "mean_frame", "beats both"):
        table.add_column(column, justify="right")
    model = report["model"]["psnr"]
    last = report["baselines"]["repeat_last"]["psnr"]
    mean = report["baselines"]["mean_frame"]["psnr"]
    beats = report["summary"]["beats_best_baseline_at"]
    for k in range(report["horizon"]):
        table.add_row(
            str(k + 1),
            f"{model[k]:.2f}",
            f"{last[k]:.2f}",
            f"{mean[k]:.2f}",
            "yes" if beats[k] else "[red]no[/]",
        )
    console.print(table)
    from worldlab.evaluate.sections import all_sections

    for section in all_sections():
        if section.key in report:
            for line in section.lines(report[section.key]):
                console.print(line, soft_wrap=True)


def map_actions(
    run: Path = typer.Argument(..., help="run directory of a latent-action model (e.g. genie)"),
    data: Path = typer.Option(..., help="labelled dataset of the same world (with actions)"),
    episodes: int | None = typer.Option(None, min=1, help="use the first K episodes"),
) -> None:
    """Map the model's latent actions to real ones; writes RUN/action_map.json, which
    `worldlab play` and `with_real_actions` use to take real actions."""
    import worldlab
    from worldlab.data import EpisodeDataset
    from worldlab.evaluate.action_map import ACTION_MAP_NAME, fit_action_map

    action_map = fit_action_map(worldlab.load(run), EpisodeDataset(data), episodes)
    path = action_map.save(run / ACTION_MAP_NAME)
    metrics = action_map.metrics
    split = (
        f"fitted on {metrics['episodes_fit']} episodes, scored on {metrics['episodes_scored']} "
        f"held-out episodes ({metrics['transitions_scored']} transitions)"
        if metrics["held_out"]
        else f"fitted and scored on the same episode ({metrics['transitions_scored']} "
        "transitions): use more episodes for an honest score"
    )
    if "accuracy" in metrics:
        score = (
            f"accuracy {metrics['accuracy']:.3f} vs chance {metrics['chance']:.3f} "
            f"(most common real action)"
        )
    else:
        r2 = "–" if metrics["r2"] is None else f"{metrics['r2']:.3f}"
        score = (
            f"R² {r2}, mean error {metrics['mae']:.3f} vs {metrics['chance_mae']:.3f} (mean action)"
        )
    console.print(f"latent → real: {score}", soft_wrap=True)
    console.print(
        f"{metrics['codes_used']} of {action_map.codes} codes used; {split}", soft_wrap=True
    )
    console.print(f"[green]{path}[/]")
