"""The online loop: act in a real world, grow a replay dataset, learn from it, repeat.

``agent train dreamer`` and ``agent train mpc`` both run this loop; they differ in how
they act (Dreamer's actor vs. a planner inside the model) and in what they learn
(Dreamer also trains its actor-critic in imagination). One update trains the world
model on a replayed batch and then, for Dreamer, the behaviour on trajectories
imagined from that batch's posterior states. Updates run at a fixed replay ratio:
``train_ratio`` replayed steps (batch × sequence) per environment step.

A run directory is a world-model run (``worldlab.load``, ``evaluate``, ``imagine`` and
``play`` work on it) plus::

    agent.json     what the agent is (read by ``worldlab agent eval``)
    replay/        the replay data, a standard dataset: every finished episode
    eval.jsonl     the learning curve: real-world return and success per evaluation

Checkpoints are taken at episode ends and hold the world model, its optimiser, the
behaviour and the loop's counters; episodes played after the last checkpoint are
dropped on resume (they are played again), so a resumed run repeats exactly what
the uninterrupted run would have done. Ctrl-C stores the episode in progress as a
truncated episode and checkpoints before exiting (a run resumed after Ctrl-C goes on
from there, so it differs from an uninterrupted one by that cut episode).
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import torch

from worldlab.agents.behavior import ActorCritic, BehaviorConfig
from worldlab.agents.planning import PlannerConfig
from worldlab.agents.rollout import Filter, play_in_world, to_env_action
from worldlab.data.collect import EpisodeRecorder, append_episode, open_manifest
from worldlab.data.dataset import EpisodeDataset, episode_index
from worldlab.data.episode import write_json
from worldlab.data.policies import make_policy
from worldlab.errors import WorldlabError
from worldlab.models.state import index_state
from worldlab.paths import output_dir
from worldlab.progress import progress_bar
from worldlab.train.checkpoint import (
    checkpoint_dirs,
    load_with_state,
    resume_checkpoint,
    save_checkpoint,
)
from worldlab.train.config import (
    TrainConfig,
    apply_overrides,
    check_resume,
    family_config,
    load_config,
    save_config,
    to_dict,
)
from worldlab.train.precision import autocast
from worldlab.train.trainer import Trainer, step_seed, stop_on_sigint
from worldlab.worlds import make_env, resolve_env_id

AGENTS = ("dreamer", "mpc")
REPLAY = "replay"
PRETRAIN_CHECKPOINT_EVERY = 500  # pretraining updates between checkpoints
# Settings a resumed run may change: they alter how it proceeds, not what it learns.
ONLINE_RESUMABLE = frozenset(
    {
        "train.device",
        "train.threads",
        "online.eval_every",
        "online.eval_episodes",
        "online.checkpoint_every",
        "online.log_every",
    }
)


@dataclasses.dataclass
class OnlineConfig:
    env: str = "reach"
    steps: int = 20_000  # environment steps in total
    prefill: int = 1_000  # steps of exploration before learning starts
    # how the prefill explores: random | sticky | brownian (worldlab.data.policies); with
    # brownian, a body with inertia reaches the speeds a planner will later ask of it
    prefill_policy: str = "random"
    train_ratio: float = 64.0  # replayed steps (batch × sequence) per environment step
    pretrain: int = 0  # updates on the prefill data before the agent first acts
    eval_every: int = 2_500  # environment steps between real-world evaluations
    eval_episodes: int = 5
    eval_seed: int = 1_000_000  # evaluation episodes use seeds eval_seed, eval_seed + 1, ...
    checkpoint_every: int = 2_500
    size: int = 64  # frame size
    max_episode_steps: int | None = None
    seed: int = 0
    log_every: int = 20  # updates between metric lines


def agent_config(
    agent: str,
    env: str,
    steps: int,
    preset: str | None = None,
    overrides: dict[str, Any] | None = None,
    env_kwargs: dict[str, Any] | None = None,
    family: str = "rssm",
) -> dict[str, Any]:
    """The resolved config of a new online run: world model, training, behaviour, loop."""
    if agent not in AGENTS:
        raise WorldlabError(f"online agent must be one of {', '.join(AGENTS)}, got '{agent}'")
    from worldlab.models import get_family

    family_class = get_family(family)
    model_config, preset = family_config(family_class, preset or "tiny")
    train = TrainConfig(batch_size=16, seq_len=32, checkpoint_every=10**9)
    online = OnlineConfig(env=env, steps=steps)
    behavior, planner = BehaviorConfig(), PlannerConfig(samples=128, elites=16, iterations=4)
    sections = {
        "model": model_config,
        "train": train,
        "online": online,
        "behavior": behavior,
        "planner": planner,
    }
    apply_overrides(sections, overrides or {})
    env_id = resolve_env_id(online.env)
    world = make_env(env_id, size=online.size, **(env_kwargs or {}))
    from worldlab.data.manifest import action_spec

    spec = action_spec(world.action_space)
    world.close()
    return {
        "family": family,
        "preset": preset,
        "model": to_dict(model_config),
        "train": to_dict(train),
        "data": {
            "path": REPLAY,  # the run directory's replay/ (made absolute by OnlineRun)
            "env_id": env_id,
            "env_kwargs": dict(env_kwargs or {}),
            "obs_shape": [online.size, online.size, 3],
            "action": spec,
        },
        "agent": {
            "kind": agent,
            "online": to_dict(online),
            "behavior": to_dict(behavior),
            "planner": to_dict(planner),
        },
    }


class OnlineRun:
    """One online agent run in ``out``; ``run()`` trains it (resuming when it can)."""

    def __init__(self, out: str | Path, config: dict[str, Any], progress: bool = True):
        self.out = Path(out)
        self.config = config
        agent = config["agent"]
        self.kind = agent["kind"]
        self.online = OnlineConfig(**agent["online"])
        self.progress = progress
        self.replay = self.out / REPLAY
        config["data"]["path"] = str(self.replay.resolve())
        data = config["data"]
        self.world = make_env(data["env_id"], size=self.online.size, **data["env_kwargs"])
        self.manifest = open_manifest(
            self.replay, data["env_id"], self.world, data["env_kwargs"], drop_actions=False
        )
        self.trainer = Trainer(self.out, config, progress=False)
        self.model = self.trainer.model
        self.model.run_config = config
        self.behavior = (
            ActorCritic(self.model, BehaviorConfig(**agent["behavior"])).to(self.model.device)
            if self.kind == "dreamer"
            else None
        )
        self.planner = None
        if self.kind == "mpc":
            from worldlab.agents.mpc import make_planner

            self.planner = make_planner(
                self.model, PlannerConfig(**agent["planner"]), self.online.seed
            )
        self.explore = make_policy(self.online.prefill_policy)
        self.env_step, self.episode, self.credit, self.elapsed = 0, 0, 0.0, 0.0
        self.pretrain_done = 0  # pretraining updates made so far
        self.next_eval = self.online.eval_every
        self.next_checkpoint = self.online.checkpoint_every
        self.last_return: float | None = None
        self._clock = (time.perf_counter(), 0.0)  # (when this session started, elapsed before)

    # -- acting ----------------------------------------------------------------------
    def policy(self, greedy: bool):
        """state → action with the agent's current knowledge (sampled while training)."""
        if self.kind == "dreamer":
            return lambda state: self.behavior.actor.act(
                self.model.features(state).float(), sample=not greedy
            )
        from worldlab.agents.mpc import mpc_policy

        return mpc_policy(self.model, self.planner)

    @torch.no_grad()
    def _act(self, state: Any, obs: Any, space) -> Any:
        if not self._learning():
            return self.explore(obs, space)
        torch.manual_seed(step_seed(self.online.seed, 1, self.env_step))
        if self.planner is not None and self.planner.generator is not None:
            self.planner.generator.manual_seed(step_seed(self.online.seed, 3, self.env_step))
        self.model.eval()
        return to_env_action(self.model, self.policy(greedy=False)(state))

    # -- learning --------------------------------------------------------------------
    def _learn(self) -> dict[str, float]:
        """One world-model update and, for Dreamer, one behaviour update."""
        batch = self.trainer.sample()
        metrics = {k: float(v) for k, v in self.trainer.update(batch).items()}
        if self.behavior is not None:
            with torch.no_grad(), autocast(self.trainer.device, self.trainer.precision):
                start = self.model.observe_all(batch["obs"], batch["action"], batch["is_first"])
            count = batch["obs"].shape[0] * batch["obs"].shape[1]
            starts = self.behavior.config.starts
            start_continue = (~batch["terminated"]).float().flatten()
            if 0 < starts < count:
                index = torch.randperm(count, device=self.model.device)[:starts]
                start, start_continue = index_state(start, index), start_continue[index]
            metrics.update(self.behavior.update(self.model, start, start_continue))
        return metrics

    def _ready_to_learn(self) -> bool:
        return (
            self.env_step >= self.online.prefill
            and self.trainer.dataset.num_steps >= self.trainer.train.seq_len
        )

    def _learning(self) -> bool:
        """Past the prefill and the pretraining: the agent acts and learns as it goes."""
        return self.env_step >= self.online.prefill and self.pretrain_done >= self.online.pretrain

    def _pretraining_due(self) -> bool:
        """The prefill is in the replay and its pretraining updates are not all made yet."""
        return self._ready_to_learn() and not self._learning()

    def _pretrain(self, stop):
        """The pretraining updates, once the prefill is in the replay (between episodes).

        Interruptible and checkpointed every ``PRETRAIN_CHECKPOINT_EVERY`` updates, so a long
        pretraining phase resumes where it stopped."""
        while self.pretrain_done < self.online.pretrain and not stop.requested:
            yield self._learn()
            self.pretrain_done += 1
            if self.pretrain_done % PRETRAIN_CHECKPOINT_EVERY == 0:
                self.checkpoint()

    # -- the loop ----------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        """Play and learn until ``online.steps`` environment steps; returns a summary."""
        output_dir(self.out, "agent run")
        save_config(self.out / "config.json", self.config)
        write_json(self.out / "agent.json", self._agent_card())
        if checkpoint_dirs(self.out):
            self.restore()
        else:  # a run that died before its first checkpoint starts over, data and logs too
            self._drop_episodes_after_checkpoint()
            for log in ("metrics.jsonl", "eval.jsonl"):
                (self.out / log).unlink(missing_ok=True)
        totals: dict[str, float] = {}
        updates = 0
        self._clock = (time.perf_counter(), self.elapsed)
        interrupted = False
        with progress_bar(self.progress, extra="{task.fields[status]}") as bar:
            task = bar.add_task(
                f"{self.kind} on {self.config['data']['env_id']}",
                total=self.online.steps,
                completed=self.env_step,
                unit="env steps",
                status="",
            )
            with stop_on_sigint() as stop:
                while not stop.requested:
                    pretraining = self._pretraining_due()
                    if self.env_step >= self.online.steps and not pretraining:
                        break
                    for metrics in self._pretrain(stop) if pretraining else self._episode(stop):
                        for key, value in metrics.items():
                            totals[key] = totals.get(key, 0.0) + value
                        updates += 1
                        if updates % self.online.log_every == 0:
                            self._log({k: v / updates for k, v in totals.items()})
                            totals, updates = {}, 0
                        bar.update(task, completed=self.env_step, status=self._status())
                    self._tick()
                    bar.update(task, completed=self.env_step, status=self._status())
                    # Not between the prefill and its pretraining: that would score the
                    # untrained model. Episodes longer than eval_every give one evaluation.
                    if self.env_step >= self.next_eval and not self._pretraining_due():
                        if self.env_step < self.online.steps:  # the last one comes below
                            self.evaluate()
                        while self.next_eval <= self.env_step:
                            self.next_eval += self.online.eval_every
                    if self.env_step >= self.next_checkpoint:
                        self.checkpoint()
                        self.next_checkpoint += self.online.checkpoint_every
                interrupted = stop.requested
        self.checkpoint()
        final = self.evaluate(record=False) if not interrupted else None
        self.world.close()
        return {
            "env_steps": self.env_step,
            "episodes": self.episode,
            "updates": self.trainer.step,
            "seconds": self.elapsed,
            "interrupted": interrupted,
            "final": final,
        }

    def _episode(self, stop):
        """Play one episode, learning as it goes; yields each update's metrics."""
        o = self.online
        seed = o.seed + self.episode
        self.world.action_space.seed(seed)
        obs, info = self.world.reset(seed=seed)
        recorder = EpisodeRecorder(self.world.action_space, obs, info)
        belief = Filter(self.model)
        if self.planner is not None:
            self.planner.reset()  # no warm start from another episode
        torch.manual_seed(step_seed(o.seed, 2, self.episode))  # whatever ran before
        with torch.no_grad():
            state = belief.reset(obs)
        truncated = False
        while True:
            action = self._act(state, obs, self.world.action_space)
            obs, reward, terminated, truncated, info = self.world.step(action)
            recorder.add(action, obs, reward, terminated, info)
            self.env_step += 1
            if o.max_episode_steps and recorder.steps >= o.max_episode_steps:
                truncated = True
            if self._learning() and self._ready_to_learn():
                self.credit += o.train_ratio / (
                    self.trainer.train.batch_size * self.trainer.train.seq_len
                )
                while self.credit >= 1:
                    self.credit -= 1
                    yield self._learn()
            if terminated or truncated or stop.requested:
                break
            with torch.no_grad():
                state = belief.update(action, obs)
        arrays = recorder.arrays(truncated or not terminated)
        append_episode(self.replay, self.manifest, self.episode, arrays)
        self.trainer.dataset.refresh()
        self.episode += 1
        self.last_return = float(arrays["reward"].sum())

    def evaluate(self, record: bool = False) -> dict[str, Any]:
        """Real-world episodes with the greedy policy; appended to ``eval.jsonl``."""
        self.model.eval()
        torch.manual_seed(self.online.eval_seed)
        if self.planner is not None:
            self.planner.reset()
        result = play_in_world(
            self.model,
            self.policy(greedy=True),
            episodes=self.online.eval_episodes,
            seed=self.online.eval_seed,
            max_steps=self.online.max_episode_steps,
            record=record,
            progress=False,
            on_episode_start=self.planner.reset if self.planner is not None else None,
        )
        entry = {
            "env_step": self.env_step,
            "updates": self.trainer.step,
            "elapsed_s": round(self.elapsed, 2),
            **{k: result[k] for k in ("mean_return", "return_ci", "success_rate", "success_ci")},
            "returns": result["returns"],
        }
        with open(self.out / "eval.jsonl", "a") as file:
            file.write(json.dumps(entry) + "\n")
        self.last_eval = entry
        return result

    def _status(self) -> str:
        parts = []
        if self._pretraining_due():
            parts.append(f"pretraining {self.pretrain_done}/{self.online.pretrain}")
        if self.last_return is not None:
            parts.append(f"return={self.last_return:.3g}")
        if getattr(self, "last_eval", None):
            parts.append(f"eval={self.last_eval['mean_return']:.3g}")
            parts.append(f"success={self.last_eval['success_rate']:.0%}")
        return " ".join(parts)

    def _log(self, metrics: dict[str, float]) -> None:
        record = {"env_step": self.env_step, "step": self.trainer.step, **metrics}
        with open(self.out / "metrics.jsonl", "a") as file:
            file.write(json.dumps(record) + "\n")

    def _agent_card(self) -> dict[str, Any]:
        data = self.config["data"]
        return {
            "agent": self.kind,
            "env_id": data["env_id"],
            "env_kwargs": data["env_kwargs"],
            "world_model": ".",
        }

    # -- state -------------------------------------------------------------------------
    def _tick(self) -> None:
        """Bring ``elapsed`` (seconds of this run, over all its sessions) up to now."""
        started, before = self._clock
        self.elapsed = before + time.perf_counter() - started

    def checkpoint(self) -> Path:
        self._tick()
        state = {
            "optimizer": self.trainer.optimizer.state_dict(),
            "step": self.trainer.step,
            "elapsed": self.elapsed,
            "online": {
                "env_step": self.env_step,
                "episode": self.episode,
                "credit": self.credit,
                "pretrain_done": self.pretrain_done,
                "next_eval": self.next_eval,
                "next_checkpoint": self.next_checkpoint,
            },
        }
        if self.behavior is not None:
            state["behavior"] = self.behavior.full_state()
        return save_checkpoint(self.out, self.env_step, self.model, state, keep=2)

    def restore(self) -> None:
        _, weights, state, _ = resume_checkpoint(self.out)  # newest that verifies
        self.model.load_state_dict(weights)
        self.trainer.optimizer.load_state_dict(state["optimizer"])
        self.trainer.step, self.elapsed = state["step"], state.get("elapsed", 0.0)
        loop = state["online"]
        self.env_step, self.episode, self.credit = loop["env_step"], loop["episode"], loop["credit"]
        if "pretrain_done" in loop:
            self.pretrain_done = loop["pretrain_done"]
        else:  # a checkpoint from before pretraining was counted: all or nothing
            self.pretrain_done = self.online.pretrain if loop.get("pretrained") else 0
        self.next_eval, self.next_checkpoint = loop["next_eval"], loop["next_checkpoint"]
        if self.behavior is not None:
            self.behavior.load_full_state(state["behavior"])
        self._drop_episodes_after_checkpoint()

    def _drop_episodes_after_checkpoint(self) -> None:
        """Episodes played after the checkpoint are played again: remove their files."""
        dataset = self.trainer.dataset
        for path in [*dataset.paths, *dataset.corrupt]:
            if episode_index(path) >= self.episode:
                path.unlink()
        dataset = self.trainer.dataset = EpisodeDataset(self.replay)
        self.manifest.episodes, self.manifest.steps = len(dataset), dataset.num_steps
        self.manifest.save(self.replay)


def train_online(
    agent: str,
    env: str,
    steps: int,
    out: str | Path,
    preset: str | None = None,
    overrides: dict[str, Any] | None = None,
    env_kwargs: dict[str, Any] | None = None,
    resume: bool = False,
    progress: bool = True,
    family: str = "rssm",
) -> dict[str, Any]:
    """Python API of ``worldlab agent train dreamer|mpc``: train (or resume) an online agent
    with a world model of ``family`` (a resumed run keeps its own)."""
    out = Path(out)
    if checkpoint_dirs(out):
        if not resume:
            raise WorldlabError(
                f"'{out}' already holds an agent run; pass --resume to continue it "
                "or choose another --out"
            )
        config = load_config(out)
        saved = config.get("agent", {})
        if saved.get("kind") != agent:
            raise WorldlabError(f"--resume: '{out}' is a '{saved.get('kind')}' run, not '{agent}'")
        resume_settings(config, env, preset, overrides or {}, env_kwargs)
        config["agent"]["online"]["steps"] = steps
    else:
        config = agent_config(agent, env, steps, preset, overrides, env_kwargs, family)
    return OnlineRun(out, config, progress).run()


def resume_settings(
    config: dict[str, Any],
    env: str,
    preset: str | None,
    overrides: dict[str, Any],
    env_kwargs: dict[str, Any] | None,
) -> None:
    """Apply the command line of a resumed run to its saved ``config``: settings that only
    change how it proceeds are taken, anything that would change what it learns is refused
    (rather than silently ignored)."""
    sections = {**config, **config["agent"]}  # online, behavior and planner live under agent
    explicit = dict(overrides)
    if preset is not None:
        explicit["preset"] = preset
    if resolve_env_id(env) != config["data"]["env_id"]:
        explicit["online.env"] = env
    if env_kwargs and env_kwargs != config["data"]["env_kwargs"]:
        explicit["data.env_kwargs"] = env_kwargs
    check_resume(sections, explicit, ONLINE_RESUMABLE)
    for dotted, value in overrides.items():
        section, _, name = dotted.partition(".")
        sections[section][name] = value


def load_online_agent(run: str | Path, planner: dict[str, Any] | None = None):
    """``(model, greedy policy, on_episode_start)`` of a Dreamer or MPC run, for ``worldlab
    agent eval``; ``planner`` replaces some of an MPC run's planner settings."""
    config = load_config(run)
    agent = config["agent"]
    # One verified checkpoint for both: the behaviour must match the world model it acts in.
    model, state = load_with_state(run, with_trainer=agent["kind"] == "dreamer")
    if agent["kind"] == "dreamer":
        behavior = ActorCritic(model, BehaviorConfig(**agent["behavior"])).to(model.device)
        behavior.load_full_state(state["behavior"])
        behavior.eval()

        def policy(belief):
            return behavior.actor.act(model.features(belief).float(), sample=False)

        return model, policy, None
    from worldlab.agents.mpc import make_planner, mpc_policy

    settings = {**agent["planner"], **(planner or {})}
    unknown = sorted(set(settings) - {f.name for f in dataclasses.fields(PlannerConfig)})
    if unknown:
        raise WorldlabError(f"unknown planner settings {unknown}; see PlannerConfig")
    planner = make_planner(model, PlannerConfig(**settings), agent["online"]["seed"])
    return model, mpc_policy(model, planner), planner.reset
