"""The episode file: one ``.npz`` per episode, written atomically, read by memory map.

Arrays, all of length ``L`` = number of observations (steps + 1), aligned the
way Dreamer aligns them — index ``t`` holds what arrived with observation ``t``:

- ``obs``        ``[L, H, W, C] uint8``  frames, channel-last
- ``action``     ``[L] int64`` or ``[L, D] float32``  the action that led *to* obs t
                 (``action[0]`` is zero: nothing led to the first frame)
- ``reward``     ``[L] float32``  reward received on arriving at obs t (``reward[0] = 0``)
- ``terminated`` ``[L] bool``  obs t is terminal (only the last can be)
- ``truncated``  ``[L] bool``  the episode was cut after obs t (time limit)
- ``state``      ``[L, S] float32``  optional ground-truth state

Members are stored uncompressed so that a reader can memory-map each array
and slice a subsequence without reading the rest of the file.
"""

from __future__ import annotations

import json
import os
import struct
import zipfile
from pathlib import Path

import numpy as np

from worldlab.errors import CorruptEpisodeError

REQUIRED_KEYS = ("obs", "action", "reward", "terminated", "truncated")
EPISODE_GLOB = "ep_*.npz"


def episode_filename(index: int) -> str:
    return f"ep_{index:06d}.npz"


def atomic_write_bytes(path: Path, writer) -> None:
    """Call ``writer(file)`` on a hidden temp file, fsync it, then rename it onto ``path``.

    A reader never sees a half-written file: before the rename there is no
    ``path``; after it, the whole file.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as file:
            writer(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_json(path: Path, record: dict) -> None:
    """Write ``record`` as indented JSON, atomically (configs, agent cards, results)."""
    text = json.dumps(record, indent=2) + "\n"
    atomic_write_bytes(Path(path), lambda file: file.write(text.encode()))


def read_json(
    path: Path, missing: str, corrupt: str = "delete or restore it", error: type | None = None
) -> dict:
    """Read a JSON object from ``path``. A missing file raises ``error(missing)``; one that
    is not a JSON object (binary junk, a truncated write, a directory) raises ``error``
    naming the file, followed by ``corrupt``: what to do about it."""
    from worldlab.errors import WorldlabError

    error = error or WorldlabError
    path = Path(path)
    if not path.exists():
        raise error(missing)
    try:
        record = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError:
        raise error(f"{path} is corrupt: it holds binary data, not JSON text; {corrupt}") from None
    except json.JSONDecodeError as problem:
        raise error(f"{path} is corrupt: not valid JSON ({problem}); {corrupt}") from None
    except IsADirectoryError:
        raise error(f"{path} is a directory, not a JSON file; {corrupt}") from None
    if not isinstance(record, dict):
        raise error(
            f"{path} is corrupt: it holds a JSON {type(record).__name__}, not an object; {corrupt}"
        )
    return record


def write_episode(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Validate and atomically write one episode."""
    check_episode(arrays, name=str(path))
    atomic_write_bytes(Path(path), lambda file: np.savez(file, **arrays))


def check_episode(arrays: dict[str, np.ndarray], name: str = "episode") -> int:
    """Raise ``CorruptEpisodeError`` unless the arrays form a valid episode; return its length."""
    missing = [key for key in REQUIRED_KEYS if key not in arrays]
    if missing:
        raise CorruptEpisodeError(f"{name}: missing arrays {missing}")
    length = len(arrays["obs"])
    if length < 1:
        raise CorruptEpisodeError(f"{name}: holds no observation")
    obs = arrays["obs"]
    if obs.dtype != np.uint8 or obs.ndim != 4:
        raise CorruptEpisodeError(
            f"{name}: obs must be [L, H, W, C] uint8, got {list(obs.shape)} {obs.dtype}"
        )
    for key, array in arrays.items():
        if len(array) != length:
            raise CorruptEpisodeError(f"{name}: '{key}' has length {len(array)}, obs has {length}")
    return length


def read_episode(path: Path, mmap: bool = True) -> dict[str, np.ndarray]:
    """Open an episode; arrays are read-only memory maps unless ``mmap=False``.

    Raises ``CorruptEpisodeError`` naming the file when it cannot be read.
    """
    path = Path(path)
    try:
        arrays = _memmap_npz(path) if mmap else dict(np.load(path))
    except (OSError, ValueError, zipfile.BadZipFile, struct.error, EOFError) as error:
        raise CorruptEpisodeError(f"{path}: cannot be read ({error})") from None
    check_episode(arrays, name=str(path))
    return arrays


def validate_episode_file(path: Path) -> int:
    """Read every byte of an episode (CRCs included); return its length or raise."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
        if bad is not None:
            raise CorruptEpisodeError(f"{path}: member '{bad}' fails its checksum")
    except (OSError, zipfile.BadZipFile, EOFError) as error:
        raise CorruptEpisodeError(f"{path}: cannot be read ({error})") from None
    return check_episode(read_episode(path), name=str(path))


def _memmap_npz(path: Path) -> dict[str, np.ndarray]:
    """Memory-map each stored (uncompressed) member of an ``.npz``; load compressed ones."""
    arrays: dict[str, np.ndarray] = {}
    with zipfile.ZipFile(path) as archive, open(path, "rb") as file:
        for info in archive.infolist():
            key = info.filename.removesuffix(".npy")
            if info.compress_type != zipfile.ZIP_STORED:
                with archive.open(info) as member:
                    arrays[key] = np.lib.format.read_array(member)
                continue
            file.seek(info.header_offset)
            header = file.read(30)
            if header[:4] != b"PK\x03\x04":
                raise ValueError(f"bad local header for member '{info.filename}'")
            name_length, extra_length = struct.unpack("<HH", header[26:30])
            file.seek(info.header_offset + 30 + name_length + extra_length)
            version = np.lib.format.read_magic(file)
            read_header = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            shape, fortran_order, dtype = read_header(file)
            offset = file.tell()
            if (
                offset + int(np.prod(shape)) * dtype.itemsize
                > info.header_offset + 30 + name_length + extra_length + info.file_size
            ):
                raise ValueError(f"member '{info.filename}' is truncated")
            if dtype.hasobject:
                raise ValueError(f"member '{info.filename}' holds Python objects")
            if int(np.prod(shape)) == 0:
                arrays[key] = np.zeros(shape, dtype)
            else:
                arrays[key] = np.memmap(
                    path,
                    dtype=dtype,
                    mode="r",
                    offset=offset,
                    shape=shape,
                    order="F" if fortran_order else "C",
                )
    return arrays
