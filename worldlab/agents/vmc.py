"""C of World Models: a linear controller evolved with CMA-ES inside a world model's dream.

Ha & Schmidhuber (2018) keep the controller tiny, ``a = W [z, h] + b`` (867 parameters on
CarRacing), so that a black-box evolution strategy can train it: each CMA-ES candidate is
scored by its mean return over rollouts, here rollouts *inside the model*
(``DreamEnv``), and the best controller then acts in the real world through the model's
filtered state (``play_in_world``). The whole population is scored in one batched
``DreamEnv`` of ``population × rollouts`` imagined episodes.

``train_vmc_agent`` is the one-command pipeline behind ``worldlab agent train vmc``:
collect random experience → train the ``vmc`` world model → evolve C in the dream →
evaluate in the real world. Every stage writes its result atomically and a rerun into
the same directory reuses finished stages.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cma
import gymnasium
import numpy as np
import torch

from worldlab.agents.dream_env import DreamEnv
from worldlab.agents.rollout import Policy, play_in_world
from worldlab.data import EpisodeDataset, collect
from worldlab.data.episode import atomic_write_bytes
from worldlab.errors import WorldlabError
from worldlab.models import WorldModel
from worldlab.progress import progress_bar

AGENT_FILE, CONTROLLER_FILE, EVAL_FILE = "agent.json", "controller.npz", "eval.json"
DATA_DIR, MODEL_DIR = "data", "world_model"


@dataclasses.dataclass
class VMCAgentConfig:
    """Settings of the controller search and of the pipeline around it (paper values noted)."""

    # CMA-ES (paper: population 64, 16 rollouts per candidate, sigma_init 0.1)
    population: int = 64
    sigma0: float = 0.1
    generations: int = 50
    rollouts: int = 16  # dream rollouts per candidate; fitness = their mean return
    horizon: int = 100  # imagined steps per rollout
    context: int = 5  # real frames the model observes before each dream starts
    temperature: float | None = None  # τ while dreaming; None keeps the model's own
    continue_threshold: float = 0.5  # a dream episode ends when p(continue) falls below
    final_rollouts: int = 256  # re-scores CMA-ES's mean and best candidate to pick C
    # pipeline
    collect_policy: str = "brownian"  # "brownian" (drifting random actions) or "random"
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
        if self.collect_policy not in COLLECT_POLICIES:
            raise WorldlabError(
                f"collect_policy must be one of {', '.join(COLLECT_POLICIES)}, "
                f"got '{self.collect_policy}'"
            )
        if self.sigma0 <= 0:
            raise WorldlabError(f"sigma0 must be > 0, got {self.sigma0}")


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


def agent_config(settings: dict[str, Any]) -> VMCAgentConfig:
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
    """``a = tanh(W f + b)`` (continuous) or ``argmax(W f + b)`` (discrete), ``f = [z, h]``."""

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
        """``features [N, F]`` → actions ``[N, A]`` float32 in [-1, 1] or ``[N]`` int64."""
        weight = torch.as_tensor(self.weight, device=features.device)
        bias = torch.as_tensor(self.bias, device=features.device)
        return _squash(features.float() @ weight.T + bias, self.kind)

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


def controller_shape(model: WorldModel) -> tuple[int, int, str]:
    """``(features, outputs, kind)`` of a controller for ``model``."""
    spec = model.action_spec
    if spec.kind == "none":
        raise WorldlabError(
            "this world model was trained without actions: a controller has nothing to drive"
        )
    outputs = spec.n if spec.kind == "discrete" else spec.dims
    return model.feature_dims, outputs, spec.kind


def controller_policy(model: WorldModel, controller: LinearController) -> Policy:
    """The policy ``state → controller(model.features(state))`` for ``play_in_world``."""

    def act(state: Any) -> torch.Tensor:
        return controller.act(model.features(state))

    return act


def random_policy(model: WorldModel, seed: int = 0) -> Policy:
    """Uniformly random actions from a seeded generator (the baseline)."""
    generator = torch.Generator().manual_seed(seed)
    return lambda state: model.action_spec.random((1,), generator)


# -- fitness in the dream --------------------------------------------------------------
@contextlib.contextmanager
def dream_temperature(model: WorldModel, temperature: float | None) -> Iterator[None]:
    """Temporarily imagine at ``temperature`` (models without one are left alone)."""
    config = model.config
    if temperature is None or not hasattr(config, "temperature"):
        yield
        return
    saved = config.temperature
    config.temperature = temperature
    try:
        yield
    finally:
        config.temperature = saved


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
    features, outputs, kind = controller_shape(model)
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
            grouped = torch.from_numpy(obs).reshape(count, rollouts, features)
            logits = torch.einsum("krf,kaf->kra", grouped, weight) + bias
            actions = _squash(logits, kind).flatten(0, 1)  # [K·R, A] or [K·R]
            obs, reward, terminated, truncated, _ = env.step(actions.numpy())
            totals += reward * running
            running &= ~(terminated | truncated)
            if not running.any():
                break
    return totals.reshape(count, rollouts).mean(1)


def _generation_seed(seed: int, generation: int) -> int:
    return int(np.random.SeedSequence([seed, generation]).generate_state(1)[0] % 2**31)


def evolve_controller(
    model: WorldModel,
    dataset: EpisodeDataset,
    config: VMCAgentConfig,
    seed: int = 0,
    progress: bool = True,
) -> tuple[LinearController, list[dict[str, float]], dict[str, Any]]:
    """Run CMA-ES on the controller's parameters with dream returns as fitness.

    Returns the chosen controller, one record per generation (best and mean fitness of
    the population, CMA-ES's step size) and the final choice: CMA-ES's mean or the best
    candidate ever seen, whichever scores higher on ``final_rollouts`` fresh dreams (a
    single candidate's best score is optimistic: it was the luckiest of many).
    """
    features, outputs, kind = controller_shape(model)
    dims = LinearController.size(features, outputs)
    # cma reads seed 0 as "seed from the clock": shift by one to stay reproducible.
    options = {"popsize": config.population, "seed": seed + 1, "verbose": -9}
    strategy = cma.CMAEvolutionStrategy(np.zeros(dims), config.sigma0, options)
    history: list[dict[str, float]] = []
    best_vector, best_fitness = np.zeros(dims), -math.inf
    with progress_bar(progress, extra="{task.fields[status]}") as bar:
        task = bar.add_task(
            "evolve C in the dream", total=config.generations, unit="generations", status=""
        )
        for generation in range(config.generations):
            candidates = np.asarray(strategy.ask())
            fitness = dream_fitness(
                model, dataset, candidates, config, _generation_seed(seed, generation)
            )
            strategy.tell(list(candidates), (-fitness).tolist())  # cma minimises
            if fitness.max() > best_fitness:
                best_fitness, best_vector = float(fitness.max()), candidates[fitness.argmax()]
            record = {
                "generation": generation + 1,
                "best": float(fitness.max()),
                "mean": float(fitness.mean()),
                "sigma": float(strategy.sigma),
            }
            history.append(record)
            bar.update(
                task, advance=1, status=f"best={record['best']:.3g} mean={record['mean']:.3g}"
            )
    finalists = np.stack([strategy.result.xfavorite, best_vector])
    scores = dream_fitness(
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
    }
    controller = LinearController.from_vector(finalists[choice], features, outputs, kind)
    return controller, history, final


# -- the pipeline ----------------------------------------------------------------------
COLLECT_POLICIES = ("brownian", "random")


class BrownianPolicy:
    """A random policy whose actions drift instead of jumping every step.

    Continuous actions follow a clipped random walk, ``a_t = clip(a_{t-1} + N(0, step²))``;
    discrete ones repeat the previous action with probability ``1 - step``. White-noise
    actions (``"random"``, the paper's) barely move a body with inertia; drifting ones
    cover fast motion too, as ctallec/world-models' "brownian" data policy does.

    Each episode restarts from a uniform draw: ``collect`` re-seeds the action space at
    every episode start, which is how a new episode is recognised, so episode ``i``
    stays a function of its own seed.
    """

    def __init__(self, step: float = 0.3):
        self.step = step
        self._rng: Any = None
        self._action: Any = None

    def __call__(self, obs: np.ndarray, space: gymnasium.Space) -> Any:
        rng = space.np_random
        if rng is not self._rng:  # a new episode: collect re-seeded the space
            self._rng, self._action = rng, space.sample()
        elif isinstance(space, gymnasium.spaces.Discrete):
            if rng.random() < self.step:
                self._action = space.sample()
        else:
            noise = rng.normal(0.0, self.step, space.shape)
            self._action = np.clip(self._action + noise, space.low, space.high).astype(space.dtype)
        return self._action


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
            policy=BrownianPolicy() if config.collect_policy == "brownian" else "random",
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


def _write_json(path: Path, record: dict[str, Any]) -> None:
    text = json.dumps(record, indent=2) + "\n"
    atomic_write_bytes(path, lambda file: file.write(text.encode()))


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise WorldlabError(
            f"'{path.parent}' is not a vmc agent run: {path.name} is missing"
        ) from None
    except json.JSONDecodeError as error:
        raise WorldlabError(f"{path} is corrupt ({error})") from None


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
    ``vmc`` model into ``out/world_model``, evolve C with CMA-ES in its dream
    (``out/controller.npz``, ``out/agent.json``), then play real episodes (``out/eval.json``).

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
    config = agent_config({**from_overrides, **settings})
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
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
            **dataclasses.asdict(config),
            "controller_parameters": int(controller.weight.size + controller.bias.size),
            "dream_fitness": history,
            "dream_final": final,
        }
        _write_json(agent_path, agent)
        stages["controller"] = "evolved"

    eval_path = out / EVAL_FILE
    if eval_path.exists():
        stages["eval"] = "skipped"
        evaluation = _read_json(eval_path)
    else:
        started = time.perf_counter()
        evaluation = evaluate_agent(out, config.eval_episodes, _eval_seed(config, seed), progress)
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
        _write_json(eval_path, evaluation)
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


def load_agent(run: Path) -> tuple[WorldModel, Policy]:
    """The world model and the policy ``state → C(model.features(state))`` of a vmc agent run."""
    import worldlab

    run = Path(run)
    agent = _read_json(run / AGENT_FILE)
    if agent.get("agent") != "vmc":
        raise WorldlabError(f"'{run}' holds a '{agent.get('agent')}' agent, not a vmc agent")
    model = worldlab.load(run / agent["world_model"])
    controller = LinearController.load(run / agent["controller"])
    features, outputs, kind = controller_shape(model)
    if controller.weight.shape != (outputs, features) or controller.kind != kind:
        raise WorldlabError(
            f"controller {run / agent['controller']} has shape {list(controller.weight.shape)} "
            f"({controller.kind}) but the world model needs [{outputs}, {features}] ({kind})"
        )
    return model, controller_policy(model, controller)


def evaluate_agent(run: Path, episodes: int = 20, seed: int = 1_000_000, progress: bool = True):
    """Play ``episodes`` real episodes (seeds ``seed, seed + 1, ...``) with a saved vmc agent."""
    model, policy = load_agent(run)
    result = evaluate_in_world(model, policy, episodes, seed, progress)
    return {"agent": "vmc", "seed": seed, **result}
