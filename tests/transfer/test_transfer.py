"""Control transfer end to end: a tiny control-conditioned flow model re-renders episodes
(`transfer`), multiplies a dataset (`augment`), and the quality measures are checked on
ground truth."""

import json
import subprocess
import sys

import numpy as np
import pytest

import worldlab
from worldlab.data.collect import collect
from worldlab.data.dataset import EpisodeDataset
from worldlab.data.episode import read_episode
from worldlab.errors import WorldlabError
from worldlab.train import train
from worldlab.transfer import ControlSpec, augment, quality, transfer, transfer_frames
from worldlab.worlds._draw import fill_circle
from worldlab.worlds.skins import skin_id

CONTROLLED = {
    "model.controls": ["edge", "seg"],
    "model.styles": 8,
    "model.first_frame_dropout": 0.2,
    "train.steps": 6,
    "train.seq_len": 8,
    "train.batch_size": 4,
}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("transfer")
    common = dict(env="reach", max_steps=10, size=16, controls=True, progress=False)
    collect(out=root / "mix", episodes=6, skins=["flat", "checker", "dusk"], **common)
    collect(out=root / "source", episodes=3, seed=50, **common)
    collect(out=root / "reference", episodes=3, seed=50, skins=["dusk"], **common)
    train("flow", root / "mix", root / "run", preset="tiny", overrides=CONTROLLED, progress=False)
    return root


def test_transfer_frames_keep_shape_and_depend_on_the_seed(world):
    model = worldlab.load(world / "run")
    episodes = [EpisodeDataset(world / "source").episode(i) for i in range(2)]
    frames = np.stack([e["obs"] for e in episodes])
    maps = {"seg": np.stack([e["seg"] for e in episodes])}
    actions = np.stack([e["action"] for e in episodes])
    spec = ControlSpec(["edge", "seg"], [0.5, 1.0])
    one = transfer_frames(model, frames, spec, skin_id("dusk"), maps, actions, seed=1)
    again = transfer_frames(model, frames, spec, skin_id("dusk"), maps, actions, seed=1)
    other = transfer_frames(model, frames, spec, skin_id("dusk"), maps, actions, seed=2)
    assert one.shape == frames.shape and one.dtype == np.uint8
    assert np.array_equal(one, again) and not np.array_equal(one, other)
    spatial = ControlSpec(["edge"], [1.0], {"edge": np.ones((16, 16), np.float32)})
    assert transfer_frames(model, frames, spatial, None).shape == frames.shape


def test_augment_keeps_every_array_but_the_frames_and_resumes(world, tmp_path):
    model = worldlab.load(world / "run")
    spec = ControlSpec(["seg", "edge"])
    out = tmp_path / "aug"
    record = augment(model, world / "source", out, spec, 2, world / "run", progress=False)
    assert len(EpisodeDataset(out)) == 9 and len(record["episodes"]) == 9
    for name, entry in record["episodes"].items():
        made = read_episode(out / name)
        source = read_episode(world / "source" / entry["source"])
        for key in ("action", "reward", "terminated", "truncated", "state", "seg", "depth"):
            assert np.array_equal(made[key], source[key]), key
        assert np.array_equal(made["obs"], source["obs"]) == entry["original"]
        assert set(made["style"]) == {skin_id(entry["style"])}
        assert entry["original"] or entry["style"] in ("checker", "dusk")
    # An interrupted run: a missing episode is made again, the others are left alone.
    victim = sorted(out.glob("ep_*.npz"))[4]
    kept = sorted(out.glob("ep_*.npz"))[5].stat().st_mtime_ns
    victim.unlink()
    augment(model, world / "source", out, spec, 2, world / "run", progress=False)
    assert victim.exists() and sorted(out.glob("ep_*.npz"))[5].stat().st_mtime_ns == kept
    assert len(EpisodeDataset(out)) == 9


def test_transfer_writes_a_video_and_its_measures(world, tmp_path):
    out = tmp_path / "t.gif"
    record = transfer(
        world / "run", world / "source", out, ControlSpec(["edge", "seg"]), "dusk",
        episodes=2, reference=world / "reference",
    )  # fmt: skip
    assert out.stat().st_size > 0
    saved = json.loads(out.with_suffix(".json").read_text())
    assert saved["style"] == "dusk" and saved["episodes"] == 2
    measures = record["measures"]
    assert 0 <= measures["edge"]["f1"] <= 1 and measures["flicker"] >= 0
    assert {"psnr", "psnr_input", "edge_reference", "style_fd", "seg_iou"} <= set(measures)


def test_bad_requests_get_clear_errors(world, tmp_path):
    with pytest.raises(WorldlabError, match="learned the styles"):
        transfer(
            world / "run", world / "source", tmp_path / "x.gif", ControlSpec(["edge"]), "night"
        )
    with pytest.raises(WorldlabError, match="unknown skin|valid skins"):
        transfer(world / "run", world / "source", tmp_path / "x.gif", ControlSpec(["edge"]), "moon")
    with pytest.raises(WorldlabError, match="unknown control"):
        ControlSpec(["normals"])
    with pytest.raises(WorldlabError, match="need as many weights"):
        ControlSpec(["edge", "seg"], [1.0])
    plain = tmp_path / "plain"
    train("flow", world / "mix", plain, preset="tiny", overrides={"train.steps": 1}, progress=False)
    with pytest.raises(WorldlabError, match="not trained with control branches"):
        transfer(plain, world / "source", tmp_path / "x.gif", ControlSpec(["edge"]), "flat")


def test_cli_transfer_and_augment(world, tmp_path):
    def run(*args):
        result = subprocess.run(
            [sys.executable, "-m", "worldlab.cli.main", *map(str, args)],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        return result.stdout

    out = run(
        "transfer", world / "run", "--input", world / "source", "--out", tmp_path / "t.gif",
        "--style", "checker", "--controls", "edge,seg", "--weights", "0.7,0.3",
    )  # fmt: skip
    assert "style 'checker'" in out and "edge F1" in out
    out = run(
        "augment", world / "source", "--run", world / "run", "--out", tmp_path / "aug",
        "--controls", "seg", "--styles", "dusk",
    )  # fmt: skip
    assert "6 episodes" in out
    bad = subprocess.run(
        [sys.executable, "-m", "worldlab.cli.main", "transfer", world / "run", "--input",
         world / "source", "--out", tmp_path / "u.gif", "--style", "dusk", "--weights", "a"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert bad.returncode != 0 and "--weights must be numbers" in bad.stdout + bad.stderr


def test_a_dit_transfer_model_trains_and_transfers_from_the_cli(world, tmp_path, cli):
    """Control branches on the DiT backbone, end to end as a user runs them."""
    run = tmp_path / "dit"
    cli("train", "flow", "--data", world / "mix", "--out", run, "--preset", "tiny",
        "--set", "model.backbone=dit", "--set", "model.controls=edge,seg",
        "--set", "model.styles=8", "--set", "model.first_frame_dropout=0.2",
        "--set", "train.steps=4", "--set", "train.seq_len=8",
        "--set", "train.batch_size=4")  # fmt: skip
    model = worldlab.load(run)
    assert model.config.backbone == "dit" and set(model.control.branches) == {"edge", "seg"}
    out = cli("transfer", run, "--input", world / "source", "--out", tmp_path / "t.gif",
              "--style", "dusk", "--controls", "edge,seg", "--weights", "1,0.5")  # fmt: skip
    assert "style 'dusk'" in out.stdout and (tmp_path / "t.gif").stat().st_size > 0


# -- the hue input: a palette the caller picks ------------------------------------------------
@pytest.fixture(scope="module")
def hued(tmp_path_factory):
    """A model that reads the hue turn, trained on flat and a random-hue skin (slate)."""
    root = tmp_path_factory.mktemp("hued")
    common = dict(env="reach", max_steps=10, size=16, controls=True, progress=False)
    collect(out=root / "mix", episodes=4, skins=["flat", "slate"], **common)
    collect(out=root / "source", episodes=3, seed=50, **common)
    overrides = {**CONTROLLED, "model.styles": 11, "model.hue_input": True}
    train("flow", root / "mix", root / "run", preset="tiny", overrides=overrides, progress=False)
    return root


def test_collect_records_each_episodes_hue(hued):
    data = EpisodeDataset(hued / "mix")
    hues = [read_episode(path)["hue"] for path in data.paths]
    assert all(len(set(h.tolist())) == 1 for h in hues)  # one turn per episode
    assert hues[0][0] == 0.0 and hues[2][0] == 0.0  # flat
    assert hues[1][0] != hues[3][0] and 0 < hues[1][0] < 1  # slate draws its own each episode
    assert "hue" not in read_episode(data.paths[0].parent.parent / "source" / data.paths[0].name)


def test_augment_asks_for_a_hue_per_episode_and_records_it(hued, world, tmp_path):
    model = worldlab.load(hued / "run")
    spec = ControlSpec(["seg", "edge"])
    record = augment(model, hued / "source", tmp_path / "aug", spec, ["slate"], hued / "run",
                     progress=False)  # fmt: skip
    made = {name: read_episode(tmp_path / "aug" / name) for name in record["episodes"]}
    turned = [e for e in record["episodes"].items() if not e[1]["original"]]
    assert len(turned) == 3 and len({entry["hue"] for _, entry in turned}) == 3
    for name, entry in record["episodes"].items():
        expected = 0.0 if entry["original"] else entry["hue"]  # flat keeps flat's 0
        assert made[name]["hue"] == pytest.approx(np.full(len(made[name]["obs"]), expected))
    # The hue the model was told is what it drew: the same request gives the same frames,
    # another hue other frames.
    name, entry = turned[0]
    source = read_episode(hued / "source" / entry["source"])
    args = (model, source["obs"][None], spec, skin_id("slate"), {"seg": source["seg"][None]},
            source["action"][None])  # fmt: skip
    again = transfer_frames(*args, seed=0, hue=entry["hue"])
    other = transfer_frames(*args, seed=0, hue=(entry["hue"] + 0.5) % 1)
    assert not np.array_equal(again, other)
    # A model without a hue input cannot be told one: a random-hue style is recorded as
    # unknown, a fixed one as its own turn.
    plain = augment(worldlab.load(world / "run"), world / "source", tmp_path / "plain", spec,
                    ["checker"], world / "run", progress=False)  # fmt: skip
    assert {e["hue"] for e in plain["episodes"].values() if not e["original"]} == {0.25}
    with pytest.raises(WorldlabError, match="without a hue input"):
        transfer(world / "run", world / "source", tmp_path / "x.gif", spec, "dusk", hue=0.3)


def test_augment_records_how_it_sampled(hued, tmp_path):
    model = worldlab.load(hued / "run")
    spec = ControlSpec(["seg", "edge"])
    plain = augment(model, hued / "source", tmp_path / "plain", spec, ["slate"], hued / "run",
                    progress=False)  # fmt: skip
    with model.sampling(hue_guidance=3.0):
        guided = augment(model, hued / "source", tmp_path / "guided", spec, ["slate"],
                         hued / "run", progress=False)  # fmt: skip
    assert plain["sampling"]["hue_guidance"] == 1.0 and guided["sampling"]["hue_guidance"] == 3.0
    assert model.config.hue_guidance == 1.0  # restored after the block
    name = next(n for n, e in guided["episodes"].items() if not e["original"])
    assert guided["episodes"][name]["hue"] == plain["episodes"][name]["hue"]  # same request
    assert not np.array_equal(  # guidance changed what was drawn for it
        read_episode(tmp_path / "plain" / name)["obs"],
        read_episode(tmp_path / "guided" / name)["obs"],
    )


def test_cli_transfer_takes_a_hue(hued, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "worldlab.cli.main", "transfer", hued / "run", "--input",
         hued / "source", "--out", tmp_path / "t.gif", "--style", "slate", "--controls",
         "edge,seg", "--hue", "0.6", "--episodes", "2"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "t.json").read_text())["hue"] == [0.6, 0.6]


# -- the measures, on ground truth ------------------------------------------------------------
def test_edge_f1_is_one_on_itself_and_drops_when_structure_moves():
    frames = np.zeros((4, 32, 32, 3), np.uint8)
    for index, frame in enumerate(frames):
        fill_circle(frame, 8 + 3 * index, 12, 5, (70, 210, 240))
        fill_circle(frame, 22, 20 - 2 * index, 4, (230, 70, 60))
    assert quality.edge_f1(frames, frames)["f1"] == pytest.approx(1.0)
    moved = np.roll(frames, 4, axis=2)
    assert quality.edge_f1(frames, moved)["f1"] < 0.5
    assert quality.edge_f1(frames, np.roll(frames, 1, axis=2))["f1"] > 0.9  # within tolerance


def test_flicker_is_zero_for_a_still_scene_and_grows_with_noise():
    still = np.full((1, 5, 16, 16, 3), 90, np.uint8)
    noisy = still + np.random.default_rng(0).integers(0, 20, still.shape).astype(np.uint8)
    assert quality.flicker(still, still) == 0.0
    assert quality.flicker(still, noisy) > 3


def test_style_distance_ranks_the_right_style_first(world):
    dusk = EpisodeDataset(world / "reference")
    real = np.stack([dusk.episode(i)["obs"] for i in range(2)])
    same = dusk.episode(2)["obs"]
    flat = EpisodeDataset(world / "source").episode(2)["obs"]
    scores = quality.style_distance(real, {"same style": same, "other style": flat})
    assert scores["same style"] < scores["other style"]


def test_the_segmenter_reads_real_frames_of_a_style_and_not_another(tmp_path):
    """Checked on ground truth: trained on some checker episodes, it segments other checker
    episodes well; flat frames it was never shown read far worse."""
    common = dict(env="reach", max_steps=20, size=16, controls=True, progress=False)
    collect(out=tmp_path / "c", episodes=12, skins=["checker"], **common)
    collect(out=tmp_path / "f", episodes=4, seed=8, **common)
    checker, flat = EpisodeDataset(tmp_path / "c"), EpisodeDataset(tmp_path / "f")
    train_eps = [checker.episode(i) for i in range(8)]
    segmenter = quality.fit_segmenter(
        np.stack([e["obs"] for e in train_eps]), np.stack([e["seg"] for e in train_eps]), 4
    )
    held_out = [checker.episode(i) for i in range(8, 12)]
    frames, truth = np.stack([e["obs"] for e in held_out]), np.stack([e["seg"] for e in held_out])
    same = quality.segmentation_iou(quality.segment(segmenter, frames), truth, 4)
    other = [flat.episode(i) for i in range(4)]
    other_iou = quality.segmentation_iou(
        quality.segment(segmenter, np.stack([e["obs"] for e in other])),
        np.stack([e["seg"] for e in other]), 4,
    )  # fmt: skip
    assert same > 0.8 and other_iou < same - 0.2, (same, other_iou)
