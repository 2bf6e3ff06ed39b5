"""A look's clutter placed in the segmentation control: checked against the simulator's own
layouts, and carried through `augment` and `transfer`."""

import json

import numpy as np
import pytest

import worldlab
from worldlab.data.collect import collect
from worldlab.data.dataset import EpisodeDataset
from worldlab.data.episode import read_episode
from worldlab.train import train
from worldlab.transfer import ControlSpec, augment, transfer
from worldlab.transfer.clutter import (
    clutter_layout,
    has_clutter,
    layout_of,
    place_clutter,
    with_clutter,
    world_layers,
)

COMMON = dict(max_steps=6, size=16, controls=True, progress=False)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("clutter")
    collect(out=root / "mix", env="reach", episodes=4, skins=["flat", "distractors"], **COMMON)
    collect(out=root / "flat", env="reach", episodes=3, seed=70, **COMMON)
    collect(out=root / "real", env="reach", episodes=3, seed=70, skins=["distractors"], **COMMON)
    overrides = {
        "model.controls": ["edge", "seg"], "model.styles": 8, "model.first_frame_dropout": 0.2,
        "train.steps": 2, "train.seq_len": 6, "train.batch_size": 2,
    }  # fmt: skip
    train("flow", root / "mix", root / "run", preset="tiny", overrides=overrides, progress=False)
    return root


@pytest.mark.parametrize("env", ["reach", "bounce"])
def test_placed_clutter_is_the_simulators_own(env, tmp_path):
    """A flat episode with the layout of skin seed s placed in its seg and depth equals the
    same episode that the simulator drew in `distractors` with seed s, map for map."""
    collect(out=tmp_path / "flat", env=env, episodes=2, seed=5, **COMMON)
    collect(out=tmp_path / "real", env=env, episodes=2, seed=5, skins=["distractors"], **COMMON)
    flat, real = EpisodeDataset(tmp_path / "flat"), EpisodeDataset(tmp_path / "real")
    classes, layers = flat.manifest.seg_classes, world_layers(flat.manifest.env_id)
    for index in range(2):
        source, truth = flat.episode(index), real.episode(index)
        layout = clutter_layout("distractors", (16, 16), 5 + index)
        assert layout.any()
        seg, depth = place_clutter(source["seg"], layout, classes, layers, source["depth"])
        assert not np.array_equal(seg, source["seg"])
        np.testing.assert_array_equal(seg, truth["seg"])
        np.testing.assert_array_equal(depth, truth["depth"])
        # And read back from the simulator's episode, the layout is the one drawn, less
        # what the objects hide in every frame.
        assert not (layout_of(truth["seg"], classes) & ~layout).any()


def test_only_cluttered_looks_and_fixed_backdrops_take_a_layout():
    assert has_clutter("distractors") and not has_clutter("dusk") and not has_clutter("flat")
    assert not clutter_layout("dusk", (16, 16), 3).any()
    assert world_layers("worldlab/Reach-v0") is not None
    assert world_layers("worldlab/Platformer-v0") is None  # its backdrop scrolls
    assert world_layers("CartPole-v1") is None


def test_augment_draws_the_clutter_into_what_it_writes(world, tmp_path):
    model = worldlab.load(world / "run")
    spec = ControlSpec(["edge", "seg"])
    record = augment(model, world / "flat", tmp_path / "aug", spec, ["distractors", "dusk"],
                     world / "run", progress=False)  # fmt: skip
    assert record["clutter"] is True
    distractor = EpisodeDataset(world / "flat").manifest.seg_classes.index("distractor")
    for name, entry in record["episodes"].items():
        made = read_episode(tmp_path / "aug" / name)
        source = read_episode(world / "flat" / entry["source"])
        cluttered = entry["style"] == "distractors"
        assert entry["clutter"] == cluttered
        assert (made["seg"] == distractor).any() == cluttered
        assert np.array_equal(made["seg"], source["seg"]) != cluttered
        assert (made["depth"][made["seg"] == distractor] == 85).all()  # reach's layer
        for key in ("action", "reward", "state"):
            assert np.array_equal(made[key], source[key]), key
    # Asked for none, the re-rendering keeps its source's maps.
    plain = augment(model, world / "flat", tmp_path / "plain", spec, ["distractors"],
                    world / "run", progress=False, clutter=False)  # fmt: skip
    assert plain["clutter"] is False
    for name, entry in plain["episodes"].items():
        made = read_episode(tmp_path / "plain" / name)
        assert np.array_equal(made["seg"], read_episode(world / "flat" / entry["source"])["seg"])


def test_transfer_takes_the_references_layout(world, tmp_path, monkeypatch):
    """With a reference, the clutter goes where the simulator's render of the same
    episodes has it, so PSNR and segmentation compare like with like."""
    import worldlab.transfer.video as video

    seen = {}
    real_frames = video.transfer_frames

    def spy(model, frames, spec, style, maps=None, *args, **kwargs):
        seen["seg"] = None if maps is None else maps["seg"]
        return real_frames(model, frames, spec, style, maps, *args, **kwargs)

    monkeypatch.setattr(video, "transfer_frames", spy)
    record = transfer(world / "run", world / "flat", tmp_path / "t.gif",
                      ControlSpec(["edge", "seg"]), "distractors", episodes=2,
                      reference=world / "real")  # fmt: skip
    assert record["clutter"] is True
    real = EpisodeDataset(world / "real")  # the same episodes: their maps exactly
    np.testing.assert_array_equal(seen["seg"], np.stack([real.episode(i)["seg"] for i in range(2)]))
    saved = json.loads((tmp_path / "t.json").read_text())
    assert saved["clutter"] is True
    spec = ControlSpec(["edge", "seg"])
    off = transfer(world / "run", world / "flat", tmp_path / "u.gif", spec, "distractors",
                   episodes=2, clutter=False)  # fmt: skip
    assert off["clutter"] is False
    np.testing.assert_array_equal(
        seen["seg"], np.stack([EpisodeDataset(world / "flat").episode(i)["seg"] for i in range(2)])
    )


def test_with_clutter_places_one_layout_per_episode():
    seg = np.zeros((2, 3, 4, 4), np.uint8)
    seg[:, :, 0, 0] = 3  # an object in the corner, on top
    layouts = [np.zeros((4, 4), bool), np.ones((4, 4), bool)]
    classes = ["background", "distractor", "target", "agent"]
    maps = with_clutter({"seg": seg}, layouts, classes, np.array([0, 85, 170, 255]))
    assert (maps["seg"][0] == seg[0]).all()
    assert (maps["seg"][1, :, 0, 0] == 3).all() and (maps["seg"][1, :, 1:, :] == 1).all()
    assert "depth" not in maps
