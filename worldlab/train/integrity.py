"""Checkpoint integrity: every file of a checkpoint is recorded, with its size and SHA-256.

``meta.json`` lists each file the checkpoint holds (weights, trainer state, anything a
caller writes beside them) and carries a checksum of its own record, so a flipped bit
anywhere, meta.json included, is caught and named::

    {"step": 200, "files": {"model.safetensors": {"bytes": 1234, "sha256": "…"}, …},
     "record_sha256": "…"}

Checkpoints written before checksums were recorded hold ``{"step": N}`` only: they
are "unverified" and still load. Anything else that fails the record is "damaged".
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

META = "meta.json"
GOOD, DAMAGED, UNVERIFIED = "good", "damaged", "unverified"


def sha256_of(path: Path) -> str:
    with open(path, "rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def _record_digest(meta: dict) -> str:
    """Checksum of the record without its own checksum (keys sorted: one canonical text)."""
    body = {key: value for key, value in meta.items() if key != "record_sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def write_meta(directory: Path, step: int) -> None:
    """Record every file now in ``directory`` (before it is renamed into place)."""
    files = {
        path.name: {"bytes": path.stat().st_size, "sha256": sha256_of(path)}
        for path in sorted(directory.iterdir())
        if path.is_file() and path.name != META
    }
    meta = {"step": step, "files": files}
    meta["record_sha256"] = _record_digest(meta)
    (directory / META).write_text(json.dumps(meta, indent=1) + "\n")


@dataclass
class Verdict:
    """What verifying one checkpoint directory found."""

    path: Path
    state: str  # GOOD, DAMAGED or UNVERIFIED
    problems: list[str] = field(default_factory=list)  # one line per failing file
    files: int = 0  # files verified
    bytes: int = 0

    @property
    def incomplete(self) -> bool:
        """Damaged only by missing files (e.g. deleted by hand)."""
        return bool(self.problems) and all(p.endswith(" is missing") for p in self.problems)

    def message(self) -> str:
        """``checkpoint PATH is damaged: model.safetensors fails its checksum (…)``."""
        kind = "incomplete" if self.incomplete else "damaged"
        return f"checkpoint {self.path} is {kind}: " + "; ".join(self.problems)


def _short(digest: str) -> str:
    return digest[:12] + "…"


def verify(directory: Path) -> Verdict:
    """Check every file of a checkpoint against its record; read nothing else."""
    directory = Path(directory)
    meta_path = directory / META
    if not meta_path.is_file():
        return Verdict(directory, DAMAGED, [f"{META} is missing"])
    try:
        meta = json.loads(meta_path.read_bytes())
    except (ValueError, UnicodeDecodeError) as error:
        return Verdict(directory, DAMAGED, [f"{META} cannot be read ({error})"])
    if not isinstance(meta, dict):
        return Verdict(directory, DAMAGED, [f"{META} is not a checkpoint record"])
    # Exactly the old record: anything else without a valid checksum is damage, not age.
    if set(meta) == {"step"} and isinstance(meta["step"], int):
        return Verdict(directory, UNVERIFIED)
    if meta.get("record_sha256") != _record_digest(meta):
        return Verdict(directory, DAMAGED, [f"{META} fails its checksum"])
    verdict = Verdict(directory, GOOD)
    for name, expected in meta["files"].items():
        path = directory / name
        if not path.is_file():
            verdict.problems.append(f"{name} is missing")
            continue
        size = path.stat().st_size
        if size != expected["bytes"]:
            verdict.problems.append(f"{name} has {size:,} bytes, expected {expected['bytes']:,}")
            continue
        digest = sha256_of(path)
        if digest != expected["sha256"]:
            verdict.problems.append(
                f"{name} fails its checksum "
                f"(sha256 {_short(digest)}, expected {_short(expected['sha256'])})"
            )
            continue
        verdict.files += 1
        verdict.bytes += size
    if verdict.problems:
        verdict.state = DAMAGED
    return verdict
