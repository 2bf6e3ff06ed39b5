"""Directories users name for output: checked before any work starts."""

from __future__ import annotations

from pathlib import Path

from worldlab.errors import WorldlabError, explain_os_error

# Written into a run directory by `worldlab bench planning-horizon`, read by the leaderboard.
PLANNING_HORIZON_FILE = "planning_horizon.json"


def output_dir(path: str | Path, what: str) -> Path:
    """Create (or reuse) directory ``path`` to write ``what`` into; a clear error when it is
    a file, sits under a file, or cannot be created."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise WorldlabError(
            f"{path} is a file, not a directory: give a directory for the {what} "
            "(it is created if missing), or move the file away"
        )
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise WorldlabError(
            f"cannot create the {what} directory: {explain_os_error(error)}"
        ) from None
    return path
