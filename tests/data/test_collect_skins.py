"""Collecting in several skins with control maps: style per step, seg/depth, resume, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from worldlab.cli.main import app
from worldlab.data import EpisodeDataset, collect
from worldlab.data.episode import read_episode
from worldlab.data.manifest import Manifest
from worldlab.errors import DatasetError, WorldlabError
from worldlab.worlds.bounce import BounceEnv
from worldlab.worlds.platformer import PlatformerEnv
from worldlab.worlds.reach import ReachEnv
from worldlab.worlds.skins import skin_id

SKINS = ["flat", "checker", "night"]


def _collect(out, **kwargs):
    settings = dict(episodes=4, max_steps=5, size=16, progress=False) | kwargs
    return collect("reach", out, **settings)


def test_skins_cycle_over_episodes_with_style_and_control_maps(tmp_path):
    manifest = _collect(tmp_path / "skinned", skins=SKINS, controls=True)
    assert manifest.skins == SKINS
    assert manifest.seg_classes == list(ReachEnv.SEGMENT_CLASSES)
    assert Manifest.load(tmp_path / "skinned").skins == SKINS
    _collect(tmp_path / "plain")
    for index in range(4):
        name = f"ep_{index:06d}.npz"
        skinned, plain = (
            read_episode(tmp_path / "skinned" / name),
            read_episode(tmp_path / "plain" / name),
        )
        length = len(skinned["obs"])
        assert skinned["style"].dtype == np.int64 and skinned["style"].shape == (length,)
        assert np.all(skinned["style"] == skin_id(SKINS[index % 3]))
        for key in ("seg", "depth"):
            assert skinned[key].shape == (length, 16, 16) and skinned[key].dtype == np.uint8
        assert np.all(skinned["seg"].max(axis=(1, 2)) == ReachEnv.AGENT_CLASS)
        # The skin changes the pixels only: same states, actions and rewards as unskinned.
        for key in ("state", "action", "reward"):
            np.testing.assert_array_equal(skinned[key], plain[key])
        assert np.array_equal(skinned["obs"], plain["obs"]) == (SKINS[index % 3] == "flat")
    assert "style" not in plain and "seg" not in plain


def test_dataset_windows_carry_style_and_control_maps(tmp_path):
    _collect(tmp_path, skins=SKINS, controls=True)
    batch = EpisodeDataset(tmp_path).sample(3, 4, rng=np.random.default_rng(0))
    assert batch["seg"].shape == batch["depth"].shape == (3, 4, 16, 16)
    assert batch["style"].shape == (3, 4) and batch["style"].dtype == np.int64
    assert set(np.unique(batch["style"])) <= {skin_id(name) for name in SKINS}


def test_rerun_recollects_a_missing_episode_in_its_own_skin(tmp_path):
    _collect(tmp_path, skins=SKINS, controls=True)
    before = read_episode(tmp_path / "ep_000002.npz", mmap=False)
    (tmp_path / "ep_000002.npz").unlink()
    manifest = _collect(tmp_path, skins=SKINS, controls=True)
    assert manifest.episodes == 4
    after = read_episode(tmp_path / "ep_000002.npz", mmap=False)
    assert before.keys() == after.keys()
    for key in before:
        np.testing.assert_array_equal(after[key], before[key])
    with pytest.raises(DatasetError, match="skins"):
        _collect(tmp_path, skins=["flat"], controls=True)
    with pytest.raises(DatasetError, match="seg_classes"):
        _collect(tmp_path, skins=SKINS)


def test_a_manifest_from_before_skins_still_loads(tmp_path):
    _collect(tmp_path, episodes=1)
    record = json.loads((tmp_path / "manifest.json").read_text())
    del record["skins"], record["seg_classes"]
    (tmp_path / "manifest.json").write_text(json.dumps(record))
    assert Manifest.load(tmp_path).skins == []
    assert _collect(tmp_path, episodes=2).episodes == 2  # and resumes


def test_bounce_records_its_own_class_table(tmp_path):
    manifest = collect(
        "bounce", tmp_path, 2, max_steps=3, size=16, progress=False, skins=["distractors"],
        controls=True,
    )  # fmt: skip
    assert manifest.seg_classes == list(BounceEnv.SEGMENT_CLASSES)
    episode = read_episode(tmp_path / "ep_000001.npz")
    assert np.any(episode["seg"] == BounceEnv.DISTRACTOR_CLASS)
    assert np.all(episode["style"] == skin_id("distractors"))


def test_the_platformer_records_skins_hues_and_its_class_table(tmp_path):
    manifest = collect(
        "platformer", tmp_path, 2, max_steps=4, size=16, progress=False,
        skins=["flat", "sand"], controls=True,
    )  # fmt: skip
    assert manifest.seg_classes == list(PlatformerEnv.SEGMENT_CLASSES)
    flat, sand = (read_episode(tmp_path / f"ep_00000{i}.npz") for i in range(2))
    assert np.all(sand["style"] == skin_id("sand")) and np.all(flat["style"] == skin_id("flat"))
    assert np.all(flat["hue"] == 0.0) and 0.0 < sand["hue"][0] < 1.0
    assert flat["seg"].shape == flat["obs"].shape[:3]
    assert np.any(flat["seg"] == PlatformerEnv.CHARACTER_CLASS)


def test_bad_requests_get_clear_errors(tmp_path):
    with pytest.raises(WorldlabError, match="unknown skin 'sepia'"):
        _collect(tmp_path / "a", skins=["flat", "sepia"])
    assert not (tmp_path / "a").exists()  # refused before anything was written
    with pytest.raises(WorldlabError, match="only the built-in worlds bounce, platformer, reach"):
        collect(
            "CartPole-v1", tmp_path / "b", 1, max_steps=3, size=16, progress=False, controls=True
        )
    with pytest.raises(WorldlabError, match="give the skins once"):
        _collect(tmp_path / "c", skins=["flat"], env_kwargs={"skin": "dusk"})
    manifest = _collect(tmp_path / "d", episodes=1, env_kwargs={"skin": "dusk"})
    assert manifest.skins == ["dusk"] and manifest.env_kwargs == {}


def test_cli_collects_skins_and_controls(tmp_path):
    out = tmp_path / "data"
    command = ["collect", "--env", "reach", "--out", str(out), "--episodes", "2"]
    command += ["--max-steps", "3", "--size", "16", "--skins", "flat,pastel", "--controls"]
    result = CliRunner().invoke(app, command)
    assert result.exit_code == 0, result.output
    assert "skins flat, pastel" in result.output
    assert Manifest.load(out).skins == ["flat", "pastel"]
    assert np.all(read_episode(out / "ep_000001.npz")["style"] == skin_id("pastel"))
