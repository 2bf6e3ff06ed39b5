"""C of World Models: a linear controller evolved with CMA-ES inside a world model's dream.

Ha & Schmidhuber (2018) keep the controller tiny, ``a = W [z, h] + b`` (867 parameters on
CarRacing), so that a black-box evolution strategy can train it: each CMA-ES candidate is
scored by its mean return over rollouts. By default the rollouts run *inside the model*
(``DreamEnv``, as the paper's VizDoom agent learned), the whole population in one batched
``DreamEnv`` of ``population × rollouts`` imagined episodes; with ``fitness="real"`` they
are real episodes, as the paper's CarRacing agent learned. Either way the controller then
acts in the real world through the model's filtered state (``play_in_world``).

``inputs="z"`` gives C only V's latent, not M's hidden state: "C on V alone", the paper's
ablation (and ctallec's reimplementation's finding that an untrained M scores as well).
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import math
from pathlib import Path
from typing import Any

import cma
import numpy as np
import torch

from worldlab.agents.dream_env import DreamEnv
from worldlab.agents.rollout import Policy, play_in_world
from worldlab.data import EpisodeDataset
from worldlab.data.episode import atomic_write_bytes
from worldlab.data.policies import POLICIES
from worldlab.errors import WorldlabError
from worldlab.models import WorldModel
from worldlab.progress import progress_bar

FITNESS = ("dream", "real")
INPUTS = ("zh", "z")


@dataclasses.dataclass
class VMCAgentConfig:
    """Settings of the controller search and of the pipeline around it (paper values noted)."""

    # CMA-ES (paper: population 64, 16 rollouts per candidate, sigma_init 0.1)
    population: int = 64
    sigma0: float = 0.1
    generations: int = 50
    rollouts: int = 16  # rollouts per candidate; fitness = their mean return
    horizon: int = 100  # steps per rollout (imagined, or real with fitness="real")
    fitness: str = "dream"  # where candidates are scored: "dream" or "real" (paper's CarRacing)
    inputs: str = "zh"  # what C reads: "zh" (V's z and M's h, the paper) or "z" (V alone)
    context: int = 5  # real frames the model observes before each dream starts
    temperature: float | None = None  # τ while dreaming; None keeps the model's own
    continue_threshold: float = 0.5  # a dream episode ends when p(continue) falls below
    final_rollouts: int = 256  # re-scores CMA-ES's mean and best candidate to pick C
    # pipeline
    collect_policy: str = "brownian"  # random | sticky | brownian (worldlab.data.policies)
    size: int = 64  # frame side collected and modelled (a multiple of 16)
    max_episode_steps: int | None = None  # cut collected episodes after this many steps
    env_kwargs: dict | None = None
    train_steps: int | None = None  # world-model gradient steps; None: scaled to the data
    eval_episodes: int = 20
    eval_seed: int | None = None  # first real episode's seed; None: 1_000_000 + seed
    baseline: bool = True  # also play a random policy on the same seeds

    def check(self) -> None:
        for name in ("population", "generations", "rollouts", "horizon", "context"):
            if getattr(self, name) < 1:
                raise WorldlabError(f"{name} must be ≥ 1, got {getattr(self, name)}")
        if self.population < 2:
            raise WorldlabError("population must be ≥ 2 for CMA-ES")
        if self.collect_policy not in POLICIES:
            raise WorldlabError(
                f"collect_policy must be one of {', '.join(POLICIES)}, got '{self.collect_policy}'"
            )
        if self.sigma0 <= 0:
            raise WorldlabError(f"sigma0 must be > 0, got {self.sigma0}")
        if self.fitness not in FITNESS:
            choices = ", ".join(FITNESS)
            raise WorldlabError(f"fitness must be one of {choices}, got '{self.fitness}'")
        if self.inputs not in INPUTS:
            raise WorldlabError(
                f"inputs must be 'zh' (V's z and M's h) or 'z' (V alone), got '{self.inputs}'"
            )


def split_overrides(overrides: dict[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split ``--set`` values into world-model overrides (``model.*``, ``train.*``) and agent
    settings (``agent.FIELD`` or ``vmc.FIELD`` → ``{"FIELD": value}``)."""
    model_overrides, settings = {}, {}
    for dotted, value in (overrides or {}).items():
        section, _, name = dotted.partition(".")
        if section in ("agent", "vmc") and name:
            settings[name] = value
        else:
            model_overrides[dotted] = value
    return model_overrides, settings


def vmc_agent_config(settings: dict[str, Any]) -> VMCAgentConfig:
    """A ``VMCAgentConfig`` from keyword settings, with a clear error for unknown names."""
    fields = {f.name for f in dataclasses.fields(VMCAgentConfig)}
    unknown = sorted(set(settings) - fields)
    if unknown:
        raise WorldlabError(
            f"unknown vmc agent setting(s) {', '.join(unknown)}: choose from "
            f"{', '.join(sorted(fields))}"
        )
    config = VMCAgentConfig(**settings)
    config.check()
    return config


# -- the controller ------------------------------------------------------------------
@dataclasses.dataclass
class LinearController:
    """``a = tanh(W f + b)`` (continuous) or ``argmax(W f + b)`` (discrete), ``f = [z, h]``,
    or ``f = z`` alone: C reads the first ``W.shape[1]`` of the model's features."""

    weight: np.ndarray  # [A, F]
    bias: np.ndarray  # [A]
    kind: str  # "continuous" | "discrete"

    @staticmethod
    def size(features: int, outputs: int) -> int:
        """Number of parameters: the length of CMA-ES's search vector."""
        return outputs * features + outputs

    @classmethod
    def from_vector(cls, vector: np.ndarray, features: int, outputs: int, kind: str):
        vector = np.asarray(vector, np.float32)
        weight = vector[: outputs * features].reshape(outputs, features)
        return cls(weight, vector[outputs * features :].copy(), kind)

    def act(self, features: torch.Tensor) -> torch.Tensor:
        """``features [N, ≥F]`` → actions ``[N, A]`` float32 in [-1, 1] or ``[N]`` int64."""
        weight = torch.as_tensor(self.weight, device=features.device)
        bias = torch.as_tensor(self.bias, device=features.device)
        return _squash(features[:, : weight.shape[1]].float() @ weight.T + bias, self.kind)

    def save(self, path: Path) -> None:
        """Write atomically as ``.npz`` (weight, bias, kind)."""
        buffer = io.BytesIO()
        np.savez(buffer, weight=self.weight, bias=self.bias, kind=np.array(self.kind))
        atomic_write_bytes(Path(path), lambda file: file.write(buffer.getvalue()))

    @classmethod
    def load(cls, path: Path) -> LinearController:
        try:
            with np.load(Path(path), allow_pickle=False) as arrays:
                return cls(arrays["weight"], arrays["bias"], str(arrays["kind"]))
        except (OSError, KeyError, ValueError) as error:
            raise WorldlabError(f"cannot read the controller {path} ({error})") from None


def _squash(logits: torch.Tensor, kind: str) -> torch.Tensor:
    return torch.tanh(logits) if kind == "continuous" else logits.argmax(-1)


def controller_shape(model: WorldModel, inputs: str = "zh") -> tuple[int, int, str]:
    """``(features, outputs, kind)`` of a controller for ``model`` reading ``inputs``."""
    spec = model.action_spec
    if spec.kind == "none":
        raise WorldlabError(
            "this world model was trained without actions: a controller has nothing to drive"
        )
    outputs = spec.n if spec.kind == "discrete" else spec.dims
    if inputs == "zh":
        return model.feature_dims, outputs, spec.kind
    z_dims = getattr(model, "z_dims", None)  # V's part of the features, which comes first
    if z_dims is None:
        raise WorldlabError(
            f"inputs='z' (C on V alone) needs a vmc world model, not {type(model).__name__}"
        )
    return z_dims, outputs, spec.kind


def controller_policy(model: WorldModel, controller: LinearController) -> Policy:
    """The policy ``state → controller(model.features(state))`` for ``play_in_world``."""

    def act(state: Any) -> torch.Tensor:
        return controller.act(model.features(state))

    return act


def random_policy(model: WorldModel, seed: int = 0) -> Policy:
    """Uniformly random actions from a seeded generator (the baseline), in [-1, 1] like every
    policy's."""
    generator = torch.Generator().manual_seed(seed)
    spec = model.action_spec
    return lambda state: spec.to_unit(spec.random((1,), generator))


# -- fitness in the dream --------------------------------------------------------------
def dream_temperature(model: WorldModel, temperature: float | None):
    """Imagine at ``temperature`` inside the block (models without one are left alone)."""
    names = {option.name for option in model.sampling_options}
    if temperature is None or "temperature" not in names:
        return contextlib.nullcontext(model)
    return model.sampling(temperature=temperature)


@torch.no_grad()
def dream_fitness(
    model: WorldModel,
    dataset: EpisodeDataset,
    candidates: np.ndarray,
    config: VMCAgentConfig,
    seed: int,
    rollouts: int | None = None,
) -> np.ndarray:
    """Mean dream return of each controller in ``candidates [K, D]``: ``[K]``.

    All ``K × rollouts`` imagined episodes run as one batched ``DreamEnv``; an episode's
    return stops accumulating when it terminates or reaches ``config.horizon`` steps.
    """
    features, outputs, kind = controller_shape(model, config.inputs)
    rollouts = rollouts or config.rollouts
    count = len(candidates)
    params = torch.as_tensor(np.asarray(candidates), dtype=torch.float32)
    weight = params[:, : outputs * features].reshape(count, outputs, features)
    bias = params[:, outputs * features :].reshape(count, 1, outputs)
    env = DreamEnv(
        model,
        dataset,
        num_envs=count * rollouts,
        context=config.context,
        max_steps=config.horizon,
        observation="features",
        continue_threshold=config.continue_threshold,
    )
    with dream_temperature(model, config.temperature):
        obs, _ = env.reset(seed=seed)
        totals = np.zeros(count * rollouts)
        running = np.ones(count * rollouts, bool)
        for _ in range(config.horizon):
            grouped = torch.from_numpy(obs).reshape(count, rollouts, -1)[..., :features]
            logits = torch.einsum("krf,kaf->kra", grouped, weight) + bias
            actions = _squash(logits, kind).flatten(0, 1)  # [K·R, A] or [K·R]
            obs, reward, terminated, truncated, _ = env.step(actions.numpy())
            totals += reward * running
            running &= ~(terminated | truncated)
            if not running.any():
                break
    return totals.reshape(count, rollouts).mean(1)


@torch.no_grad()
def real_fitness(
    model: WorldModel,
    candidates: np.ndarray,
    config: VMCAgentConfig,
    seed: int,
    rollouts: int | None = None,
) -> tuple[np.ndarray, int]:
    """Mean real return of each controller in ``candidates [K, D]`` over ``rollouts``
    episodes of at most ``config.horizon`` steps (the same seeds for every candidate),
    acting through the model's filtered state: ``([K], real steps played)``."""
    features, outputs, kind = controller_shape(model, config.inputs)
    rollouts = rollouts or config.rollouts
    scores, steps = [], 0
    for vector in candidates:
        controller = LinearController.from_vector(vector, features, outputs, kind)
        result = play_in_world(
            model, controller_policy(model, controller), episodes=rollouts, seed=seed,
            max_steps=config.horizon, progress=False,
        )  # fmt: skip
        scores.append(result["mean_return"])
        steps += int(sum(result["lengths"]))
    return np.array(scores), steps


def _fitness(model, dataset, candidates, config, seed, rollouts=None) -> tuple[np.ndarray, int]:
    """``config.fitness``'s scores of ``candidates`` and the real steps that cost."""
    if config.fitness == "real":
        return real_fitness(model, candidates, config, seed, rollouts)
    return dream_fitness(model, dataset, candidates, config, seed, rollouts), 0


def _generation_seed(seed: int, generation: int) -> int:
    return int(np.random.SeedSequence([seed, generation]).generate_state(1)[0] % 2**31)


def evolve_controller(
    model: WorldModel,
    dataset: EpisodeDataset,
    config: VMCAgentConfig,
    seed: int = 0,
    progress: bool = True,
) -> tuple[LinearController, list[dict[str, float]], dict[str, Any]]:
    """Run CMA-ES on the controller's parameters with dream (or, with ``fitness="real"``,
    real) returns as fitness.

    Returns the chosen controller, one record per generation (best and mean fitness of
    the population, CMA-ES's step size, real steps played so far) and the final choice:
    CMA-ES's mean or the best candidate ever seen, whichever scores higher on
    ``final_rollouts`` fresh rollouts (a single candidate's best score is optimistic: it
    was the luckiest of many).
    """
    features, outputs, kind = controller_shape(model, config.inputs)
    dims = LinearController.size(features, outputs)
    # cma reads seed 0 as "seed from the clock": shift by one to stay reproducible.
    options = {"popsize": config.population, "seed": seed + 1, "verbose": -9}
    strategy = cma.CMAEvolutionStrategy(np.zeros(dims), config.sigma0, options)
    history: list[dict[str, float]] = []
    best_vector, best_fitness = np.zeros(dims), -math.inf
    where = "in the dream" if config.fitness == "dream" else "in the real world"
    real_steps = 0
    with progress_bar(progress, extra="{task.fields[status]}") as bar:
        task = bar.add_task(
            f"evolve C {where}", total=config.generations, unit="generations", status=""
        )
        for generation in range(config.generations):
            candidates = np.asarray(strategy.ask())
            fitness, steps = _fitness(
                model, dataset, candidates, config, _generation_seed(seed, generation)
            )
            real_steps += steps
            strategy.tell(list(candidates), (-fitness).tolist())  # cma minimises
            if fitness.max() > best_fitness:
                best_fitness, best_vector = float(fitness.max()), candidates[fitness.argmax()]
            record = {
                "generation": generation + 1,
                "best": float(fitness.max()),
                "mean": float(fitness.mean()),
                "sigma": float(strategy.sigma),
                "real_steps": real_steps,
            }
            history.append(record)
            bar.update(
                task, advance=1, status=f"best={record['best']:.3g} mean={record['mean']:.3g}"
            )
    finalists = np.stack([strategy.result.xfavorite, best_vector])
    scores, steps = _fitness(
        model,
        dataset,
        finalists,
        config,
        _generation_seed(seed, config.generations),
        config.final_rollouts,
    )
    choice = int(scores.argmax())
    final = {
        "mean_fitness": float(scores[0]),
        "best_candidate_fitness": float(scores[1]),
        "chosen": ("cma_mean", "best_candidate")[choice],
        "rollouts": config.final_rollouts,
        "real_steps": real_steps + steps,  # played by the search (0 in the dream)
    }
    controller = LinearController.from_vector(finalists[choice], features, outputs, kind)
    return controller, history, final
