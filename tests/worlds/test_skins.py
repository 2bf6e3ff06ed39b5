"""Skins restyle reach, bounce and the platformer without touching their physics; control
maps are true."""

from __future__ import annotations

import hashlib

import gymnasium
import numpy as np
import pytest

import worldlab  # noqa: F401  (registers the worlds)
from worldlab.errors import WorldlabError
from worldlab.worlds import make_env
from worldlab.worlds.bounce import DEFAULT_COLOURS, BounceEnv
from worldlab.worlds.control_maps import edges_from_segmentation
from worldlab.worlds.platformer import BODY, PlatformerEnv
from worldlab.worlds.reach import AGENT, TARGET, ReachEnv
from worldlab.worlds.skins import (
    HELD_OUT_SKINS,
    SKIN_NAMES,
    TRAIN_SKINS,
    Skin,
    fixed_hue,
    get_skin,
    skin_id,
    skin_name,
)

WORLDS = {
    "reach": lambda **kw: ReachEnv(size=32, **kw),
    "bounce": lambda **kw: BounceEnv(size=32, num_balls=4, occluder=True, **kw),
    "platformer": lambda **kw: PlatformerEnv(size=32, **kw),
}


def rollout(env: gymnasium.Env, seed: int, steps: int = 20):
    """Frames, states and rewards of ``steps`` seeded random actions."""
    obs, info = env.reset(seed=seed)
    env.action_space.seed(seed)
    frames, states, rewards = [obs], [info["state"]], []
    for _ in range(steps):
        obs, reward, _, _, info = env.step(env.action_space.sample())
        frames.append(obs)
        states.append(info["state"])
        rewards.append(reward)
    return np.stack(frames), np.stack(states), np.array(rewards)


# -- the registry ---------------------------------------------------------------------


def test_ids_are_stable_and_groups_cover_the_registry():
    # Ids are stored in datasets: this order may only ever grow at the end.
    assert SKIN_NAMES[:11] == (
        "flat", "checker", "dusk", "pastel", "distractors", "noise", "stripes", "night",
        "sand", "slate", "forest",
    )  # fmt: skip
    assert [skin_id(name) for name in SKIN_NAMES] == list(range(len(SKIN_NAMES)))
    assert [skin_name(i) for i in range(len(SKIN_NAMES))] == list(SKIN_NAMES)
    assert "flat" in TRAIN_SKINS and len(HELD_OUT_SKINS) >= 2
    assert not set(TRAIN_SKINS) & set(HELD_OUT_SKINS)
    assert set(TRAIN_SKINS) | set(HELD_OUT_SKINS) == set(SKIN_NAMES)


def test_unknown_skin_names_the_valid_ones():
    for make in (lambda: ReachEnv(skin="sepia"), lambda: BounceEnv(skin="sepia")):
        with pytest.raises(WorldlabError, match="unknown skin 'sepia'.*flat.*night"):
            make()
    with pytest.raises(WorldlabError, match="held out: noise"):
        skin_id("sepia")
    with pytest.raises(WorldlabError, match="ids run from 0"):
        skin_name(len(SKIN_NAMES))


def test_skin_keyword_reaches_the_env_through_make():
    assert make_env("reach", size=16, skin="checker").unwrapped.skin == "checker"
    assert gymnasium.make("worldlab/Bounce-v0", skin="night").unwrapped.skin == "night"


def test_a_mixed_look_takes_the_scene_of_one_skin_and_the_objects_of_another():
    def frame(skin):
        return ReachEnv(size=32, skin=skin).reset(seed=3)[0]

    def colours(frame):
        return {tuple(pixel) for pixel in frame.reshape(-1, 3)}

    noise, flat, mixed = frame("noise"), frame("flat"), frame("noise/flat")
    # Flat's agent and target colours appear in the mix, noise's recoloured ones do not.
    agent_flat = tuple(ReachEnv(size=32)._agent_colour)
    agent_noise = tuple(ReachEnv(size=32, skin="noise")._agent_colour)
    assert agent_flat in colours(mixed) and agent_noise not in colours(mixed)
    assert agent_noise in colours(noise) and agent_flat != agent_noise
    # The background is noise's: where neither object is drawn, the mix equals noise.
    same = (mixed == noise).all(-1)
    assert same.mean() > 0.8 and not (mixed == flat).all(-1).mean() > 0.5
    # A mixed look is for playing in: it has no id, so no dataset can record it.
    with pytest.raises(WorldlabError, match="mixed look .* has no id"):
        skin_id("noise/flat")
    with pytest.raises(WorldlabError, match="unknown skin 'sepia'"):
        ReachEnv(skin="noise/sepia")


# -- drawing, not physics -------------------------------------------------------------


@pytest.mark.parametrize("world", WORLDS)
def test_physics_is_identical_under_every_skin(world):
    _, states, rewards = rollout(WORLDS[world](), seed=5)
    for name in SKIN_NAMES:
        _, skinned_states, skinned_rewards = rollout(WORLDS[world](skin=name), seed=5)
        np.testing.assert_array_equal(skinned_states, states, err_msg=name)
        np.testing.assert_array_equal(skinned_rewards, rewards, err_msg=name)


def test_flat_draws_exactly_what_the_worlds_drew_before_skins():
    # sha256 of the frames of `rollout(seed, 20)` at size 32, taken before skins existed.
    before = {
        ("reach", 0): "a78acc95367940e8",
        ("reach", 1): "d403a48435127d16",
        ("bounce", 0): "0236b16b3f6fbcd4",
        ("bounce", 1): "98dbe9d5616ca978",
        ("platformer", 0): "9762af617902a2e5",
        ("platformer", 1): "469cb49ff2d03a2f",
    }
    for (world, seed), digest in before.items():
        for env in (WORLDS[world](), WORLDS[world](skin="flat")):
            frames, _, _ = rollout(env, seed)
            assert hashlib.sha256(frames.tobytes()).hexdigest()[:16] == digest, (world, seed)


@pytest.mark.parametrize("world", WORLDS)
def test_every_skin_looks_different_and_held_out_ones_unlike_any_train_one(world):
    frames = {name: rollout(WORLDS[world](skin=name), seed=2, steps=3)[0] for name in SKIN_NAMES}
    for name in SKIN_NAMES[1:]:
        changed = np.any(frames[name] != frames["flat"], axis=-1).mean()
        assert changed > 0.02, f"{name} changes only {changed:.1%} of the pixels of flat"
    for held_out in HELD_OUT_SKINS:
        for train in TRAIN_SKINS:
            gap = np.abs(frames[held_out].astype(int) - frames[train]).mean()
            assert gap > 20, f"{held_out} is too close to {train}: mean |Δ| {gap:.1f}"


@pytest.mark.parametrize("world", WORLDS)
def test_skin_randomness_follows_the_seed(world):
    for name in ("noise", "distractors", "checker"):
        first, _, _ = rollout(WORLDS[world](skin=name), seed=3, steps=2)
        again, _, _ = rollout(WORLDS[world](skin=name), seed=3, steps=2)
        other, _, _ = rollout(WORLDS[world](skin=name), seed=4, steps=2)
        np.testing.assert_array_equal(first, again)
        assert not np.array_equal(first[0], other[0])


@pytest.mark.parametrize("world", WORLDS)
def test_a_hue_spread_skin_turns_the_objects_anew_each_episode(world):
    def object_colours(frame, env):
        seg = env.controls()["seg"]  # background 0; the rest are objects or distractors
        return {tuple(c) for c in frame[(seg > 0) & (seg != env.DISTRACTOR_CLASS)].tolist()}

    env = WORLDS[world](skin="slate")
    seen = []
    for seed in range(6):
        frame, _ = env.reset(seed=seed)
        seen.append(object_colours(frame, env))
    assert len({frozenset(c) for c in seen}) == 6, "each episode should draw its own hue"
    again = WORLDS[world](skin="slate")
    frame, _ = again.reset(seed=3)
    assert object_colours(frame, again) == seen[3]  # reproducible from the seed
    # The scene is the flat one: only the objects' colours moved.
    flat = WORLDS[world]()
    flat_frame, _ = flat.reset(seed=3)
    slate_frame, _ = env.reset(seed=3)
    background = env.controls()["seg"] == 0
    np.testing.assert_array_equal(slate_frame[background], flat_frame[background])
    assert get_skin("noise/slate").hue_spread == 1.0  # a mixed look takes it with the colours


def test_a_world_reports_the_hue_turn_it_draws_its_objects_with():
    env = ReachEnv(size=32, skin="sand")
    hues = []
    for seed in range(4):
        frame, _ = env.reset(seed=seed)
        hues.append(env.hue)
        seg = env.controls()["seg"]
        # The target is drawn in flat's colour turned by exactly the reported hue.
        turned = Skin(hue_shift=env.hue).object_colour(TARGET)
        assert tuple(frame[seg == env.TARGET_CLASS][0]) == turned
    assert len(set(hues)) == 4 and all(0 <= h < 1 for h in hues)
    env.set_skin("checker")
    assert env.hue == 0.25 == fixed_hue("checker")
    assert fixed_hue("flat") == 0.0 and fixed_hue("sand") is None
    bounce = WORLDS["bounce"](skin="slate")
    bounce.reset(seed=1)
    assert 0 <= bounce.hue < 1 and bounce.hue != 0.0


@pytest.mark.parametrize("world", WORLDS)
def test_set_skin_restyles_the_current_episode(world):
    env = WORLDS[world]()
    env.reset(seed=7)
    env.set_skin("dusk")
    assert env.skin == "dusk"
    np.testing.assert_array_equal(env.render(), WORLDS[world](skin="dusk").reset(seed=7)[0])
    env.set_skin("flat")
    np.testing.assert_array_equal(env.render(), WORLDS[world]().reset(seed=7)[0])


# -- control maps ---------------------------------------------------------------------


def test_reach_segmentation_is_the_agent_colour_and_centred_on_its_state():
    env = ReachEnv(size=32)
    env.reset(seed=0)
    env.action_space.seed(0)
    for _ in range(40):
        obs, _, _, _, info = env.step(env.action_space.sample())
        maps = env.controls()
        assert maps["seg"].shape == maps["depth"].shape == (32, 32)
        assert maps["seg"].dtype == maps["depth"].dtype == np.uint8
        agent = maps["seg"] == ReachEnv.AGENT_CLASS
        np.testing.assert_array_equal(agent, np.all(obs == AGENT, axis=-1))
        rows, cols = np.nonzero(agent)
        x, y = info["position"]
        assert abs(cols.mean() + 0.5 - x * 32) <= 0.5
        assert abs(rows.mean() + 0.5 - (1 - y) * 32) <= 0.5
        assert set(np.unique(maps["seg"])) == {0, ReachEnv.TARGET_CLASS, ReachEnv.AGENT_CLASS}


def test_reach_depth_puts_the_agent_in_front_of_the_target():
    env = ReachEnv(size=32)
    env.reset(seed=0)
    env.set_state(position=(0.5, 0.5), target=(0.53, 0.5))  # overlapping discs
    seg, depth = env.controls()["seg"], env.controls()["depth"]
    classes = ReachEnv.SEGMENT_CLASSES
    assert classes[ReachEnv.AGENT_CLASS] == "agent" and classes[ReachEnv.TARGET_CLASS] == "target"
    assert np.all(depth[seg == ReachEnv.AGENT_CLASS] == 255)
    assert np.all(depth[seg == ReachEnv.TARGET_CLASS] == 170)
    assert np.all(depth[seg == 0] == 0)
    centre = 16, 16  # on both discs: the agent, drawn last, wins
    assert seg[centre] == ReachEnv.AGENT_CLASS


def test_bounce_segmentation_matches_each_ball_and_the_occluder_in_front():
    env = BounceEnv(size=32, num_balls=4, occluder=True, gravity=0.0)
    env.reset(seed=1)
    env.action_space.seed(1)
    for _ in range(30):
        obs, _, _, _, info = env.step(env.action_space.sample())
        seg, depth = env.controls()["seg"], env.controls()["depth"]
        for ball, colour in enumerate(DEFAULT_COLOURS[:4]):
            mask = seg == BounceEnv.FIRST_BALL_CLASS + ball
            np.testing.assert_array_equal(mask, np.all(obs == colour, axis=-1))
            (x, y), radius = info["positions"][ball], info["radii"][ball]
            bar_x0, bar_x1 = np.array(env.occluder) * 32
            if (x + radius) * 32 < bar_x0 or (x - radius) * 32 > bar_x1:  # wholly in view
                rows, cols = np.nonzero(mask)
                assert abs(cols.mean() + 0.5 - x * 32) <= 0.5
                assert abs(rows.mean() + 0.5 - (1 - y) * 32) <= 0.5
        bar = seg == BounceEnv.OCCLUDER_CLASS
        np.testing.assert_array_equal(bar, np.all(obs == (128, 128, 128), axis=-1))
        assert np.all(depth[bar] == 255) and np.all(depth[seg >= BounceEnv.FIRST_BALL_CLASS] == 170)
    # A ball half behind the bar: its hidden half is occluder, in front.
    env.set_state(positions=[[0.375, 0.5], [0.1, 0.1], [0.9, 0.9], [0.1, 0.9]])
    seg, depth = env.controls()["seg"], env.controls()["depth"]
    row = seg[16]
    assert BounceEnv.FIRST_BALL_CLASS in row[:12] and np.all(row[12:20] == BounceEnv.OCCLUDER_CLASS)
    assert np.all(depth[16, 12:20] == 255)


def test_bounce_balls_past_the_class_cap_share_the_last_ball_class():
    env = BounceEnv(size=32, num_balls=9, radius_range=(0.04, 0.05))
    env.reset(seed=0)
    assert BounceEnv.SEGMENT_CLASSES[-1] == "ball 7+"
    assert env.controls()["seg"].max() == len(BounceEnv.SEGMENT_CLASSES) - 1


def test_platformer_segmentation_is_the_character_the_tiles_and_the_coins():
    env = PlatformerEnv(size=64, skin="checker")
    frame, info = env.reset(seed=3)
    for _ in range(12):
        frame, _, _, _, info = env.step(5)  # run right and jump: tiles and coins scroll by
    maps = env.controls()
    seg = maps["seg"]
    character = seg == env.CHARACTER_CLASS
    assert tuple(frame[character][0]) == get_skin("checker").object_colour(BODY)
    x, y, camera = info["state"][0], info["state"][1], info["state"][6]
    ys, xs = np.nonzero(character)
    scale = 64 / 12
    offset = round(camera * scale) / scale  # the view is cut at whole pixels
    assert abs((xs.mean() + 0.5) / scale + offset - x) < 0.2  # centred on the state's x
    assert abs(12 - (ys.max() + 1) / scale - y) < 0.2  # feet at the state's y
    # The bottom row of pixels is ground exactly where the level has a solid tile.
    columns = np.floor((np.arange(64) + 0.5) / scale + offset).astype(int)
    solid = np.array([env.tile(col, 0) == 1 for col in columns])
    assert 0 < solid.sum() < 64  # ground and a gap in view: the test can tell them apart
    np.testing.assert_array_equal(seg[-1] == env.GROUND_CLASS, solid)
    assert set(np.unique(seg)) <= set(range(len(env.SEGMENT_CLASSES)))
    np.testing.assert_array_equal(maps["depth"], env.SEGMENT_DEPTH[seg])
    assert maps["depth"][character].min() == 255


@pytest.mark.parametrize("world", WORLDS)
def test_control_maps_are_the_same_under_every_skin_but_distractors(world):
    flat = WORLDS[world]()
    flat.reset(seed=4)
    expected = flat.controls()
    for name in SKIN_NAMES:
        env = WORLDS[world](skin=name)
        env.reset(seed=4)
        maps = env.controls()
        distractor = maps["seg"] == env.DISTRACTOR_CLASS
        assert distractor.any() == (name == "distractors"), name
        np.testing.assert_array_equal(maps["seg"][~distractor], expected["seg"][~distractor])
        assert np.all(expected["seg"][distractor] == 0)  # distractors lie on the floor
        assert np.all(maps["depth"][distractor] == 85)


def test_edges_mark_both_sides_of_every_class_boundary():
    seg = np.zeros((2, 5, 5), np.uint8)
    seg[0, 1:3, 1:3] = 3  # a 2x2 square; the second map is empty
    edges = edges_from_segmentation(seg)
    assert edges.shape == seg.shape and edges.dtype == np.uint8
    assert set(np.unique(edges)) == {0, 255} and not edges[1].any()
    expected = np.zeros((5, 5), bool)
    expected[1:3, 1:3] = True  # the square itself...
    expected[0, 1:3] = expected[3, 1:3] = expected[1:3, 0] = expected[1:3, 3] = True  # ...its ring
    np.testing.assert_array_equal(edges[0] == 255, expected)


@pytest.mark.filterwarnings("ignore:.*alternative render modes")
def test_skinned_worlds_pass_the_gymnasium_checker():
    from gymnasium.utils.env_checker import check_env

    for make in WORLDS.values():
        check_env(make(skin="noise"))
