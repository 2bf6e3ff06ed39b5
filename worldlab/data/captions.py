"""Episode captions: ``captions.json`` beside a dataset's episodes.

``{"ep_000003.npz": {"caption": "two balls: …", <attributes>}, …}``: one record per
episode file, written atomically (the whole file) before the episode it describes, so
an interrupted collection never leaves an episode without its caption. Built-in worlds
make them from ground truth (``worldlab.worlds.captions``); imported videos take them
from sidecar files (``worldlab.data.import_video``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from worldlab.data.episode import read_json, write_json
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
