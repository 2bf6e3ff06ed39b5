"""The one interface every world-model family implements.

A family turns a batch of episodes into a training loss, and a trained model
into a simulator: condition on context frames (``observe``), take imagined
steps under actions (``step``), decode what it imagines (``render``) and
expose features for agents (``features``). Callers never look inside
``state``: it is the family's own batched container.

Shapes (``B`` batch, ``T`` time, ``H×W×C`` frames, ``A`` action dims):

- ``obs``     ``[B, T, H, W, C] uint8``
- ``action``  ``[B, T] int64`` (discrete index) or ``[B, T, A] float32`` in the world's
              units (what datasets record: ``ActionSpec.low..high``, [-1, 1] for the built-in
              worlds); ``action[:, t]`` is the action that led *to* ``obs[:, t]`` (Dreamer's
              alignment). Policies, planners and ``DreamEnv`` act in [-1, 1] and convert
              with ``ActionSpec.to_world``
- one step's ``action``  ``[B] int64`` or ``[B, A] float32``
"""

from __future__ import annotations

import abc
import contextlib
import dataclasses
from collections.abc import Iterator
from typing import Any, ClassVar

import torch
from torch import nn

from worldlab.errors import WorldlabError


@dataclasses.dataclass(frozen=True)
class ActionSpec:
    """What a model's actions are: ``discrete`` with ``n`` choices, ``continuous`` with ``dims``,
    or ``none`` for models learned from action-free video.

    Continuous actions come in the world's units, bounded by ``low`` and ``high`` (per
    flattened dimension; ``None`` means [-1, 1], as in the built-in worlds). Networks read
    them rescaled to [-1, 1] (``encode``); agents act in [-1, 1] and ``to_world`` maps their
    actions back, so Pendulum's torque in [-2, 2] and CarRacing's gas in [0, 1] use their
    whole range.
    """

    kind: str
    n: int = 0
    dims: int = 0
    low: tuple[float, ...] | None = None
    high: tuple[float, ...] | None = None

    @classmethod
    def from_manifest(cls, spec: dict[str, Any]) -> ActionSpec:
        if spec["type"] == "discrete":
            return cls("discrete", n=int(spec["n"]))
        if spec["type"] == "box":
            dims = 1
            for d in spec["shape"]:
                dims *= int(d)
            low, high = _bounds(spec.get("low"), dims), _bounds(spec.get("high"), dims)
            usable = low and high and all(h > lo for lo, h in zip(low, high, strict=True))
            if not usable or (set(low) == {-1.0} and set(high) == {1.0}):
                return cls("continuous", dims=dims)  # [-1, 1], unbounded or degenerate: as is
            return cls("continuous", dims=dims, low=low, high=high)
        return cls("none")

    @property
    def input_dims(self) -> int:
        """Width of the action vector a network reads (one-hot for discrete)."""
        return self.n if self.kind == "discrete" else self.dims

    def _scale(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        low = torch.tensor(self.low, dtype=like.dtype, device=like.device)
        high = torch.tensor(self.high, dtype=like.dtype, device=like.device)
        return (high - low) / 2, (high + low) / 2  # half-range and centre

    def to_unit(self, action: torch.Tensor) -> torch.Tensor:
        """World units → [-1, 1] (continuous; other kinds pass through)."""
        if self.kind != "continuous" or self.low is None:
            return action
        half, centre = self._scale(action)
        return (action - centre) / half

    def to_world(self, action: torch.Tensor) -> torch.Tensor:
        """[-1, 1] → world units (continuous; other kinds pass through)."""
        if self.kind != "continuous" or self.low is None:
            return action
        half, centre = self._scale(action)
        return action * half + centre

    def encode(self, action: torch.Tensor) -> torch.Tensor:
        """``[...] int64`` or ``[..., A] float`` in world units → ``[..., input_dims] float32``."""
        if self.kind == "discrete":
            if action.dtype.is_floating_point and action.shape[-1:] == (self.n,):
                return action.float()  # already one-hot / soft
            index = action.long()
            if (index < 0).any() or (index >= self.n).any():
                raise WorldlabError(
                    f"discrete actions must lie in 0..{self.n - 1}, got "
                    f"{int(index.min())}..{int(index.max())}"
                )
            return nn.functional.one_hot(index, self.n).float()
        if self.kind == "continuous":
            flat = action.float().reshape(*action.shape[:-1], self.dims)
            return self.to_unit(flat).clamp(-1, 1)
        # No actions: [B, T, 0] floats or any integer [B, T] become [B, T, 0].
        batch_shape = action.shape[:-1] if action.dtype.is_floating_point else action.shape
        return action.new_zeros((*batch_shape, 0), dtype=torch.float32)

    def random(
        self,
        shape: tuple[int, ...],
        generator: torch.Generator | None = None,
        device: torch.device | str = "cpu",
    ) -> torch.Tensor:
        """Uniformly random actions of batch ``shape``, in world units."""
        if self.kind == "discrete":
            return torch.randint(0, self.n, shape, generator=generator, device=device)
        width = self.dims if self.kind == "continuous" else 0
        return self.to_world(
            torch.rand((*shape, width), generator=generator, device=device) * 2 - 1
        )

    def null(self, shape: tuple[int, ...] = ()) -> torch.Tensor:
        """The null action (what an episode's first frame is stored with), batch ``shape``:
        ``0`` for discrete actions, zeros ``[*shape, dims]`` otherwise."""
        if self.kind == "discrete":
            return torch.zeros(shape, dtype=torch.int64)
        width = self.dims if self.kind == "continuous" else 0
        return torch.zeros((*shape, width), dtype=torch.float32)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _bounds(values: Any, dims: int) -> tuple[float, ...] | None:
    """A Box bound from a manifest, flattened; ``None`` if missing or not finite."""
    if values is None:
        return None
    flat = torch.as_tensor(values, dtype=torch.float64).reshape(-1)
    if flat.numel() == 1:
        flat = flat.expand(dims)
    if flat.numel() != dims or not torch.isfinite(flat).all():
        return None
    return tuple(float(v) for v in flat)


@dataclasses.dataclass(frozen=True)
class SamplingOption:
    """A setting of the model's own sampling that callers may change between imagined steps.

    Either ``choices`` (strings), or a number in ``[low, high]`` (``integer`` for counts). The
    option's value lives in the model's config field of the same ``name``; callers change it
    only through ``WorldModel.sampling``.
    """

    name: str
    label: str
    choices: tuple[str, ...] = ()
    low: float = 0.0
    high: float = 1.0
    integer: bool = False

    def check(self, value: Any) -> Any:
        """``value`` as the model takes it, or a ``WorldlabError`` saying what is allowed."""
        if self.choices:
            if value not in self.choices:
                raise WorldlabError(
                    f"{self.name} must be one of {list(self.choices)}, got {value!r}"
                )
            return value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise WorldlabError(f"{self.name} must be a number, got {value!r}")
        if not self.low <= value <= self.high:
            raise WorldlabError(f"{self.name} must lie in [{self.low}, {self.high}], got {value}")
        if self.integer and value != int(value):
            raise WorldlabError(f"{self.name} must be a whole number, got {value}")
        return int(value) if self.integer else float(value)

    def describe(self, value: Any) -> dict[str, Any]:
        """What a user interface needs to offer the option (JSON-ready)."""
        described: dict[str, Any] = {"name": self.name, "label": self.label, "value": value}
        if self.choices:
            return {**described, "choices": list(self.choices)}
        return {**described, "min": self.low, "max": self.high, "integer": self.integer}


class WorldModel(nn.Module, abc.ABC):
    """Base class of every family. Subclasses set ``family`` and ``Config`` (a dataclass)."""

    family: ClassVar[str]
    Config: ClassVar[type]
    presets: ClassVar[dict[str, dict[str, Any]]] = {}  # size presets: name → Config overrides
    default_preset: ClassVar[str | None] = None
    # True when the model's actions are its own latent codes (learned from video), not the
    # world's: callers must not pass them to the real world (see evaluate.action_map).
    latent_actions: ClassVar[bool] = False
    # What callers (play, planners, evolution) may tune while sampling; see ``sampling``.
    sampling_options: ClassVar[tuple[SamplingOption, ...]] = ()

    def __init__(self, config: Any, obs_shape: tuple[int, int, int], action_spec: ActionSpec):
        super().__init__()
        self.config = config
        self.obs_shape = tuple(obs_shape)
        self.action_spec = action_spec
        # The resolved run config (family, model, data, train) of the run this model was
        # loaded from or is training in; empty for a model built by hand.
        self.run_config: dict[str, Any] = {}

    # -- sampling settings ------------------------------------------------------------
    def sampling_settings(self) -> dict[str, Any]:
        """The current value of every declared sampling option."""
        return {option.name: getattr(self.config, option.name) for option in self.sampling_options}

    @contextlib.contextmanager
    def sampling(self, **settings: Any) -> Iterator[WorldModel]:
        """Imagine with other sampling ``settings`` inside the block; restored after it.

        Names must be declared in ``sampling_options``; values are checked against them.
        The model is shared state: callers that use it from several threads hold a lock.
        """
        options = {option.name: option for option in self.sampling_options}
        checked = {}
        for name, value in settings.items():
            if name not in options:
                offered = ", ".join(options) or "none"
                raise WorldlabError(
                    f"{self.family} has no sampling option '{name}'; it offers: {offered}"
                )
            checked[name] = options[name].check(value)
        saved = {name: getattr(self.config, name) for name in checked}
        try:
            for name, value in checked.items():
                setattr(self.config, name, value)
            yield self
        finally:
            for name, value in saved.items():
                setattr(self.config, name, value)

    def check_obs(self, obs: torch.Tensor, dtype: torch.dtype | None = None) -> None:
        """A clear error unless ``obs`` is ``[B, T, *obs_shape]`` (the size trained on), of
        ``dtype`` when one is given."""
        shape = ", ".join(map(str, self.obs_shape))
        if dtype is not None and obs.dtype != dtype:
            raise WorldlabError(
                f"{self.family} expects observations [B, T, {shape}] {str(dtype)[6:]}, got "
                f"{str(obs.dtype)[6:]} {list(obs.shape)}"
            )
        if obs.dim() != 2 + len(self.obs_shape) or tuple(obs.shape[2:]) != self.obs_shape:
            raise WorldlabError(
                f"{self.family} expects observations [B, T, {shape}], got {list(obs.shape)}: "
                "use data of the size the model was trained on"
            )

    def after_step(self) -> None:
        """Called by the trainer after every optimiser step (e.g. to update EMA weights)."""

    # -- training --------------------------------------------------------------------
    @abc.abstractmethod
    def loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, Any]]:
        """Scalar loss and metrics to log (floats or 0-d tensors), from a batch of windows."""

    def forward(self, batch: dict[str, torch.Tensor]):
        # DistributedDataParallel calls forward(): make it the loss.
        return self.loss(batch)

    def optimizer(self) -> torch.optim.Optimizer:
        """The family's optimiser with its paper settings (override where they differ)."""
        return torch.optim.Adam(
            self.parameters(),
            lr=getattr(self.config, "lr", 1e-4),
            eps=getattr(self.config, "adam_eps", 1e-8),
        )

    @property
    def grad_clip(self) -> float | None:
        return getattr(self.config, "grad_clip", None)

    # -- simulation ------------------------------------------------------------------
    @abc.abstractmethod
    def observe(
        self,
        obs: torch.Tensor,
        action: torch.Tensor,
        is_first: torch.Tensor | None = None,
        state: Any = None,
    ) -> Any:
        """Condition on context frames ``obs [B, T, H, W, C]``; return the state after the last.

        With ``state`` (returned by an earlier ``observe``), filtering continues from it, so
        an agent acting in a real world can feed one new frame at a time. ``is_first``
        defaults to "the first frame starts an episode" without ``state`` and to all false
        with it.
        """

    def observe_all(
        self, obs: torch.Tensor, action: torch.Tensor, is_first: torch.Tensor | None = None
    ) -> Any:
        """The state after *every* frame of ``obs [B, T, ...]``, flattened to batch ``B·T``.

        Agents start imagined rollouts from these (Dreamer's actor-critic). The default
        filters one frame at a time through ``observe``; families override it with one pass.
        """
        from worldlab.models.state import map_state

        states, state = [], None
        for t in range(obs.shape[1]):
            first = None if is_first is None else is_first[:, t : t + 1]
            if first is None and t == 0:
                first = torch.ones(obs.shape[0], 1, dtype=torch.bool, device=obs.device)
            elif first is None:
                first = torch.zeros(obs.shape[0], 1, dtype=torch.bool, device=obs.device)
            state = self.observe(obs[:, t : t + 1], action[:, t : t + 1], first, state)
            states.append(state)
        return map_state(lambda *parts: torch.stack(parts, 1).flatten(0, 1), *states)

    def infer_actions(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """The model's own actions that explain ``obs [B, T, ...]``: ``[B, T, ...]``.

        Families trained with real actions use them as given; a family that learns
        latent actions from video (``genie``) infers them from consecutive frames.
        """
        return action

    @abc.abstractmethod
    def step(self, state: Any, action: torch.Tensor) -> tuple[Any, torch.Tensor, torch.Tensor]:
        """One imagined step: ``(next_state, reward [B], continue_probability [B])``."""

    @abc.abstractmethod
    def render(self, state: Any) -> torch.Tensor:
        """Decode a state to frames ``[B, H, W, C] uint8``."""

    @abc.abstractmethod
    def features(self, state: Any) -> torch.Tensor:
        """What a policy or value function reads: ``[B, F] float``."""

    @property
    def feature_dims(self) -> int:
        raise NotImplementedError

    # -- text prompts (optional) ---------------------------------------------------------
    @property
    def text_dims(self) -> int:
        """Width of the caption embedding the model is conditioned on; 0: no text prompts."""
        return 0

    def prompt(self, text: torch.Tensor, frames: torch.Tensor | None = None) -> Any:
        """A state that starts a world from caption embeddings ``text [B, text_dims]``
        (after the prompt ``frames [B, T, H, W, C]``, if given). Families with text
        conditioning override this."""
        raise WorldlabError(
            f"the {self.family} family takes no text prompt; a flow model trained on "
            "embedded captions does (docs/prompts.md)"
        )

    @torch.no_grad()
    def imagine(self, state: Any, actions: torch.Tensor) -> dict[str, torch.Tensor]:
        """Roll out ``actions [B, H, ...]`` from ``state``; frames ``[B, H, ...]`` and rewards."""
        frames, rewards, continues = [], [], []
        for t in range(actions.shape[1]):
            state, reward, cont = self.step(state, actions[:, t])
            frames.append(self.render(state))
            rewards.append(reward)
            continues.append(cont)
        return {
            "frames": torch.stack(frames, 1),
            "reward": torch.stack(rewards, 1),
            "continue": torch.stack(continues, 1),
            "state": state,
        }

    @property
    def device(self) -> torch.device:
        parameter = next(self.parameters(), None)
        return parameter.device if parameter is not None else torch.device("cpu")
