"""Episode captions: ``captions.json`` beside a dataset's episodes.

``{"ep_000003.npz": {"caption": "two balls: …", <attributes>}, …}``: one record per
episode file, written atomically (the whole file) before the episode it describes, so
an interrupted collection never leaves an episode without its caption. Built-in worlds
make them from ground truth (``worldlab.worlds.captions``); imported videos take them
from sidecar files (``worldlab.data.import_video``).

``embed_captions`` writes each caption's text embedding into its episode as a per-step
array ``text [L, D] float16`` (what a text-conditioned model trains on; episodes without
a caption get zeros, read as "no text"), and names the encoder in the manifest.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from worldlab.data.episode import read_episode, read_json, write_episode, write_json
from worldlab.errors import DatasetError

CAPTIONS_NAME = "captions.json"


def read_captions(root: str | Path) -> dict[str, dict[str, Any]]:
    """Every caption record of the dataset at ``root`` (empty without captions.json)."""
    path = Path(root) / CAPTIONS_NAME
    if not path.exists():
        return {}
    return read_json(
        path,
        f"{path} does not exist",
        "delete it and rerun the collection or import into the same directory to remake it",
        error=DatasetError,
    )


def add_caption(root: str | Path, filename: str, record: dict[str, Any]) -> None:
    """Set the record of episode file ``filename`` (a ``caption`` and its attributes)."""
    if not isinstance(record.get("caption"), str):
        raise DatasetError(f"a caption record needs a 'caption' string, got {record!r}")
    captions = read_captions(root)
    captions[filename] = record
    write_json(Path(root) / CAPTIONS_NAME, captions)


def embed_captions(
    root: str | Path,
    encode: Callable[[list[str]], np.ndarray],
    encoder: str,
    progress: bool = True,
) -> int:
    """Write ``text [L, D] float16`` (``encode``'s embedding of the episode's caption,
    repeated per step) into every episode of ``root``; return how many were written.

    Episodes that already hold an embedding by ``encoder`` are left alone, so a rerun
    after an interruption finishes the rest. Re-embedding with another encoder rewrites
    all of them.
    """
    from worldlab.data.dataset import EpisodeDataset  # dataset.py imports this module
    from worldlab.progress import progress_bar

    root = Path(root)
    dataset = EpisodeDataset(root)
    captions = read_captions(root)
    if not captions:
        raise DatasetError(
            f"{root} has no captions.json: collect a built-in world (bounce, platformer) or "
            "import videos with caption sidecars first"
        )
    names = [path.name for path in dataset.paths]
    texts = [captions.get(name, {}).get("caption", "") for name in names]
    vectors = np.asarray(encode([t or " " for t in texts]), np.float32)
    vectors[[not t for t in texts]] = 0.0  # no caption: no text
    manifest = dataset.manifest
    if manifest.text_encoder != encoder or manifest.text_dims != vectors.shape[1]:
        manifest.text_encoder, manifest.text_dims = encoder, int(vectors.shape[1])
        stale = set(names)
    else:
        stale = {name for name in names if "text" not in read_episode(root / name)}
    written = 0
    with progress_bar(enabled=progress) as bar:
        task = bar.add_task("embed captions", total=len(stale), unit="episodes")
        for name, vector in zip(names, vectors, strict=True):
            if name not in stale:
                continue
            arrays = dict(read_episode(root / name, mmap=False))
            arrays["text"] = np.repeat(vector[None].astype(np.float16), len(arrays["obs"]), 0)
            write_episode(root / name, arrays)
            written += 1
            bar.advance(task)
    manifest.save(root)
    return written
