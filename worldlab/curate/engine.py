"""Where the stages run: a Ray Data pipeline (local or on a cluster), or a plain loop.

Ray Data streams the files through ``flat_map(SplitVideo)`` → ``flat_map(TranscodeShot)``
(one CPU each: they drive ffmpeg) → ``map(MeasureClip)`` on an actor pool, the shape of
cosmos-curate's read → split → transcode → write template. The loop runs the same row
functions one file after another, in one process: the baseline the Ray throughput is
measured against, and the engine for machines without Ray.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from worldlab.curate.config import CurateConfig
from worldlab.curate.stages import MeasureClip, SplitVideo, TranscodeShot, pack, unpack
from worldlab.errors import WorldlabError

ENGINES = ("ray", "local")


def run_local(files: list[dict], config: CurateConfig, staging: str) -> Iterator[dict]:
    split = SplitVideo(config.to_dict(), staging)
    transcode = TranscodeShot(config.to_dict(), staging)
    score = MeasureClip()
    for file in files:
        for shot in split(pack(file)):
            for clip in transcode(shot):
                yield unpack(score(clip))


@contextlib.contextmanager
def ray_session(workers: int | None = None, address: str | None = None):
    """Join the Ray cluster at ``address`` (any cluster: ``auto``, ``ray://head:10001``), or
    start a local Ray with ``workers`` CPUs (all of them without it) and shut it down after;
    a Ray already initialised in this process is used as it is."""
    ray = _import_ray()
    started = not ray.is_initialized()
    if started:
        options = {"address": address} if address else {"num_cpus": workers}
        ray.init(
            **options, include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False
        )
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()


def run_ray(
    files: list[dict], config: CurateConfig, staging: str, workers: int | None = None
) -> Iterator[dict]:
    """Stream the items out of a Ray Data pipeline (inside ``ray_session``)."""
    import ray
    import ray.data

    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False  # worldlab shows its own bar
    # Ray Data holds back part of the CPUs for each operator; the measuring actors need none,
    # so the reservation only idles CPUs the decoding tasks could use (measured: 1.5 → 2 busy).
    context.op_resource_reservation_enabled = False
    logging.getLogger("ray.data").setLevel(logging.ERROR)
    settings = config.to_dict()
    pool = max(1, int(workers or ray.cluster_resources().get("CPU", 1)))
    dataset = (
        ray.data.from_items([pack(file) for file in files], override_num_blocks=len(files))
        .flat_map(_split, fn_args=(settings, staging), num_cpus=1)
        .flat_map(_transcode, fn_args=(settings, staging), num_cpus=1)
        # Measuring is light next to decoding: its actors reserve no CPU, so that they can
        # never hold the CPUs the transcoding tasks wait for (with one CPU they would).
        .map(MeasureClip, num_cpus=0,
             compute=ray.data.ActorPoolStrategy(min_size=1, max_size=pool))
    )  # fmt: skip
    for row in dataset.iter_rows():
        yield unpack(row)


def _split(row: dict, settings: dict, staging: str) -> list[dict]:
    return SplitVideo(settings, staging)(row)


def _transcode(row: dict, settings: dict, staging: str) -> list[dict]:
    return TranscodeShot(settings, staging)(row)


def _import_ray():
    try:
        import ray
    except ImportError:
        raise WorldlabError(
            "--engine ray needs Ray Data: pip install 'worldlab[curate]' "
            "(or run with --engine local, one process)"
        ) from None
    return ray
