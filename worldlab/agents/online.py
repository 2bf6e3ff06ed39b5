"""The online loop: act in a real world, grow a replay dataset, learn from it, repeat.

``agent train dreamer`` and ``agent train mpc`` both run this loop; they differ in how
they act (Dreamer's actor vs. a planner inside the model) and in what they learn
(Dreamer also trains its actor-critic in imagination): ``online_agents.py``. One update
trains the world model on a replayed batch and then, for Dreamer, the behaviour on
trajectories imagined from that batch's posterior states. Updates run at a fixed replay
ratio: ``train_ratio`` replayed steps (batch × sequence) per environment step.

A run directory is a world-model run (``worldlab.load``, ``evaluate``, ``imagine`` and
``play`` work on it) plus::

    agent.json     what the agent is and its settings (read by ``worldlab agent eval``)
    replay/        the replay data, a standard dataset: every finished episode (replay.py)
    eval.jsonl     the learning curve: real-world return and success per evaluation

Its config is built in ``online_config.py``. Checkpoints are the Trainer's, taken at
episode ends and named by environment step; beside the world model and its optimiser
they hold the loop's counters (``"online"``) and Dreamer's behaviour (``"behavior"``).
Episodes played after the last checkpoint are dropped on resume (they are played
again), so a resumed run repeats exactly what the uninterrupted run would have done.
Ctrl-C stores the episode in progress as a truncated episode and checkpoints before
exiting (a run resumed after Ctrl-C goes on from there, so it differs from an
uninterrupted one by that cut episode).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from worldlab.agents.kinds import AGENT_FILE, TrainRequest, agent_kind
from worldlab.agents.online_agents import load_online_agent
from worldlab.agents.online_config import (
    REPLAY,
    OnlineAgentSettings,
    online_agent_card,
    online_run_config,
)
from worldlab.agents.online_log import OnlineLog
from worldlab.agents.replay import Replay
from worldlab.agents.rollout import Filter, play_in_world, to_env_action
from worldlab.data.collect import EpisodeRecorder
from worldlab.data.episode import write_json
from worldlab.data.policies import make_policy
from worldlab.paths import output_dir
from worldlab.progress import progress_bar
from worldlab.train.checkpoint import checkpoint_dirs
from worldlab.train.config import load_config, save_config
from worldlab.train.run_config import RunConfig
from worldlab.train.trainer import Trainer, step_seed, stop_on_sigint
from worldlab.worlds import make_env

PRETRAIN_CHECKPOINT_EVERY = 500  # pretraining updates between checkpoints
# Imported from here by older code: load_online_agent (online_agents.py), load_config.
__all__ = ["OnlineRun", "load_config", "load_online_agent", "train_online", "train_requested"]


class OnlineRun:
    """One online agent run in ``out``; ``run()`` trains it (resuming when it can)."""

    def __init__(
        self,
        out: str | Path,
        config: dict[str, Any],
        settings: OnlineAgentSettings,
        progress: bool = True,
    ):
        self.out = Path(out)
        self.config = RunConfig.from_dict(config)
        self.settings = settings
        self.kind = settings.kind
        self.online = settings.online
        self.progress = progress
        data = self.config.data
        data.path = str((self.out / REPLAY).resolve())
        self.world = make_env(data.env_id, size=self.online.size, **data.env_kwargs)
        self.replay = Replay(self.out / REPLAY, data.env_id, self.world, data.env_kwargs)
        self.trainer = Trainer(self.out, self.config, progress=False, dataset=self.replay.dataset)
        self.model = self.trainer.model
        self.model.run_config = self.config.to_dict()
        self.agent = agent_kind(self.kind).resolve("online_agent")(self.model, settings)
        self.trainer.extra_state["online"] = self  # the loop's counters: state_dict below
        if self.agent.state_key is not None:
            self.trainer.extra_state[self.agent.state_key] = self.agent
        self.explore = make_policy(self.online.prefill_policy)
        self.log = OnlineLog(self.out)
        self.env_step, self.episode, self.credit = 0, 0, 0.0
        self.exploring = False  # this episode is played by the exploration policy
        self.pretrain_done = 0  # pretraining updates made so far
        self.next_eval = self.online.eval_every
        self.next_checkpoint = self.online.checkpoint_every
        self.last_return: float | None = None
        self._clock = (time.perf_counter(), 0.0)  # (when this session started, elapsed before)

    @property
    def elapsed(self) -> float:
        """Seconds of this run, over all its sessions (kept, and checkpointed, by the Trainer)."""
        return self.trainer.elapsed

    # -- acting ----------------------------------------------------------------------
    @torch.no_grad()
    def _act(self, state: Any, obs: Any, space) -> Any:
        if self.exploring or not self._learning():
            return self.explore(obs, space)
        torch.manual_seed(step_seed(self.online.seed, 1, self.env_step))
        self.agent.seed(step_seed(self.online.seed, 3, self.env_step))
        self.model.eval()
        return to_env_action(self.model, self.agent.policy(greedy=False)(state))

    def _explores(self, episode: int) -> bool:
        """Whether ``episode``, once learning has started, is played by the exploration
        policy (a share ``online.explore_share`` of them, drawn from the run's seed)."""
        share = self.online.explore_share
        return share > 0 and np.random.default_rng([self.online.seed, 4, episode]).random() < share

    def _start_episode(self) -> None:
        if self.agent.on_episode_start is not None:
            self.agent.on_episode_start()

    # -- learning --------------------------------------------------------------------
    def _learn(self) -> dict[str, float]:
        """One world-model update and, for Dreamer, one behaviour update."""
        batch = self.trainer.sample()
        metrics = {k: float(v) for k, v in self.trainer.update(batch).items()}
        metrics.update(self.agent.learn(batch, self.trainer))
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
        saved = self.config.to_dict()
        save_config(self.out / "config.json", saved)
        write_json(self.out / AGENT_FILE, online_agent_card(saved, self.settings))
        if checkpoint_dirs(self.out):
            self.restore()
        else:  # a run that died before its first checkpoint starts over, data and logs too
            self.replay.keep_first(0)
            self.log.clear()
        totals: dict[str, float] = {}
        updates = 0
        self._clock = (time.perf_counter(), self.elapsed)
        interrupted = False
        with progress_bar(self.progress, extra="{task.fields[status]}") as bar:
            task = bar.add_task(
                f"{self.kind} on {self.config.data.env_id}",
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
                            means = {k: v / updates for k, v in totals.items()}
                            self.log.metrics(self.env_step, self.trainer.step, means)
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
        self.exploring = self._learning() and self._explores(self.episode)
        self._start_episode()
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
        self.replay.append(self.episode, arrays)
        self.episode += 1
        self.last_return = float(arrays["reward"].sum())

    def evaluate(self, record: bool = False) -> dict[str, Any]:
        """Real-world episodes with the greedy policy; appended to ``eval.jsonl``."""
        self.model.eval()
        torch.manual_seed(self.online.eval_seed)
        self._start_episode()
        result = play_in_world(
            self.model,
            self.agent.policy(greedy=True),
            episodes=self.online.eval_episodes,
            seed=self.online.eval_seed,
            max_steps=self.online.max_episode_steps,
            record=record,
            progress=False,
            on_episode_start=self.agent.on_episode_start,
        )
        self.log.evaluation(self.env_step, self.trainer.step, self.elapsed, result)
        return result

    def _status(self) -> str:
        parts = []
        if self._pretraining_due():
            parts.append(f"pretraining {self.pretrain_done}/{self.online.pretrain}")
        if self.last_return is not None:
            parts.append(f"return={self.last_return:.3g}")
        if self.log.last_eval:
            parts.append(f"eval={self.log.last_eval['mean_return']:.3g}")
            parts.append(f"success={self.log.last_eval['success_rate']:.0%}")
        return " ".join(parts)

    # -- state -------------------------------------------------------------------------
    def _tick(self) -> None:
        """Bring ``elapsed`` (seconds of this run, over all its sessions) up to now."""
        started, before = self._clock
        self.trainer.elapsed = before + time.perf_counter() - started

    def checkpoint(self) -> Path:
        self._tick()
        return self.trainer.checkpoint(number=self.env_step)

    def restore(self) -> None:
        """The newest checkpoint that verifies: the Trainer loads it, counters and behaviour
        included (``extra_state``); then the replay forgets what came after it."""
        self.trainer.restore()
        self.replay.keep_first(self.episode)

    def state_dict(self) -> dict[str, Any]:
        """The loop's counters, for a checkpoint (the Trainer's ``extra_state["online"]``)."""
        return {
            "env_step": self.env_step,
            "episode": self.episode,
            "credit": self.credit,
            "pretrain_done": self.pretrain_done,
            "next_eval": self.next_eval,
            "next_checkpoint": self.next_checkpoint,
        }

    def load_state_dict(self, loop: dict[str, Any]) -> None:
        self.env_step, self.episode, self.credit = loop["env_step"], loop["episode"], loop["credit"]
        if "pretrain_done" in loop:
            self.pretrain_done = loop["pretrain_done"]
        else:  # a checkpoint from before pretraining was counted: all or nothing
            self.pretrain_done = self.online.pretrain if loop.get("pretrained") else 0
        self.next_eval, self.next_checkpoint = loop["next_eval"], loop["next_checkpoint"]


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
    config, settings = online_run_config(
        agent, env, steps, out, preset, overrides, env_kwargs, resume, family
    )
    return OnlineRun(out, config, settings, progress).run()


def train_requested(kind: str, request: TrainRequest) -> dict[str, Any] | None:
    """``worldlab agent train dreamer|mpc``; the final evaluation (None after Ctrl-C)."""
    env, steps = request.world(kind)
    overrides = dict(request.overrides)
    if request.seed is not None or not request.resume:  # a resumed run keeps its own seed
        overrides.setdefault("online.seed", request.seed_or_default)
        # model initialisation, replay sampling
        overrides.setdefault("train.seed", request.seed_or_default)
    summary = train_online(
        kind,
        env,
        steps,
        request.out,
        request.preset,
        overrides,
        request.env_kwargs,
        request.resume,
        progress=request.progress,
        family=request.family,
    )
    return summary["final"]
