"""``worldlab transfer`` and ``worldlab augment``: control transfer from the command line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import typer
from rich.console import Console

from worldlab.errors import WorldlabError

console = Console()
SAMPLE_HELP = "sampling setting NAME=VALUE of the model (repeatable), e.g. sampling_steps=4"


def _spec(controls: str, weights: str | None, weight_maps: list[str] | None):
    from worldlab.transfer import ControlSpec

    names = [name.strip() for name in controls.split(",") if name.strip()]
    try:
        values = None if weights is None else [float(w) for w in weights.split(",")]
    except ValueError:
        raise WorldlabError(
            f"--weights must be numbers separated by commas, got '{weights}'"
        ) from None
    spatial = {}
    for item in weight_maps or []:
        name, _, file = item.partition("=")
        if not file:
            raise WorldlabError(f"--weight-map takes CONTROL=FILE.npy, got '{item}'")
        try:
            spatial[name] = np.load(file)
        except (OSError, ValueError) as error:
            raise WorldlabError(f"cannot read the weight map {file}: {error}") from None
    return ControlSpec(names, values, spatial)


def transfer(
    run: Path = typer.Argument(..., help="run of a flow model trained with model.controls"),
    input: Path = typer.Option(..., "--input", help="a video file or a dataset directory"),
    out: Path = typer.Option(..., help="output .mp4 or .gif (NAME.json is written beside it)"),
    style: str = typer.Option(..., help="target style: a skin the model learned"),
    controls: str = typer.Option("edge", help="controls, comma-separated: edge, blur, seg, depth"),
    weights: str | None = typer.Option(None, help="one weight per control, e.g. 0.7,0.3"),
    weight_map: list[str] | None = typer.Option(
        None, help="CONTROL=FILE.npy: a spatial weight map [H, W] or [T, H, W] (repeatable)"
    ),
    episodes: int = typer.Option(4, min=1, help="episodes of a dataset input"),
    frames: int | None = typer.Option(None, min=1, help="cut to this many frames"),
    reference: Path | None = typer.Option(
        None, help="the same episodes rendered in the target style: PSNR and style distance"
    ),
    seed: int = typer.Option(0),
    sample: list[str] | None = typer.Option(None, help=SAMPLE_HELP),
    hue: float | None = typer.Option(
        None, help="objects' hue turn in [0, 1] (models trained with model.hue_input)"
    ),
    clutter: bool = typer.Option(
        True, help="styles with distractors get them in the seg control (see docs/transfer.md)"
    ),
) -> None:
    """Re-render a video or episodes in another style, keeping their structure."""
    from worldlab.config import parse_assignments
    from worldlab.transfer import transfer as run_transfer

    record = run_transfer(
        run, input, out, _spec(controls, weights, weight_map), style, episodes, frames,
        reference, seed, parse_assignments(sample, "--sample"), hue=hue, clutter=clutter,
    )  # fmt: skip
    measures = record["measures"]
    line = (
        f"[green]{out}[/]: {record['episodes']} × {record['frames']} frames in style "
        f"'{style}'; edge F1 {measures['edge']['f1']:.3f}, flicker {measures['flicker']:.2f}"
    )
    if "psnr" in measures:
        fd = measures["style_fd"]
        line += (
            f"; PSNR vs the simulator's render {measures['psnr']:.2f} dB (input: "
            f"{measures['psnr_input']:.2f}); style FD {fd['output']:.1f} (input: {fd['input']:.1f})"
        )
    if "seg_iou" in measures:
        iou = measures["seg_iou"]
        line += (
            f"; segmentation IoU {iou['output']:.3f} (input: {iou['input']:.3f}, "
            f"reference: {iou['reference']:.3f})"
        )
    console.print(line)


def augment(
    data: Path = typer.Argument(..., help="dataset to multiply"),
    run: Path = typer.Option(..., help="run of a flow model trained with model.controls"),
    out: Path = typer.Option(..., help="output dataset (a rerun makes only missing episodes)"),
    controls: str = typer.Option("edge", help="controls, comma-separated: edge, blur, seg, depth"),
    weights: str | None = typer.Option(None, help="one weight per control"),
    styles: str = typer.Option(
        "1", help="a count N (styles drawn per episode from those the model learned) or names"
    ),
    keep_original: bool = typer.Option(True, help="also copy the source episodes"),
    batch_size: int = typer.Option(16, min=1, help="episodes re-rendered at once"),
    seed: int = typer.Option(0),
    sample: list[str] | None = typer.Option(None, help=SAMPLE_HELP),
    clutter: bool = typer.Option(
        True, help="styles with distractors get them in the seg control (see docs/transfer.md)"
    ),
) -> None:
    """Write a dataset N times larger: every episode re-rendered in N other styles."""
    import worldlab
    from worldlab.config import parse_assignments
    from worldlab.transfer import augment as run_augment

    chosen: int | list[str] = int(styles) if styles.isdigit() else styles.split(",")
    model = worldlab.load(run)
    with model.sampling(**parse_assignments(sample, "--sample")):
        record = run_augment(
            model, data, out, _spec(controls, weights, None), chosen, run, keep_original,
            batch_size, seed, clutter=clutter,
        )  # fmt: skip
    made = sum(not e["original"] for e in record["episodes"].values())
    console.print(
        f"[green]{out}[/]: {len(record['episodes'])} episodes ({made} re-rendered in "
        f"{len({e['style'] for e in record['episodes'].values() if not e['original']})} "
        f"styles); {out / 'augment.json'}"
    )
