"""``train_vmc_agent``: the one-command World Models pipeline behind ``worldlab agent train vmc``.

Collect random experience → train the ``vmc`` world model (V and M) → evolve the
controller C in the dream (``worldlab.agents.evolution``) → evaluate in the real world.
Every stage writes its result atomically and a rerun into the same directory reuses
finished stages.
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path
from typing import Any

import torch

from worldlab.agents.evolution import (  # noqa: F401  (the controller's public names)
    LinearController,
    VMCAgentConfig,
    controller_policy,
    controller_shape,
    dream_fitness,
    evolve_controller,
    random_policy,
    split_overrides,
    vmc_agent_config,
)
from worldlab.agents.kinds import AGENT_FILE, KINDS, SETTINGS_KEY, TrainRequest
from worldlab.agents.rollout import LoadedAgent, Policy, play_agent, play_in_world
from worldlab.data import EpisodeDataset, collect
from worldlab.data.episode import read_json, write_json
from worldlab.errors import WorldlabError
from worldlab.models import WorldModel
from worldlab.paths import output_dir

CONTROLLER_FILE, EVAL_FILE = "controller.npz", "eval.json"
DATA_DIR, MODEL_DIR = "data", "world_model"


# -- collection ------------------------------------------------------------------------


def collect_steps(
    env: str,
    data: Path,
    steps: int,
    config: VMCAgentConfig,
    seed: int,
    progress: bool,
):
    """Collect random-policy episodes into ``data`` until it holds ``steps`` env steps.

    Episode ``i`` always has seed ``seed + i``, so a rerun adds only what is missing.
    """
    episodes = 1
    while True:
        manifest = collect(
            env,
            data,
            episodes,
            max_steps=config.max_episode_steps,
            seed=seed,
            size=config.size,
            env_kwargs=config.env_kwargs,
            policy=config.collect_policy,
            progress=progress,
        )
        if manifest.steps >= steps:
            return manifest
        per_episode = max(manifest.steps / max(manifest.episodes, 1), 1.0)
        episodes = max(episodes, manifest.episodes) + math.ceil(
            (steps - manifest.steps) / per_episode
        )


def default_train_steps(env_steps: int) -> int:
    """World-model gradient steps for ``env_steps`` of data: one per 5 env steps (about 50
    passes over the frames at batch 16 × 16), between 1,000 and 20,000."""
    return int(min(max(env_steps // 5, 1_000), 20_000))


def _last_checkpoint_step(run: Path) -> int:
    from worldlab.train.checkpoint import checkpoint_dirs

    dirs = checkpoint_dirs(run)
    return int(dirs[-1].name.split("_")[1]) if dirs else -1


def train_world_model(
    data: Path,
    run: Path,
    preset: str,
    overrides: dict[str, Any],
    progress: bool,
) -> str:
    """Train (or resume, or keep) the ``vmc`` model in ``run``; return what was done."""
    from worldlab.train import train

    done = _last_checkpoint_step(run)
    if done < 0:
        train("vmc", data, run, preset, overrides, progress=progress)
        return "trained"
    if done >= overrides["train.steps"]:
        return "skipped"
    train("vmc", data, run, preset, overrides, resume=True, progress=progress)
    return "resumed"


def _read_json(path: Path) -> dict[str, Any]:
    return read_json(path, f"'{path.parent}' is not a vmc agent run: {path.name} is missing")


def evaluate_in_world(
    model: WorldModel,
    policy: Policy,
    episodes: int,
    seed: int,
    progress: bool,
    label: str = "vmc",
) -> dict[str, Any]:
    """``play_in_world`` on the model's own world, without the recorded frames."""
    torch.manual_seed(seed)
    result = play_in_world(
        model, policy, episodes=episodes, seed=seed, progress=progress, label=label
    )
    result.pop("frames", None)
    return result


def train_vmc_agent(
    env: str,
    steps: int,
    out: Path,
    seed: int = 0,
    preset: str = "demo",
    overrides: dict[str, Any] | None = None,
    progress: bool = True,
    **settings: Any,
) -> dict[str, Any]:
    """World Models end to end: collect ``steps`` random env steps into ``out/data``, train a
    ``vmc`` model into ``out/world_model``, evolve C with CMA-ES in its dream (or, with
    ``fitness="real"``, in the real world) (``out/controller.npz``, ``out/agent.json``), then
    play real episodes (``out/eval.json``).

    ``preset`` and ``overrides`` (``{"model.z_dims": 16, "train.steps": 2000}``) go to the
    world-model run; ``settings`` are ``VMCAgentConfig`` fields (``population=64,
    generations=50, rollouts=16, horizon=100, size=64, ...``), which ``overrides`` may
    also carry as ``agent.FIELD`` (what ``--set agent.population=64`` gives). A rerun with the same
    ``out`` keeps finished stages: it collects only missing episodes, resumes or keeps
    the model, and keeps a saved controller and evaluation.
    """
    if steps < 1:
        raise WorldlabError(f"steps must be ≥ 1 environment step, got {steps}")
    overrides, from_overrides = split_overrides(overrides)
    config = vmc_agent_config({**from_overrides, **settings})
    out = output_dir(out, "agent run")
    stages: dict[str, str] = {}
    seconds: dict[str, float] = {}

    started = time.perf_counter()
    manifest = collect_steps(env, out / DATA_DIR, steps, config, seed, progress)
    seconds["collect"] = time.perf_counter() - started

    started = time.perf_counter()
    train_overrides = {
        "train.seed": seed,
        "train.batch_size": 16,
        "train.seq_len": 16,
        "train.steps": config.train_steps or default_train_steps(steps),
        **(overrides or {}),
    }
    stages["world_model"] = train_world_model(
        out / DATA_DIR, out / MODEL_DIR, preset, train_overrides, progress
    )
    seconds["world_model"] = time.perf_counter() - started

    import worldlab

    model = worldlab.load(out / MODEL_DIR)
    agent_path = out / AGENT_FILE
    if agent_path.exists() and (out / CONTROLLER_FILE).exists():
        stages["controller"] = "skipped"
        agent = _read_json(agent_path)
    else:
        started = time.perf_counter()
        torch.manual_seed(seed)
        dataset = EpisodeDataset(out / DATA_DIR)
        controller, history, final = evolve_controller(model, dataset, config, seed, progress)
        controller.save(out / CONTROLLER_FILE)
        seconds["controller"] = time.perf_counter() - started
        agent = {
            "agent": "vmc",
            "env_id": manifest.env_id,
            "env_kwargs": manifest.env_kwargs,
            "world_model": MODEL_DIR,
            "controller": CONTROLLER_FILE,
            "data": DATA_DIR,
            "env_steps": manifest.steps,
            "seed": seed,
            "preset": preset,
            "overrides": overrides or {},
            SETTINGS_KEY: dataclasses.asdict(config),
            "controller_parameters": int(controller.weight.size + controller.bias.size),
            "fitness": history,  # per generation, in the dream or the real world (settings)
            "final": final,
            "search_env_steps": final["real_steps"],  # real steps the search played
        }
        write_json(agent_path, agent)
        stages["controller"] = "evolved"

    eval_path = out / EVAL_FILE
    if eval_path.exists():
        stages["eval"] = "skipped"
        evaluation = _read_json(eval_path)
    else:
        started = time.perf_counter()
        eval_seed = _eval_seed(config, seed)
        loaded, card = LoadedAgent(*load_vmc_agent(out)), _read_json(agent_path)
        played = play_agent(loaded, card, config.eval_episodes, eval_seed, progress=progress)
        evaluation = {"seed": eval_seed, **played}
        if config.baseline:
            evaluation["random_policy"] = evaluate_in_world(
                model,
                random_policy(model, evaluation["seed"]),
                config.eval_episodes,
                evaluation["seed"],
                progress,
                label="random",
            )
        seconds["eval"] = time.perf_counter() - started
        write_json(eval_path, evaluation)
        stages["eval"] = "evaluated"
    return {
        "out": str(out),
        "stages": stages,
        "seconds": seconds,
        "agent": agent,
        "eval": evaluation,
    }


def _eval_seed(config: VMCAgentConfig, seed: int) -> int:
    # Far from the collection seeds (seed + episode index): real episodes the model never saw.
    return config.eval_seed if config.eval_seed is not None else 1_000_000 + seed


def load_vmc_agent(run: Path) -> tuple[WorldModel, Policy]:
    """The world model and the policy ``state → C(model.features(state))`` of a vmc agent run
    (``worldlab.agents.runs.load_agent`` loads a run of any kind)."""
    import worldlab

    run = Path(run)
    agent = _read_json(run / AGENT_FILE)
    if agent.get("agent") != "vmc":
        raise WorldlabError(f"'{run}' holds a '{agent.get('agent')}' agent, not a vmc agent")
    model = worldlab.load(run / agent["world_model"])
    controller = LinearController.load(run / agent["controller"])
    settings = KINDS["vmc"].read_settings(run, agent)  # older cards: C read [z, h]
    features, outputs, kind = controller_shape(model, settings.inputs)
    if controller.weight.shape != (outputs, features) or controller.kind != kind:
        raise WorldlabError(
            f"controller {run / agent['controller']} has shape {list(controller.weight.shape)} "
            f"({controller.kind}) but the world model needs [{outputs}, {features}] ({kind})"
        )
    return model, controller_policy(model, controller)


def train_requested(kind: str, request: TrainRequest) -> dict[str, Any] | None:
    """``worldlab agent train vmc``: the real-world evaluation of the evolved controller."""
    env, steps = request.world(kind)
    summary = train_vmc_agent(
        env,
        steps,
        request.out,
        seed=request.seed_or_default,
        preset=request.preset or "demo",
        overrides=request.overrides,
        env_kwargs=request.env_kwargs or None,
        progress=request.progress,
    )
    return summary.get("final") or summary.get("eval")
