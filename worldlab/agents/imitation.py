"""Acting from video: behavioural cloning, and latent BC through a latent-action model.

Genie's promise for behaviour (and LAPO's): a latent-action model (LAM), learned from
video without action labels, names what happens between two frames with one of a few
codes. Infer the code of every transition of an expert's *video*, train a policy from
frames to codes, and map codes to real actions with a handful of labelled transitions.

- ``train_latent_bc(video, model_run, labelled, labels=N)``: codes from the LAM
  (``model.infer_actions``) on every transition of ``video``, a ``FramePolicy`` trained on
  them, then two read-outs fitted on ``N`` transitions drawn from ``labelled`` (their codes
  inferred the same way): the latent→real map (``worldlab map-actions``' majority vote
  per code) and, as LAPO does, a linear decoder from the policy's features (its last
  hidden layer and code distribution) to real actions. The agent acts through the
  decoder, which can tell apart situations that one ambiguous code lumps together (on
  the platformer, one code means both "took off" and "still rising in the air"). With
  ``N = 0`` no label says which code is which button: each code gets a real action
  drawn at random, the floor of the method.
- ``train_bc(labelled, labels=N)``: the baselines. Plain behavioural cloning on real
  actions, from ``N`` labelled transitions (BC on the labels alone), or on all of an
  expert's labelled episodes (``labels=None``: the oracle). Discrete actions are learned
  by cross-entropy; continuous (``Box``) ones by mean squared error, the policy's tanh
  outputs scaled to the bounds the dataset's manifest records. Latent BC maps codes to
  discrete actions only.

Both write an agent run (``agent.json``, ``policy.safetensors`` with its SHA-256 in the
card, and for latent BC ``action_map.json`` and ``decoder.safetensors``) that ``worldlab
agent eval`` plays in the real world. No world model runs at act time: the policy reads
the last ``frames`` frames.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import save as save_safetensors
from torch import nn

from worldlab.agents.frame_policy import (
    ENCODERS,
    FramePolicy,
    Transitions,
    episode_transitions,
    fit_decoder,
    fit_frame_policy,
    policy_features,
)
from worldlab.agents.imitation_agent import (  # noqa: F401  (acting: imported from here too)
    AGENT_FILE,
    DECODER_FILE,
    IMITATION_KINDS,
    POLICY_FILE,
    ImitationAgent,
    evaluate_imitation,
    load_imitation_agent,
)
from worldlab.agents.kinds import KINDS, SETTINGS_KEY, TrainRequest
from worldlab.data.dataset import EpisodeDataset
from worldlab.data.episode import atomic_write_bytes, write_json
from worldlab.data.manifest import action_spec
from worldlab.errors import WorldlabError
from worldlab.evaluate.action_map import (
    ACTION_MAP_NAME,
    ActionMap,
    action_map_from_pairs,
    infer_transitions,
    score_action_map,
)
from worldlab.models.base import WorldModel
from worldlab.train.integrity import sha256_of
from worldlab.worlds import make_env


@dataclasses.dataclass
class ImitationConfig:
    """How the frame policy is trained (``--set imitation.FIELD=VALUE``)."""

    frames: int = 2  # frames the policy sees: the last one and the one before (motion)
    encoder: str = "conv"  # "conv" (how frames look) or "keypoints" (where things are)
    updates: int = 3000
    batch_size: int = 64
    lr: float = 1e-3
    seed: int = 0

    def check(self) -> None:
        """A clear error for a setting no policy can be built with."""
        if self.encoder not in ENCODERS:
            raise WorldlabError(
                f"imitation.encoder must be one of {', '.join(ENCODERS)}, got {self.encoder!r}"
            )


# -- data ---------------------------------------------------------------------------------
def _open(
    directory: str | Path, role: str, needs_actions: bool, discrete: bool = False
) -> EpisodeDataset:
    """The dataset at ``directory``, checked to hold episodes and, when ``needs_actions``,
    discrete or box actions (only discrete ones where ``discrete``: latent BC's labels)."""
    dataset = EpisodeDataset(directory)
    if len(dataset) == 0:
        raise WorldlabError(f"{role} {directory} holds no readable episodes")
    if needs_actions and not dataset.has_actions:
        raise WorldlabError(
            f"{role} {directory} has no actions; labelled transitions come from episodes "
            "with actions, e.g. `worldlab collect --env platformer --policy expert --out DIR`"
        )
    kind = dataset.manifest.action.get("type")
    if needs_actions and discrete and kind != "discrete":
        raise WorldlabError(
            f"{role} {directory} has {kind} (continuous) actions, but latent BC maps its "
            "codes to discrete actions only; clone continuous actions with "
            f"`worldlab agent train bc --labelled {directory}`"
        )
    if needs_actions and kind not in ("discrete", "box"):
        raise WorldlabError(
            f"{role} {directory} has {kind} actions; behavioural cloning learns discrete "
            "or box (continuous) actions"
        )
    return dataset


def _episodes(dataset: EpisodeDataset) -> list[np.ndarray]:
    return [np.asarray(dataset.episode(i)["obs"]) for i in range(len(dataset))]


def real_transitions(dataset: EpisodeDataset, frames: int) -> Transitions:
    """Every transition of a labelled dataset, labelled with the real action taken
    (``[N]`` int64 discrete actions, or ``[N, D]`` float32 box actions, flattened)."""
    box = dataset.manifest.action.get("type") == "box"
    labels = []
    for index in range(len(dataset)):
        action = np.asarray(dataset.episode(index)["action"][1:])
        labels.append(action.reshape(len(action), -1).astype(np.float32) if box else action)
    return episode_transitions(_episodes(dataset), labels, frames)


def latent_transitions(
    model, dataset: EpisodeDataset, frames: int, progress: bool = True
) -> tuple[Transitions, np.ndarray]:
    """Every transition of ``dataset`` labelled with the code the model infers for it, and
    the real actions beside them (``[N, 0]`` for video)."""
    window = max(int(getattr(model.config, "frames", 16)), 2)
    codes, reals = infer_transitions(model, dataset, list(range(len(dataset))), window, progress)
    episodes = _episodes(dataset)
    bounds = np.cumsum([len(obs) - 1 for obs in episodes])[:-1]
    labels = np.split(codes, bounds)
    return episode_transitions(episodes, labels, frames), reals


def draw_labelled(count: int, labels: int | None, seed: int) -> np.ndarray:
    """Indices of ``labels`` transitions drawn without replacement (all when None)."""
    if labels is None:
        return np.arange(count)
    if labels > count:
        raise WorldlabError(
            f"asked for {labels} labelled transitions, but the labelled data holds {count}; "
            "collect more episodes or lower --labels"
        )
    return np.sort(np.random.default_rng(seed).choice(count, labels, replace=False))


# -- training -----------------------------------------------------------------------------
def _check_frames(dataset: EpisodeDataset, obs_shape, role: str) -> None:
    if list(dataset.obs_shape) != list(obs_shape):
        raise WorldlabError(
            f"{role} {dataset.root} holds {list(dataset.obs_shape)} frames, but "
            f"{list(obs_shape)} are needed; collect it at that --size"
        )


def load_latent_action_model(model_run: str | Path | WorldModel) -> WorldModel:
    """A model whose actions are latent codes it infers from frames (genie): a run
    directory, or a model already loaded."""
    import worldlab

    model = model_run if isinstance(model_run, WorldModel) else worldlab.load(model_run)
    infers = type(model).infer_actions is not WorldModel.infer_actions
    if model.action_spec.kind != "discrete" or not infers:
        raise WorldlabError(
            f"{model_run} is a {model.family} run, which takes real actions; latent BC "
            "needs a latent-action model: `worldlab train genie --data VIDEO --stage lam`"
        )
    model.eval()
    return model


def train_latent_bc(
    video: str | Path,
    model_run: str | Path | WorldModel,
    labelled: str | Path | None,
    labels: int,
    out: str | Path,
    config: ImitationConfig | None = None,
    progress: bool = True,
    policy_from: str | Path | None = None,
) -> dict[str, Any]:
    """Latent behavioural cloning from ``video`` (see the module); returns the agent card.

    ``policy_from``: a latent-bc run on the same video and model whose policy (frames →
    codes, which no label touches) is reused; only the map is fitted, so sweeping the
    number of labels costs one policy."""
    config = config or ImitationConfig()
    config.check()
    model = load_latent_action_model(model_run)
    video_data = _open(video, "the expert video", needs_actions=False)
    _check_frames(video_data, model.obs_shape, "the expert video")
    if labels > 0 and labelled is None:
        raise WorldlabError("--labels N > 0 needs --labelled DIR, episodes with real actions")
    labelled_data = (
        None if labelled is None else _open(labelled, "the labelled data", True, discrete=True)
    )
    codes = int(model.action_spec.n)
    if policy_from is not None:
        reused = load_imitation_agent(policy_from)
        source, policy = reused.card, reused.policy
        if source["agent"] != "latent-bc" or policy.classes != codes:
            raise WorldlabError(
                f"--policy-from {policy_from}: a latent-bc run over {codes} codes is needed"
            )
        record, config = (
            source["training"],
            ImitationConfig(
                **{**KINDS["latent-bc"].saved_settings(policy_from, source), "seed": config.seed}
            ),
        )
    else:
        data, _ = latent_transitions(model, video_data, config.frames, progress)
        policy, record = fit_frame_policy(
            data, codes, config.frames, config.updates, config.batch_size, config.lr,
            config.seed, progress, encoder=config.encoder,
        )  # fmt: skip
    action_map, decoder = _latent_to_real(model, policy, video_data, labelled_data, labels, config)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    action_map.save(out / ACTION_MAP_NAME)
    if decoder is not None:
        _write_weights(out / DECODER_FILE, decoder)
    card = _card(
        "latent-bc",
        video_data if labelled_data is None else labelled_data,  # the world it acts in
        policy,
        config,
        record,
        labels=labels,
        model=str(model_run) if isinstance(model_run, (str, Path)) else model_run.family,
        video=str(video),
        labelled=None if labelled is None else str(labelled),
        action_map=ACTION_MAP_NAME,
        map_metrics=action_map.metrics,
        decoder=None if decoder is None else DECODER_FILE,
        decoder_sha256=None if decoder is None else sha256_of(out / DECODER_FILE),
    )
    _save(out, policy, card)
    return card


def _latent_to_real(
    model: WorldModel,
    policy: FramePolicy,
    video_data: EpisodeDataset,
    labelled_data: EpisodeDataset | None,
    labels: int,
    config: ImitationConfig,
) -> tuple[ActionMap, nn.Linear | None]:
    """From codes to real actions, fitted on ``labels`` transitions drawn from
    ``labelled_data`` and scored on the rest: the majority map per code, and the decoder that
    reads the policy's features out as real actions. Without labels: a map drawn at
    random, and no decoder."""
    codes = int(model.action_spec.n)
    if labels == 0:
        action_map = random_action_map(codes, _world_action(video_data), config.seed)
        action_map.metrics.update(labels=0)
        return action_map, None
    _check_frames(labelled_data, model.obs_shape, "the labelled data")
    pairs, reals = latent_transitions(model, labelled_data, config.frames, progress=False)
    chosen = draw_labelled(len(pairs), labels, config.seed)
    rest = np.setdiff1d(np.arange(len(pairs)), chosen)
    latents, real_action = pairs.labels, labelled_data.manifest.action
    action_map = action_map_from_pairs(
        latents[chosen], reals[chosen], codes, real_action, str(labelled_data.root)
    )
    features = policy_features(policy, pairs)
    targets = torch.from_numpy(np.asarray(reals, np.int64))
    n = int(real_action["n"])
    decoder = fit_decoder(features[chosen], targets[chosen], n, seed=config.seed)
    if len(rest):
        action_map.metrics = score_action_map(action_map, latents[rest], reals[rest])
        with torch.no_grad():
            hits = decoder(features[rest]).argmax(1) == targets[rest]
        action_map.metrics["decoder_accuracy"] = float(hits.float().mean())
    action_map.metrics.update(labels=labels)
    return action_map, decoder


def train_bc(
    labelled: str | Path,
    labels: int | None,
    out: str | Path,
    config: ImitationConfig | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Behavioural cloning on real actions: ``labels`` transitions drawn from ``labelled``,
    or all of them (``None``: the oracle on an expert's labelled episodes)."""
    config = config or ImitationConfig()
    config.check()
    dataset = _open(labelled, "the labelled data", needs_actions=True)
    every = real_transitions(dataset, config.frames)
    data = every.subset(draw_labelled(len(every), labels, config.seed))
    spec = dataset.manifest.action
    bounds = _action_bounds(spec, labelled) if spec["type"] == "box" else None
    classes = 0 if bounds is not None else int(spec["n"])
    policy, record = fit_frame_policy(
        data,
        classes,
        config.frames,
        config.updates,
        config.batch_size,
        config.lr,
        config.seed,
        progress,
        action_bounds=bounds,
        encoder=config.encoder,
    )
    card = _card(
        "bc",
        dataset,
        policy,
        config,
        record,
        labels=len(data),
        labelled=str(labelled),
        oracle=labels is None,
    )
    _save(Path(out), policy, card)
    return card


def _action_bounds(spec: dict[str, Any], labelled: str | Path) -> tuple[list, list]:
    """``(low, high)`` of a box action spec, flattened; the policy's tanh needs them finite."""
    low, high = np.asarray(spec["low"], float), np.asarray(spec["high"], float)
    if not (np.isfinite(low).all() and np.isfinite(high).all() and (low < high).all()):
        raise WorldlabError(
            f"the labelled data {labelled} has box actions bounded by low={low.tolist()}, "
            f"high={high.tolist()}; behavioural cloning scales its outputs to finite bounds "
            "with low < high, so collect from a world whose action space has them"
        )
    return low.tolist(), high.tolist()


def _world_action(dataset: EpisodeDataset) -> dict[str, Any]:
    """The real action space of the world a video came from (for a map without labels)."""
    manifest = dataset.manifest
    env = make_env(manifest.env_id, size=dataset.obs_shape[0], **manifest.env_kwargs)
    try:
        return action_spec(env.action_space)
    finally:
        env.close()


def random_action_map(codes: int, real_action: dict[str, Any], seed: int) -> ActionMap:
    """Zero labels: every code gets a real action drawn uniformly (discrete worlds)."""
    if real_action.get("type") != "discrete":
        raise WorldlabError("--labels 0 (a map drawn at random) needs a world of discrete actions")
    rng = np.random.default_rng(seed)
    n = int(real_action["n"])
    return ActionMap(
        real_action=real_action,
        codes=codes,
        latent_to_real=rng.integers(n, size=codes).tolist(),
        real_to_latent=rng.integers(codes, size=n).tolist(),
        code_counts=[0] * codes,
        metrics={"random": True},
    )


def _card(kind, dataset, policy, config, record, **extra) -> dict[str, Any]:
    manifest = dataset.manifest
    env_kwargs = dict(manifest.env_kwargs)
    skins = getattr(manifest, "skins", [])
    if len(skins) == 1:  # data drawn in one style: the agent is evaluated in it by default
        env_kwargs["skin"] = skins[0]
    return {
        "agent": kind,
        "env_id": manifest.env_id,
        "env_kwargs": env_kwargs,
        "obs_shape": list(dataset.obs_shape),
        "episode_steps": max(dataset.lengths) - 1,  # evaluation cuts episodes here, as the data
        "classes": policy.classes,
        **_continuous_fields(policy),
        SETTINGS_KEY: dataclasses.asdict(config),
        "training": record,
        **extra,
    }


def _continuous_fields(policy: FramePolicy) -> dict[str, Any]:
    """What rebuilds a continuous policy (``load_imitation_agent``); nothing for discrete."""
    if not policy.continuous:
        return {}
    low, high = policy.action_bounds
    return {
        "continuous": True,
        "action_dims": policy.action_dims,
        "action_low": low,
        "action_high": high,
    }


def _write_weights(path: Path, module: nn.Module) -> None:
    weights = save_safetensors({k: v.contiguous() for k, v in module.state_dict().items()})
    atomic_write_bytes(path, lambda file: file.write(weights))


def _save(out: Path, policy: FramePolicy, card: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    _write_weights(out / POLICY_FILE, policy)
    card["policy_sha256"] = sha256_of(out / POLICY_FILE)
    write_json(out / AGENT_FILE, card)  # last: a run with a card is complete


# -- from the command line ------------------------------------------------------------------
def _config(request: TrainRequest) -> ImitationConfig:
    from worldlab.train.config import apply_overrides

    config = ImitationConfig(seed=request.seed_or_default)
    apply_overrides({"imitation": config}, request.overrides)
    config.check()
    return config


def train_latent_bc_requested(kind: str, request: TrainRequest) -> dict[str, Any]:
    """``worldlab agent train latent-bc``, then the policy scored in the real world."""
    config = _config(request)
    if request.video is None or request.model is None:
        raise WorldlabError(
            "latent-bc learns from video through a latent-action model: give --video DIR "
            "and --model GENIE_RUN (and --labelled DIR --labels N to map its codes)"
        )
    train_latent_bc(
        request.video, request.model, request.labelled, request.labels or 0, request.out,
        config, progress=request.progress, policy_from=request.policy_from,
    )  # fmt: skip
    return evaluate_imitation(request.out, request.eval_episodes, progress=request.progress)


def train_bc_requested(kind: str, request: TrainRequest) -> dict[str, Any]:
    """``worldlab agent train bc``, then the policy scored in the real world."""
    config = _config(request)
    if request.labelled is None:
        raise WorldlabError("bc clones labelled transitions: give --labelled DIR")
    if request.policy_from is not None:
        raise WorldlabError("--policy-from applies to latent-bc runs")
    train_bc(request.labelled, request.labels, request.out, config, progress=request.progress)
    return evaluate_imitation(request.out, request.eval_episodes, progress=request.progress)
