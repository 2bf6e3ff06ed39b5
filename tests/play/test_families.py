"""Play works for every family and every kind of run, over the WebSocket.

A latent-action run (``genie`` on action-free video) plays its latent codes with number
keys and no real world beside it, since a code is not one of the world's buttons; with an
action map it takes the world's real actions and the real world plays beside it.
"""

import pytest
import torch

import worldlab
from worldlab.data import EpisodeDataset, collect
from worldlab.evaluate import fit_action_map
from worldlab.models.registry import FAMILY_MODULES

pytest.importorskip("fastapi", reason="the server needs the `play` extra (fastapi)")
from fastapi.testclient import TestClient  # noqa: E402

from worldlab.play.server import create_app, load_playable  # noqa: E402

SMALL = {"train.steps": 2, "train.batch_size": 2, "train.seq_len": 4}


@pytest.fixture(scope="module")
def platformer(tmp_path_factory):
    root = tmp_path_factory.mktemp("play_families")
    collect("platformer", root / "labelled", episodes=3, max_steps=20, size=32, progress=False)
    collect(
        "platformer", root / "video", episodes=3, max_steps=20, size=32, drop_actions=True,
        progress=False,
    )  # fmt: skip
    return root


def trained(root, family, data):
    from worldlab.train import train

    run = root / f"run_{family}_{data}"
    if not run.exists():
        train(family, root / data, run, "tiny", SMALL, progress=False)
    return run


def play_every_action(run, expect_real: bool) -> dict:
    """Start from the dataset, step under every action the page offers; return hello."""
    model = load_playable(run)
    with TestClient(create_app(model, run)) as client, client.websocket_connect("/ws") as ws:
        hello = ws.receive_json()
        assert hello["type"] == "hello", hello
        ws.send_json({"type": "start", "source": "dataset", "episode": 0, "step": 4})
        frame = ws.receive_json()
        assert frame["type"] == "frame", frame
        assert (frame["real"] is not None) == expect_real
        for action in range(hello["action_spec"]["n"]):
            ws.send_json({"type": "step", "action": action})
            frame = ws.receive_json()
            assert frame["type"] == "frame", frame  # never a server error
            assert (frame["real"] is not None) == expect_real
            assert frame["frame"].startswith("data:image/png;base64,")
        return hello


@pytest.mark.parametrize("family", ["rssm", "vmc", "flow"])
def test_families_with_real_actions_play_beside_the_real_world(platformer, family):
    run = trained(platformer, family, "labelled")
    hello = play_every_action(run, expect_real=True)
    declared = [option.name for option in worldlab.load(run).sampling_options]
    assert [control["name"] for control in hello["sampling_controls"]] == declared
    assert hello["action_spec"]["n"] == 6
    assert hello["keymap"]["combos"], "platformer's arrow keys"
    assert hello["real_world_note"] is None


def test_genie_without_an_action_map_plays_latent_codes_alone(platformer):
    run = trained(platformer, "genie", "video")
    hello = play_every_action(run, expect_real=False)
    assert hello["action_spec"]["n"] == worldlab.load(run).config.num_latent_actions == 8
    assert hello["keymap"] == {"kind": "discrete", "n": 8, "buttons": {}, "combos": []}
    assert "latent codes" in hello["real_world_note"]
    assert "worldlab map-actions" in hello["real_world_note"]


def test_genie_with_an_action_map_takes_real_actions_beside_the_real_world(platformer):
    run = trained(platformer, "genie", "video")
    model = worldlab.load(run)
    fit_action_map(model, EpisodeDataset(platformer / "labelled"), progress=False).save(
        run / "action_map.json"
    )
    try:
        hello = play_every_action(run, expect_real=True)
    finally:
        (run / "action_map.json").unlink()
    assert hello["action_spec"]["n"] == 6  # the platformer's own buttons
    assert hello["keymap"]["combos"]
    assert hello["real_world_note"] is None
    # The real-action view offers the latent model's own sampling settings.
    assert [c["name"] for c in hello["sampling_controls"]] == ["maskgit_steps", "temperature"]


def test_every_registered_family_is_covered_here():
    assert set(FAMILY_MODULES) == {"rssm", "vmc", "genie", "flow"}, (
        "add the new family to this module"
    )


def test_a_state_vector_run_is_refused_with_a_clear_error(tmp_path):
    from worldlab.errors import WorldlabError
    from worldlab.train import train

    collect("bounce", tmp_path / "data", episodes=2, max_steps=12, size=16, progress=False)
    overrides = {**SMALL, "train.observation": "state"}
    train("rssm", tmp_path / "data", tmp_path / "run", "tiny", overrides, progress=False)
    torch.set_num_threads(2)
    with pytest.raises(WorldlabError, match="play needs a model of pixel frames"):
        create_app(load_playable(tmp_path / "run"), tmp_path / "run")
