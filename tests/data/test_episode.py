import os
import zipfile

import numpy as np
import pytest

from worldlab.data.episode import read_episode, validate_episode_file, write_episode
from worldlab.errors import CorruptEpisodeError


def make_arrays(length=7, size=8, with_state=True):
    rng = np.random.default_rng(0)
    arrays = {
        "obs": rng.integers(0, 256, (length, size, size, 3), dtype=np.uint8),
        "action": rng.integers(0, 4, length).astype(np.int64),
        "reward": rng.normal(size=length).astype(np.float32),
        "terminated": np.zeros(length, bool),
        "truncated": np.zeros(length, bool),
    }
    if with_state:
        arrays["state"] = rng.normal(size=(length, 5)).astype(np.float32)
    return arrays


def test_round_trip_memory_mapped(tmp_path):
    arrays = make_arrays()
    write_episode(tmp_path / "ep_000000.npz", arrays)
    loaded = read_episode(tmp_path / "ep_000000.npz")
    assert isinstance(loaded["obs"], np.memmap)
    for key, value in arrays.items():
        np.testing.assert_array_equal(loaded[key], value)
        assert loaded[key].dtype == value.dtype
    assert set(np.load(tmp_path / "ep_000000.npz").files) == set(arrays)  # plain numpy reads it


def test_interrupted_writer_leaves_nothing_visible(tmp_path, monkeypatch):
    def crash(file, **arrays):
        file.write(b"PK\x03\x04 half an episode")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(KeyboardInterrupt):
        write_episode(tmp_path / "ep_000000.npz", make_arrays())
    assert os.listdir(tmp_path) == []


def test_inconsistent_lengths_are_refused(tmp_path):
    arrays = make_arrays()
    arrays["reward"] = arrays["reward"][:-1]
    with pytest.raises(CorruptEpisodeError, match="'reward' has length 6"):
        write_episode(tmp_path / "ep_000000.npz", arrays)


def test_truncated_file_is_reported_by_name(tmp_path):
    path = tmp_path / "ep_000003.npz"
    write_episode(path, make_arrays())
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(CorruptEpisodeError, match="ep_000003.npz"):
        read_episode(path)


def test_flipped_byte_fails_validation(tmp_path):
    path = tmp_path / "ep_000000.npz"
    write_episode(path, make_arrays())
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("obs.npy")
    data[info.header_offset + 200] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptEpisodeError, match="checksum"):
        validate_episode_file(path)
