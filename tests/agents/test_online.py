"""The online loop: Dreamer and MPC acting in a real world while they learn."""

import json

import pytest
import torch

import worldlab
from worldlab.agents.online import train_online
from worldlab.agents.runs import evaluate_agent, load_agent, read_agent_settings
from worldlab.data.episode import read_episode
from worldlab.errors import WorldlabError
from worldlab.train.checkpoint import latest_checkpoint

torch.set_num_threads(2)

TINY = {
    "online.size": 32,
    "online.prefill": 100,
    "online.eval_every": 200,
    "online.eval_episodes": 2,
    "online.checkpoint_every": 200,
    "online.train_ratio": 32.0,
    "online.max_episode_steps": 50,
    "train.batch_size": 4,
    "train.seq_len": 16,
    "behavior.hidden": 32,
    "behavior.layers": 1,
    "behavior.horizon": 5,
    "planner.samples": 16,
    "planner.elites": 4,
    "planner.iterations": 2,
    "planner.horizon": 3,
}


def test_dreamer_run_from_the_cli_and_its_evaluation(tmp_path, cli):
    run = tmp_path / "dreamer"
    sets = [arg for key, value in TINY.items() for arg in ("--set", f"{key}={value}")]
    out = cli("agent", "train", "dreamer", "--env", "reach", "--steps", 300, "--out", run, *sets)
    assert "success rate" in out.stdout
    card = json.loads((run / "agent.json").read_text())
    assert card["agent"] == "dreamer" and card["env_id"] == "worldlab/Reach-v0"
    # The agent's settings live in its card, as every kind's do; config.json is the model's.
    assert card["settings"]["behavior"]["horizon"] == 5
    assert "agent" not in json.loads((run / "config.json").read_text())
    assert read_agent_settings(run).online.steps == 300
    curve = [json.loads(line) for line in (run / "eval.jsonl").read_text().splitlines()]
    assert [entry["env_step"] for entry in curve] == [200, 300]
    assert len(list((run / "replay").glob("*.npz"))) == 6  # 300 steps of 50-step episodes
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert {"actor_loss", "critic_loss", "image", "return_scale"} <= set(metrics[-1])
    model = worldlab.load(run)  # an agent run is a world-model run too
    assert model.obs_shape == (32, 32, 3)
    video = tmp_path / "episode.gif"
    out = cli(
        "agent", "eval", run, "--episodes", 2, "--video", video, "--json", tmp_path / "e.json"
    )
    assert "mean return" in out.stdout and video.stat().st_size > 0
    plan = cli("plan", run, "--episodes", 1, "--max-steps", 3, "--samples", 8, "--elites", 2,
               "--iterations", 1, "--horizon", 2)  # fmt: skip
    assert "MPC with" in plan.stdout and "success rate" in plan.stdout
    again = evaluate_agent(run, episodes=2, progress=False)
    with pytest.raises(WorldlabError, match="planner settings apply to MPC runs"):
        evaluate_agent(run, episodes=1, planner={"horizon": 2}, progress=False)
    assert json.loads((tmp_path / "e.json").read_text())["returns"] == again["returns"]


def test_resumed_run_repeats_the_uninterrupted_one(tmp_path):
    whole = train_online("dreamer", "reach", 300, tmp_path / "a", overrides=TINY, progress=False)
    train_online("dreamer", "reach", 150, tmp_path / "b", overrides=TINY, progress=False)
    # Episodes played after the last checkpoint are dropped on resume and played again.
    replay = tmp_path / "b" / "replay"
    (replay / "ep_000003.npz").write_bytes((replay / "ep_000000.npz").read_bytes())
    resumed = train_online(
        "dreamer", "reach", 300, tmp_path / "b", resume=True, overrides=None, progress=False
    )
    assert resumed["env_steps"] == whole["env_steps"] and resumed["updates"] == whole["updates"]
    assert resumed["final"]["returns"] == whole["final"]["returns"]
    _, weights_a, state_a = latest_checkpoint(tmp_path / "a")
    _, weights_b, state_b = latest_checkpoint(tmp_path / "b")
    for name, tensor in weights_a.items():
        assert torch.equal(tensor, weights_b[name]), name
    for name, tensor in state_a["behavior"]["weights"].items():
        assert torch.equal(tensor, state_b["behavior"]["weights"][name]), name
    assert len(list(replay.glob("ep_*.npz"))) == 6
    a3, b3 = (
        read_episode(run / "replay" / "ep_000003.npz") for run in (tmp_path / "a", tmp_path / "b")
    )
    assert (a3["obs"] == b3["obs"]).all() and (a3["action"] == b3["action"]).all()


def test_an_existing_run_needs_resume(tmp_path):
    train_online("dreamer", "reach", 100, tmp_path / "r", overrides=TINY, progress=False)
    with pytest.raises(WorldlabError, match="--resume"):
        train_online("dreamer", "reach", 200, tmp_path / "r", overrides=TINY, progress=False)
    with pytest.raises(WorldlabError, match="'dreamer' run, not 'mpc'"):
        train_online("mpc", "reach", 200, tmp_path / "r", resume=True, progress=False)
    # A resumed run refuses settings that change what it learns instead of ignoring them.
    with pytest.raises(WorldlabError, match="trained with online.env='reach'.*'bounce'"):
        train_online("dreamer", "bounce", 200, tmp_path / "r", resume=True, progress=False)
    with pytest.raises(WorldlabError, match="behavior.horizon=5.*9"):
        train_online("dreamer", "reach", 200, tmp_path / "r", resume=True,
                     overrides={"behavior.horizon": 9}, progress=False)  # fmt: skip
    train_online("dreamer", "reach", 150, tmp_path / "r", resume=True,
                 overrides={**TINY, "online.eval_episodes": 1}, progress=False)  # fmt: skip
    curve = [json.loads(line) for line in (tmp_path / "r" / "eval.jsonl").read_text().splitlines()]
    assert len(curve[-1]["returns"]) == 1


def test_a_resumed_run_keeps_its_seed_unless_told_another(tmp_path, cli):
    run = tmp_path / "r"
    sets = [arg for key, value in TINY.items() for arg in ("--set", f"{key}={value}")]
    train = ("agent", "train", "mpc", "--env", "reach", "--out", run)
    cli(*train, "--steps", 100, "--seed", 1, *sets)
    # No --seed: the run goes on with its own, not the command line's default.
    cli(*train, "--steps", 150, "--resume")
    settings = read_agent_settings(run)
    assert settings.online.seed == 1 and settings.online.steps == 150
    assert json.loads((run / "config.json").read_text())["train"]["seed"] == 1
    other = cli(*train, "--steps", 200, "--resume", "--seed", 2, check=False)
    assert other.returncode != 0 and "online.seed=1" in other.stderr


def test_mpc_learns_its_model_online_and_plans_with_it(tmp_path, cli):
    overrides = {**TINY, "online.pretrain": 3, "online.eval_every": 20}
    summary = train_online("mpc", "reach", 200, tmp_path / "m", overrides=overrides, progress=False)
    # 3 pretraining updates once learning starts at step 100, then 0.5 per step for 101 steps.
    assert summary["updates"] == 3 + 50 and len(summary["final"]["returns"]) == 2
    # One evaluation per 50-step episode however small eval_every is; the one at step 100
    # waits for the pretraining, so it scores the pretrained model, not the untrained one.
    curve = [json.loads(line) for line in (tmp_path / "m" / "eval.jsonl").read_text().splitlines()]
    assert [(entry["env_step"], entry["updates"]) for entry in curve] == [
        (50, 0),
        (100, 3),
        (150, 28),
        (200, 53),
    ]
    result = evaluate_agent(tmp_path / "m", episodes=1, max_steps=5, progress=False)
    assert result["agent"] == "mpc" and result["lengths"] == [5]
    # The planner can be changed for an evaluation; the run's own settings stay as they were.
    _, _, reset_planner = load_agent(tmp_path / "m", planner={"horizon": 1, "samples": 8})
    assert (reset_planner.__self__.config.horizon, reset_planner.__self__.config.samples) == (1, 8)
    assert load_agent(tmp_path / "m")[2].__self__.config.horizon == TINY["planner.horizon"]
    out = cli("agent", "eval", tmp_path / "m", "--episodes", 1, "--max-steps", 3,
              "--planner", "horizon=1", "--planner", "method=cem")  # fmt: skip
    assert "success rate" in out.stdout
    with pytest.raises(WorldlabError, match=r"unknown planner settings \['horizn'\]"):
        evaluate_agent(tmp_path / "m", episodes=1, planner={"horizn": 1}, progress=False)


def test_an_mpc_agent_learns_a_flow_world_model_online(tmp_path, cli):
    run = tmp_path / "flow_mpc"
    small = {**TINY, "online.prefill": 20, "online.eval_every": 40, "online.eval_episodes": 1,
             "online.max_episode_steps": 10, "online.train_ratio": 8.0, "train.seq_len": 6,
             "planner.samples": 4, "planner.elites": 2, "planner.iterations": 1,
             "planner.horizon": 2}  # fmt: skip
    sets = [arg for key, value in small.items() for arg in ("--set", f"{key}={value}")]
    out = cli("agent", "train", "mpc", "--env", "reach", "--steps", 40, "--out", run,
              "--family", "flow", *sets)  # fmt: skip
    assert "success rate" in out.stdout
    assert worldlab.load(run).family == "flow"
    out = cli("agent", "eval", run, "--episodes", 1, "--max-steps", 3)
    assert "success rate" in out.stdout


def test_vmc_agent_from_the_cli(tmp_path, cli):
    run = tmp_path / "vmc"
    settings = {
        "agent.size": 32, "agent.max_episode_steps": 20, "agent.generations": 2,
        "agent.rollouts": 2, "agent.horizon": 5, "agent.final_rollouts": 2,
        "agent.eval_episodes": 2, "agent.population": 4,
        "train.steps": 6, "train.batch_size": 2, "train.seq_len": 8,
    }  # fmt: skip
    sets = [arg for key, value in settings.items() for arg in ("--set", f"{key}={value}")]
    out = cli("agent", "train", "vmc", "--env", "reach", "--steps", 60, "--out", run,
              "--preset", "tiny", *sets)  # fmt: skip
    assert "success rate" in out.stdout
    result = evaluate_agent(run, episodes=2, progress=False)
    assert result["agent"] == "vmc" and len(result["returns"]) == 2


def test_a_run_that_died_before_its_first_checkpoint_starts_over(tmp_path):
    from worldlab.data import collect

    run = tmp_path / "r"
    collect("reach", run / "replay", episodes=5, max_steps=50, size=32, progress=False)
    (run / "eval.jsonl").write_text('{"stale": true}\n')
    summary = train_online("dreamer", "reach", 100, run, overrides=TINY, progress=False)
    assert summary["episodes"] == 2 and len(list((run / "replay").glob("ep_*.npz"))) == 2
    assert "stale" not in (run / "eval.jsonl").read_text()


def test_pretraining_on_the_prefill_resumes_where_a_crash_stopped_it(tmp_path, monkeypatch):
    from worldlab.agents import online
    from worldlab.agents.online import OnlineRun

    # prefill == steps: play 100 random steps, then pretrain the model 7 updates.
    overrides = {**TINY, "online.prefill": 100, "online.pretrain": 7}
    monkeypatch.setattr(online, "PRETRAIN_CHECKPOINT_EVERY", 3)
    whole = train_online("mpc", "reach", 100, tmp_path / "a", overrides=overrides, progress=False)
    assert whole["updates"] == 7 and whole["env_steps"] == 100

    learn, calls = OnlineRun._learn, []

    def power_cut_at_the_sixth_update(self):
        calls.append(1)
        if len(calls) == 6:
            raise RuntimeError("power cut")
        return learn(self)

    monkeypatch.setattr(OnlineRun, "_learn", power_cut_at_the_sixth_update)
    with pytest.raises(RuntimeError, match="power cut"):
        train_online("mpc", "reach", 100, tmp_path / "b", overrides=overrides, progress=False)
    monkeypatch.setattr(OnlineRun, "_learn", learn)
    resumed = train_online("mpc", "reach", 100, tmp_path / "b", resume=True, progress=False)
    assert resumed["updates"] == 7 and resumed["final"]["returns"] == whole["final"]["returns"]
    _, weights_a, _ = latest_checkpoint(tmp_path / "a")
    _, weights_b, _ = latest_checkpoint(tmp_path / "b")
    for name, tensor in weights_a.items():
        assert torch.equal(tensor, weights_b[name]), name


def test_brownian_prefill_explores_with_drifting_actions(tmp_path):
    def step_sizes(policy):
        overrides = {**TINY, "online.prefill": 100, "online.prefill_policy": policy}
        run = tmp_path / policy
        train_online("mpc", "reach", 50, run, overrides=overrides, progress=False)
        actions = read_episode(run / "replay" / "ep_000000.npz")["action"][1:]
        return abs(actions[1:] - actions[:-1]).mean()

    # White noise in [-1, 1] jumps 2/3 on average per step; a random walk of std 0.3 ~0.24.
    assert step_sizes("random") > 0.5 and step_sizes("brownian") < 0.3
    with pytest.raises(WorldlabError, match="unknown policy 'greedy'"):
        overrides = {**TINY, "online.prefill_policy": "greedy"}
        train_online("mpc", "reach", 50, tmp_path / "x", overrides=overrides, progress=False)


def test_an_agent_acts_over_the_whole_range_of_a_wider_box(tmp_path):
    # Pendulum's torque is in [-2, 2]: the planner plans in [-1, 1] and the world receives
    # the rescaled action, so after the random prefill the replay holds torques beyond ±1.
    overrides = {**TINY, "online.prefill": 50, "online.eval_episodes": 1}
    train_online("mpc", "Pendulum-v1", 100, tmp_path / "p", overrides=overrides, progress=False)
    planned = read_episode(tmp_path / "p" / "replay" / "ep_000001.npz")["action"]
    assert planned.min() >= -2.0 and planned.max() <= 2.0
    assert abs(planned).max() > 1.5


def test_an_explore_share_keeps_playing_some_episodes_with_the_prefill_policy(tmp_path):
    def step_sizes(share):
        overrides = {**TINY, "online.prefill": 50, "online.prefill_policy": "brownian",
                     "online.explore_share": share, "online.eval_every": 10**6}  # fmt: skip
        run = tmp_path / str(share)
        train_online("dreamer", "reach", 150, run, overrides=overrides, progress=False)
        sizes = []
        for episode in (1, 2):  # played after the prefill
            actions = read_episode(run / "replay" / f"ep_{episode:06d}.npz")["action"][1:]
            sizes.append(abs(actions[1:] - actions[:-1]).mean())
        return sizes

    # The actor's sampled actions jump like noise; the brownian walk moves ~0.24 per step.
    assert min(step_sizes(0.0)) > 0.3 and max(step_sizes(1.0)) < 0.3
    with pytest.raises(WorldlabError, match="explore_share"):
        overrides = {**TINY, "online.explore_share": 1.5}
        train_online("dreamer", "reach", 50, tmp_path / "x", overrides=overrides, progress=False)


def test_a_run_written_with_its_settings_in_config_json_still_loads_and_resumes(tmp_path):
    run = tmp_path / "old"
    train_online("mpc", "reach", 100, run, overrides=TINY, progress=False)
    # The layout of runs written before agent.json["settings"]: config.json["agent"].
    card, config = (json.loads((run / name).read_text()) for name in ("agent.json", "config.json"))
    config["agent"] = card.pop("settings")
    for name, saved in (("agent.json", card), ("config.json", config)):
        (run / name).write_text(json.dumps(saved))
    assert read_agent_settings(run).planner.horizon == 3
    assert worldlab.load(run).obs_shape == (32, 32, 3)
    assert len(evaluate_agent(run, 1, progress=False)["returns"]) == 1
    train_online("mpc", "reach", 150, run, resume=True, progress=False)
    # Resumed, it is rewritten the new way, its settings kept.
    settings = json.loads((run / "agent.json").read_text())["settings"]
    assert settings["planner"]["horizon"] == 3 and settings["online"]["steps"] == 150
    assert "agent" not in json.loads((run / "config.json").read_text())
