"""Behavioural cloning and latent BC (``worldlab.agents.imitation``).

The latent-BC pipeline is checked on synthetic video whose structure is known: every
frame shows (as its brightness) the action that led to it and (as a marker) the action
the expert takes next; a fake latent-action model reads the brightness and answers a
permuted code. A correct pipeline recovers the expert's next real action from a frame;
a map drawn without labels does not. Continuous BC is checked on the reach expert's
episodes, against random forces on the same seeds.
"""

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from worldlab.agents.frame_policy import (
    FrameHistory,
    FramePolicy,
    SpatialSoftmax,
    episode_transitions,
    stack_indices,
)
from worldlab.agents.imitation import (
    ImitationConfig,
    evaluate_imitation,
    load_imitation_agent,
    real_transitions,
    train_bc,
    train_latent_bc,
)
from worldlab.agents.rollout import run_episodes
from worldlab.agents.runs import evaluate_agent, read_agent_settings
from worldlab.cli.main import app
from worldlab.data import EpisodeDataset, collect
from worldlab.data.episode import episode_filename, write_episode
from worldlab.data.manifest import Manifest
from worldlab.errors import WorldlabError
from worldlab.models import ActionSpec, WorldModel
from worldlab.worlds import make_env

torch.set_num_threads(2)
SIZE, ACTIONS, CODES = 8, 3, 5
PERMUTATION = torch.tensor([3, 0, 4])  # real action → latent code
FAST = ImitationConfig(updates=150, batch_size=32, lr=3e-3)


class BrightnessLAM(WorldModel):
    """Infers the code of transition ``t-1 → t`` from frame ``t``'s brightness."""

    family = "brightness-lam"
    Config = dict

    def __init__(self):
        super().__init__({}, (SIZE, SIZE, 3), ActionSpec("discrete", n=CODES))

    def infer_actions(self, obs, action):
        real = (obs[..., 1:, :, 0].float().mean((-1, -2)) / 60).round().long().clamp(0, 2)
        codes = PERMUTATION[real]
        codes[:, 0] = 0
        return codes

    def observe(self, obs, action, is_first=None, state=None):
        raise NotImplementedError

    def step(self, state, action):
        raise NotImplementedError

    def render(self, state):
        raise NotImplementedError

    def features(self, state):
        raise NotImplementedError

    def loss(self, batch):
        raise NotImplementedError


def synthetic_dataset(root, episodes, seed, with_actions=True, length=30):
    """Frame ``t``: rows 1.. at brightness ``60 · a_t`` (the action that led to it), row 0
    at ``60 · a_{t+1}`` (what the expert does next, visible before it is done)."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True)
    for index in range(episodes):
        actions = rng.integers(ACTIONS, size=length + 2)
        actions[0] = 0
        obs = np.zeros((length + 1, SIZE, SIZE, 3), np.uint8)
        obs[:, 1:] = (60 * actions[: length + 1])[:, None, None, None]
        obs[:, 0] = (60 * actions[1 : length + 2])[:, None, None]
        action = actions[: length + 1] if with_actions else np.zeros((length + 1, 0), np.float32)
        write_episode(
            root / episode_filename(index),
            {
                "obs": obs,
                "action": action,
                "reward": np.zeros(length + 1, np.float32),
                "terminated": np.zeros(length + 1, bool),
                "truncated": np.eye(1, length + 1, length, dtype=bool)[0],
            },
        )
    spec = {"type": "discrete", "n": ACTIONS} if with_actions else {"type": "none"}
    Manifest("worldlab/Platformer-v0", [SIZE, SIZE, 3], spec, episodes=episodes).save(root)
    return EpisodeDataset(root)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    root = tmp_path_factory.mktemp("imitation")
    return {
        "video": synthetic_dataset(root / "video", 12, 0, with_actions=False).root,
        "labelled": synthetic_dataset(root / "labelled", 4, 1).root,
        "test": synthetic_dataset(root / "test", 3, 2),
        "root": root,
    }


def accuracy(run, test: EpisodeDataset, decode="decoder") -> float:
    """How often the run's policy picks the expert's next real action on ``test``."""
    agent = load_imitation_agent(run)
    hits = total = 0
    for index in range(len(test)):
        episode = test.episode(index)
        stacks = torch.from_numpy(episode["obs"][stack_indices(len(episode["obs"]), 2)][:-1])
        choice = agent.actions(stacks, decode)
        hits += int((choice.numpy() == episode["action"][1:]).sum())
        total += len(choice)
    return hits / total


def test_stacks_and_labels_follow_the_episode_layout():
    np.testing.assert_array_equal(stack_indices(3, 2), [[0, 0], [0, 1], [1, 2]])
    obs = [np.zeros((4, 2, 2, 3), np.uint8), np.ones((3, 2, 2, 3), np.uint8)]
    data = episode_transitions(obs, [np.array([5, 6, 7]), np.array([8, 9])], frames=2)
    np.testing.assert_array_equal(data.stacks, [[0, 0], [0, 1], [1, 2], [4, 4], [4, 5]])
    np.testing.assert_array_equal(data.labels, [5, 6, 7, 8, 9])  # last frames: no label
    with pytest.raises(ValueError, match="4 frames need 3 labels"):
        episode_transitions(obs[:1], [np.array([1])], frames=2)
    history = FrameHistory(2)
    assert history.reset(obs[0][0]).shape == (1, 2, 2, 2, 3)
    assert history.update(0, obs[1][0])[0, 1].max() == 1


def test_latent_bc_recovers_the_experts_real_actions(synthetic, tmp_path):
    card = train_latent_bc(
        synthetic["video"], BrightnessLAM(), synthetic["labelled"], 60, tmp_path / "lbc",
        FAST, progress=False,
    )  # fmt: skip
    assert card["agent"] == "latent-bc" and card["labels"] == 60
    assert card["map_metrics"]["accuracy"] == 1.0  # the map, scored on unused labels
    assert card["map_metrics"]["decoder_accuracy"] > 0.95
    assert accuracy(tmp_path / "lbc", synthetic["test"]) > 0.95
    assert accuracy(tmp_path / "lbc", synthetic["test"], "map") > 0.95
    saved = json.loads((tmp_path / "lbc" / "action_map.json").read_text())
    assert saved["latent_to_real"][3] == 0 and saved["latent_to_real"][4] == 2

    # The same policy (no label touches it), its map drawn without labels.
    guess = train_latent_bc(
        synthetic["video"], BrightnessLAM(), None, 0, tmp_path / "guess", FAST,
        progress=False, policy_from=tmp_path / "lbc",
    )  # fmt: skip
    assert guess["training"] == card["training"] and guess["map_metrics"]["random"]
    assert guess["decoder"] is None and not (tmp_path / "guess" / "decoder.safetensors").exists()
    same = (tmp_path / "guess" / "policy.safetensors").read_bytes()
    assert same == (tmp_path / "lbc" / "policy.safetensors").read_bytes()
    assert accuracy(tmp_path / "guess", synthetic["test"]) < 0.8


def test_bc_on_labels_and_the_card_checksum(synthetic, tmp_path):
    card = train_bc(synthetic["labelled"], 40, tmp_path / "bc", FAST, progress=False)
    assert card["agent"] == "bc" and card["labels"] == 40 and not card["oracle"]
    assert sum(card["training"]["label_counts"]) == 40
    oracle = train_bc(synthetic["labelled"], None, tmp_path / "oracle", FAST, progress=False)
    assert oracle["oracle"] and oracle["labels"] == 4 * 30
    assert accuracy(tmp_path / "oracle", synthetic["test"]) > 0.95
    assert read_agent_settings(tmp_path / "bc") == FAST  # from agent.json["settings"]
    # A card written before "settings" kept them under "imitation": still read, still loads.
    path = tmp_path / "bc" / "agent.json"
    old = json.loads(path.read_text())
    old["imitation"] = old.pop("settings")
    path.write_text(json.dumps(old))
    assert read_agent_settings(tmp_path / "bc") == FAST
    assert load_imitation_agent(tmp_path / "bc").policy.frames == FAST.frames
    weights = tmp_path / "bc" / "policy.safetensors"
    weights.write_bytes(weights.read_bytes()[:-8] + b"\0" * 8)
    with pytest.raises(WorldlabError, match="policy.safetensors fails its checksum"):
        load_imitation_agent(tmp_path / "bc")


def test_bad_inputs_are_named(synthetic, tmp_path):
    with pytest.raises(WorldlabError, match="asked for 999 labelled transitions"):
        train_bc(synthetic["labelled"], 999, tmp_path / "x", FAST, progress=False)
    with pytest.raises(WorldlabError, match="has no actions"):
        train_bc(synthetic["video"], None, tmp_path / "x", FAST, progress=False)
    with pytest.raises(WorldlabError, match="needs --labelled"):
        train_latent_bc(synthetic["video"], BrightnessLAM(), None, 10, tmp_path / "x", FAST)
    with pytest.raises(WorldlabError, match="not an agent run"):
        load_imitation_agent(tmp_path)


@pytest.fixture(scope="module")
def platformer(tmp_path_factory):
    root = tmp_path_factory.mktemp("platformer")
    common = dict(max_steps=24, size=16, policy="expert", progress=False)
    collect("platformer", root / "expert", 3, seed=100, **common)
    collect("platformer", root / "video", 3, seed=200, drop_actions=True, **common)
    return root


def test_cli_trains_and_evaluates_imitation_agents_in_the_real_world(platformer, tmp_path):
    """End to end on the platformer: a genie LAM from the video, latent BC with labels,
    BC baselines, and `agent eval` playing each in the real world."""
    from worldlab.train import train

    lam = tmp_path / "lam"
    settings = {"model.stage": "lam", "train.batch_size": 2, "train.seq_len": 4,
                "train.log_every": 5, "train.checkpoint_every": 10}  # fmt: skip
    train("genie", platformer / "video", lam, "tiny", {"train.steps": 4, **settings},
          progress=False)  # fmt: skip
    runner = CliRunner()
    fast = ["--set", "imitation.updates=5", "--set", "imitation.batch_size=8"]
    result = runner.invoke(app, [
        "agent", "train", "latent-bc", "--video", str(platformer / "video"), "--model",
        str(lam), "--labelled", str(platformer / "expert"), "--labels", "20", "--out",
        str(tmp_path / "lbc"), *fast,
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "latent-bc" in result.output and "mean return" in result.output
    for args in (["--labels", "20"], []):
        out = tmp_path / f"bc{len(args)}"
        result = runner.invoke(app, [
            "agent", "train", "bc", "--labelled", str(platformer / "expert"), "--out",
            str(out), *args, *fast,
        ])  # fmt: skip
        assert result.exit_code == 0, result.output
    result = runner.invoke(
        app, ["agent", "eval", str(tmp_path / "lbc"), "--episodes", "2", "--json",
              str(tmp_path / "eval.json")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    evaluation = json.loads((tmp_path / "eval.json").read_text())
    assert evaluation["agent"] == "latent-bc" and evaluation["episodes"] == 2
    assert max(evaluation["lengths"]) <= 24  # the expert video's episode length
    assert evaluate_agent(tmp_path / "bc0", 1, progress=False)["agent"] == "bc"
    again = evaluate_imitation(tmp_path / "lbc", 2, progress=False)
    assert again["returns"] == evaluation["returns"]  # greedy and seeded: reproducible
    video, not_a_model = str(platformer / "video"), str(tmp_path / "lbc")
    args = ["agent", "train", "latent-bc", "--video", video, "--model", not_a_model]
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "x")])
    assert "not a worldlab run" in str(result.exception)


# -- continuous actions: behavioural cloning of the reach expert -----------------------------
REACH_STEPS = 15  # the expert arrives in about 12: most steps show it on the way


@pytest.fixture(scope="module")
def reach(tmp_path_factory):
    """Expert reach episodes at size 32: 100 to learn from, 10 held out, 20 for the CLI."""
    root = tmp_path_factory.mktemp("reach")
    common = dict(max_steps=REACH_STEPS, size=32, policy="expert", progress=False)
    collect("reach", root / "expert", 100, seed=0, **common)
    collect("reach", root / "held_out", 10, seed=500, **common)
    collect("reach", root / "small", 20, seed=700, **common)
    return root


def test_a_continuous_frame_policy_acts_inside_its_bounds():
    policy = FramePolicy(0, 2, action_bounds=([0.0, -2.0], [1.0, 2.0]))
    stacks = torch.randint(0, 256, (5, 2, 16, 16, 3), dtype=torch.uint8)
    actions = policy(stacks)
    assert actions.shape == (5, 2) and actions.dtype == torch.float32
    assert (actions[:, 0] >= 0).all() and (actions[:, 0] <= 1).all()
    assert (actions[:, 1].abs() <= 2).all()
    assert "low" not in policy.state_dict()  # the card keeps the bounds
    with pytest.raises(ValueError, match="finite low < high"):
        FramePolicy(0, 2, action_bounds=([1.0], [-1.0]))


def test_cli_clones_continuous_actions_and_evaluates_them_under_other_env_arguments(
    reach, tmp_path
):
    run, runner = tmp_path / "bc", CliRunner()
    result = runner.invoke(app, [
        "agent", "train", "bc", "--labelled", str(reach / "small"), "--out", str(run),
        "--eval-episodes", "2", "--set", "imitation.updates=5", "--set",
        "imitation.batch_size=8",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    card = json.loads((run / "agent.json").read_text())
    assert card["continuous"] and card["classes"] == 0 and card["action_dims"] == 2
    assert card["action_low"] == [-1.0, -1.0] and card["action_high"] == [1.0, 1.0]
    assert card["labels"] == 20 * REACH_STEPS and "final_mae" in card["training"]
    assert "label_counts" not in card["training"]

    agent = load_imitation_agent(run)
    stack = FrameHistory(2).reset(np.zeros((32, 32, 3), np.uint8))
    action = agent.act(stack)
    assert action.dtype == np.float32 and action.shape == (2,) and np.abs(action).max() <= 1
    assert evaluate_agent(run, 1, progress=False)["lengths"] == [REACH_STEPS]

    # The env's keyword arguments, merged over the run's: a shorter episode, a wide target.
    short = evaluate_imitation(run, 2, progress=False, env_kwargs={"max_steps": 4})
    assert short["lengths"] == [4, 4]
    result = runner.invoke(app, [
        "agent", "eval", str(run), "--episodes", "2", "--env-arg", "success_radius=2.0",
        "--json", str(tmp_path / "eval.json"),
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "eval.json").read_text())["success_rate"] == 1.0
    with pytest.raises(WorldlabError, match=r"shows \[16, 16, 3\] frames"):
        evaluate_imitation(run, 1, progress=False, env_kwargs={"size": 16})
    with pytest.raises(WorldlabError, match="cannot be made with"):
        evaluate_imitation(run, 1, progress=False, env_kwargs={"colour": 3})


def random_success(episodes: int, seed: int, max_steps: int) -> float:
    """Uniform random forces on reach, on the episodes ``evaluate_imitation`` plays."""
    env = make_env("reach", size=32)
    env.action_space.seed(seed)
    policy = lambda stack: env.action_space.sample()  # noqa: E731
    result = run_episodes("reach", env, FrameHistory(2), policy, lambda action: action,
                          episodes, seed, max_steps, progress=False)  # fmt: skip
    return result["success_rate"]


def test_bc_learns_the_reach_experts_forces_from_frames(reach, tmp_path):
    config = ImitationConfig(updates=150, batch_size=32, lr=3e-3)
    train_bc(reach / "expert", None, tmp_path / "bc", config, progress=False)
    agent = load_imitation_agent(tmp_path / "bc")
    held_out = real_transitions(EpisodeDataset(reach / "held_out"), 2)
    forces = agent.actions(torch.from_numpy(held_out.obs[held_out.stacks])).numpy()
    error = np.abs(forces - held_out.labels).mean()
    assert error < 0.7 * np.abs(held_out.labels).mean()  # measured: 0.34 vs 0.65 for zeros

    played = evaluate_imitation(tmp_path / "bc", 20, seed=1000, max_steps=40, progress=False)
    assert played["success_rate"] >= random_success(20, 1000, 40) + 0.5  # measured: 0.9 vs 0.0


def test_latent_bc_names_continuous_labels_as_unsupported(synthetic, reach, tmp_path):
    with pytest.raises(WorldlabError, match="latent BC maps its codes to discrete actions only"):
        train_latent_bc(synthetic["video"], BrightnessLAM(), reach / "small", 10,
                        tmp_path / "x", FAST, progress=False)  # fmt: skip


def test_the_spatial_softmax_reads_out_where_each_map_peaks():
    maps = torch.full((2, 3, 8, 16), -50.0)
    peaks = [[(0, 0), (7, 15), (3, 8)], [(5, 2), (0, 15), (7, 0)]]  # (row, column)
    for n, per_map in enumerate(peaks):
        for c, (row, column) in enumerate(per_map):
            maps[n, c, row, column] = 50.0
    points = SpatialSoftmax()(maps).reshape(2, 3, 2)
    for n, per_map in enumerate(peaks):
        for c, (row, column) in enumerate(per_map):
            expected = [-1 + 2 * column / 15, -1 + 2 * row / 7]  # (x, y) in [-1, 1]
            assert points[n, c].tolist() == pytest.approx(expected, abs=1e-4)


def test_a_keypoint_policy_clones_the_reach_expert(reach, tmp_path):
    config = ImitationConfig(updates=150, batch_size=32, lr=1e-3, encoder="keypoints")
    train_bc(reach / "expert", None, tmp_path / "bc", config, progress=False)
    agent = load_imitation_agent(tmp_path / "bc")
    assert agent.policy.encoder_kind == "keypoints"
    assert read_agent_settings(tmp_path / "bc").encoder == "keypoints"
    played = evaluate_imitation(tmp_path / "bc", 20, seed=1000, max_steps=40, progress=False)
    assert played["success_rate"] >= random_success(20, 1000, 40) + 0.5


def test_an_unknown_policy_encoder_is_named(reach, tmp_path):
    result = CliRunner().invoke(app, [
        "agent", "train", "bc", "--labelled", str(reach / "small"), "--out", str(tmp_path / "bc"),
        "--set", "imitation.encoder=resnet",
    ])  # fmt: skip
    assert isinstance(result.exception, WorldlabError)
    assert "imitation.encoder must be one of conv, keypoints, got 'resnet'" in str(result.exception)
    with pytest.raises(ValueError, match="encoder must be one of"):
        FramePolicy(0, 2, action_bounds=([-1.0], [1.0]), encoder="resnet")
