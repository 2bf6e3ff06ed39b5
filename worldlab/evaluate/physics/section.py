"""The physics section of an evaluation: does the model move ``bounce``'s balls as
physics does, beside trivial baselines, the reader's floor and the simulator itself?

For each window the model observes ``context`` real frames and imagines ``horizon``
steps under the recorded actions (as in open-loop fidelity); the state reader reads the
balls back from every frame and ``score_rollouts`` scores them against the recorded
true state. Rows, all on the very same windows:

* ``model``: the imagined frames.
* ``repeat_last``: the last context frame, frozen (a model that stops time).
* ``real_frames``: the real frames themselves, the measurement floor: what the reader
  gets wrong on perfect video.
* ``simulator``: GT′, the simulator re-run from the last context state with positions
  and velocities perturbed by ``perturbation`` (world units, units/s): the level a
  perfect model reaches, given that tiny differences grow.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from worldlab.data.dataset import EpisodeDataset
from worldlab.errors import DatasetError
from worldlab.evaluate.open_loop import imagine_windows, sample_windows
from worldlab.evaluate.physics.iq import physics_iq
from worldlab.evaluate.physics.metrics import THRESHOLDS, Truth, score_rollouts
from worldlab.evaluate.physics.reader import hidden_by_occluder, occluder_columns, read_balls
from worldlab.evaluate.sections import Section
from worldlab.models.base import WorldModel

STATE_WIDTH = 8  # bounce's per-ball [x, y, vx, vy, r, R, G, B]
ROWS = ("model", "repeat_last", "real_frames", "simulator")


def has_physics(dataset: EpisodeDataset) -> bool:
    """Whether ``dataset`` is ``bounce`` with its true state: the physics section applies."""
    manifest = dataset.manifest
    return (
        "bounce" in manifest.env_id.lower()
        and manifest.has_state
        and manifest.state_dims % STATE_WIDTH == 0
    )


def _world(dataset: EpisodeDataset) -> dict[str, Any]:
    """What the section needs to know of the world that made ``dataset``."""
    from worldlab.worlds.bounce import BounceEnv

    kwargs = dict(dataset.manifest.env_kwargs)
    size = int(dataset.obs_shape[0])
    return {
        "kwargs": kwargs,
        "size": size,
        "dt": float(kwargs.get("dt", BounceEnv.DT)),
        "occluder": occluder_columns(size, kwargs.get("occluder", False)),
        "balls": dataset.manifest.state_dims // STATE_WIDTH,
    }


def true_gravity(vy: np.ndarray, dt: float) -> np.ndarray:
    """``[W]``: each window's gravity from its true vertical velocities ``[W, T, N]``, the
    median of ``−Δv_y / dt`` (bounces are rare steps, so the median ignores them), for
    datasets collected before the ``gravity`` array was recorded."""
    return np.median(-np.diff(vy, axis=1) / dt, axis=(1, 2))


def _has_array(path, name: str) -> bool:
    """Whether the episode file ``path`` holds array ``name`` (reads its index only)."""
    with np.load(path) as arrays:
        return name in arrays.files


def _separate(positions: np.ndarray, radii: np.ndarray, rounds: int = 8) -> np.ndarray:
    """Positions moved just enough that no two balls overlap and all lie in the box: balls
    recorded in contact can overlap by rounding, or by the perturbation."""
    positions = np.asarray(positions, np.float64).copy()
    radii = np.asarray(radii, np.float64)  # states are float32: 1 − r must not round up
    for _ in range(rounds):
        moved = False
        for i in range(len(radii)):
            for j in range(i + 1, len(radii)):
                offset = positions[j] - positions[i]
                distance = float(np.hypot(*offset))
                overlap = radii[i] + radii[j] - distance
                if overlap >= 0:
                    direction = offset / distance if distance > 0 else np.array([1.0, 0.0])
                    shift = direction * (overlap / 2 + 1e-9)
                    positions[i] -= shift
                    positions[j] += shift
                    moved = True
        positions = np.clip(positions, radii[:, None] + 1e-9, 1.0 - radii[:, None] - 1e-9)
        if not moved:
            break
    return positions


def _simulate(
    world: dict[str, Any],
    state: np.ndarray,
    actions: np.ndarray,
    gravity: float,
    sigma: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Frames ``[T, S, S, 3]``: ``state`` (``[N, 8]``, perturbed) then one per action."""
    from worldlab.worlds.bounce import BounceEnv

    kwargs = {k: v for k, v in world["kwargs"].items() if k not in ("size", "max_steps")}
    env = BounceEnv(size=world["size"], max_steps=len(actions) + 1, **kwargs)
    env.reset(seed=0)
    radii = state[:, 4].astype(np.float64)
    positions = _separate(state[:, 0:2] + rng.normal(0.0, sigma, state[:, 0:2].shape), radii)
    velocities = state[:, 2:4] + rng.normal(0.0, sigma, state[:, 2:4].shape)
    env.load_balls(positions, velocities, radii, state[:, 5:8])
    env.gravity = gravity
    frames = [env.render()]
    for action in actions:
        frames.append(env.step(int(action))[0])
    return np.stack(frames)


def physics_section(
    model: WorldModel,
    dataset: EpisodeDataset,
    horizon: int = 15,
    context: int = 5,
    episodes: int | None = None,
    starts: int = 4,
    seed: int = 0,
    batch_size: int = 32,
    perturbation: float = 1e-3,
    progress: bool = True,
    references: bool = True,
) -> dict[str, Any]:
    """Physics scores of ``model`` and the reference rows on ``dataset``'s windows.

    ``references=False`` scores the model alone (and the real frames, which say what the
    reader can see): for a second model on the same windows, whose reference rows and
    physics-IQ-style score the caller has from the first (``physics_iq``)."""
    if not has_physics(dataset):
        raise DatasetError(
            f"{dataset.root} holds no bounce episodes with their true state: the physics "
            "section needs a dataset collected with `worldlab collect --env bounce`"
        )
    world = _world(dataset)
    dt = world["dt"]
    window = context + horizon
    pairs = sample_windows(dataset, episodes, window, starts, seed)
    names = ROWS if references else ("model", "real_frames")
    frames: dict[str, list[np.ndarray]] = {name: [] for name in names}
    states: list[np.ndarray] = []
    gravities: list[float] = []  # per window
    rng = np.random.default_rng(seed)
    # Each episode's gravity as recorded (datasets may draw it per episode), else, if any
    # sampled episode predates the record, read off the true velocities.
    recorded = bool(pairs) and all(
        _has_array(dataset.paths[index], "gravity") for index in {i for i, _ in pairs}
    )
    extra = ("state", "gravity") if recorded else ("state",)
    windows = imagine_windows(
        model, dataset, pairs, context, horizon, seed, batch_size, extra=extra,
        progress=progress, label="physics eval",
    )  # fmt: skip
    for arrays, _, imagined, _ in windows:
        real = arrays["obs"][:, context - 1 :]  # the last context frame, then the truth
        frames["model"] += list(np.concatenate([real[:, :1], imagined.cpu().numpy()], 1))
        frames["real_frames"] += list(real)
        states += list(arrays["state"][:, context - 1 :])
        if recorded:
            gravities += arrays["gravity"][:, context - 1].astype(float).tolist()
        else:
            gravities += true_gravity(arrays["state"][..., 3::STATE_WIDTH], dt).tolist()
        if not references:
            continue
        frames["repeat_last"] += list(np.repeat(real[:, :1], horizon + 1, axis=1))
        for w in range(len(real)):
            start = arrays["state"][w, context - 1].reshape(-1, STATE_WIDTH)
            actions = arrays["action"][w, context:]
            frames["simulator"].append(
                _simulate(world, start, actions, gravities[-len(real) + w], perturbation, rng)
            )
    state = np.stack(states).reshape(len(states), horizon + 1, world["balls"], STATE_WIDTH)
    colours = state[:, 0, :, 5:8]
    readings = {
        name: [read_balls(clip, colours[w], world["occluder"]) for w, clip in enumerate(clips)]
        for name, clips in frames.items()
    }
    truth = Truth(
        positions=state[..., 0:2],
        velocities=state[..., 2:4],
        radii=state[..., 4],
        hidden=hidden_by_occluder(state[..., 0:2], state[..., 4], world["occluder"], world["size"]),
        gravity=np.array(gravities),
        dt=world["dt"],
        size=world["size"],
        shown=np.stack([reading.seen for reading in readings["real_frames"]]),
    )
    rows = {name: score_rollouts(readings[name], truth) for name in names}
    scores = physics_iq(rows) if references else {}
    return {
        "physics_iq": {name: entry["score"] for name, entry in scores.items()},
        "horizon": horizon,
        "context": context,
        "windows": len(pairs),
        "world": {k: world[k] for k in ("dt", "size", "balls")}
        | {"gravity": float(np.median(truth.window_gravity()))}
        | {
            "occluder_columns": list(world["occluder"] or []) or None,
            "env_kwargs": world["kwargs"],
        },
        "perturbation": perturbation,
        "thresholds": THRESHOLDS,
        "rows": rows,
    }


# -- presentation ---------------------------------------------------------------------
COLUMNS = (  # (summary key, label, scale, digits): what the console and the HTML show
    ("position_error", "position error (px)", "px", 2),
    ("velocity_error", "velocity error (units/s)", 1.0, 3),
    ("gravity_error", "|ĝ − g| / g", 1.0, 2),
    ("size_error", "size error (|Δr| / r)", 1.0, 3),
    ("vanished", "vanished", 1.0, 3),
    ("extra_blobs", "extra blobs / frame", 1.0, 3),
    ("collision_timing", "collisions on time", 1.0, 2),
    ("velocity_after_error", "velocity after a collision (units/s)", 1.0, 3),
    ("momentum_error", "momentum error across a collision", 1.0, 2),
    ("energy_error", "energy error across a collision", 1.0, 2),
    ("interpenetration", "interpenetration", 1.0, 3),
    ("violation_rate", "violation rate", 1.0, 2),
)


def _value(section: dict[str, Any], row: str, key: str, scale) -> tuple[float | None, ...]:
    entry = section["rows"][row]["summary"][key]
    factor = section["world"]["size"] if scale == "px" else scale
    mean, ci = entry.get("mean"), entry.get("ci")
    return (
        None if mean is None else mean * factor,
        None if ci is None else ci * factor,
    )


def _lines(section: dict[str, Any]) -> list[str]:
    lines = [
        f"physics over {section['windows']} windows, {section['horizon']} steps ahead "
        "(mean over the horizon; real_frames = the reader's floor, simulator = GT′):"
    ]
    for row in section["rows"]:
        parts = []
        for key, label, scale, digits in COLUMNS:
            mean, _ = _value(section, row, key, scale)
            parts.append(f"{label} {'–' if mean is None else f'{mean:.{digits}f}'}")
        reappear = section["rows"][row]["summary"]["reappearance"]
        if reappear["events"]:
            parts.append(f"reappears {reappear['rate']:.2f} of {reappear['events']}")
        score = section.get("physics_iq", {}).get(row)
        parts.append(f"physics-IQ-style score {'–' if score is None else f'{score:.1f}'}")
        lines.append(f"  {row}: " + ", ".join(parts))
    return lines


def _html(section: dict[str, Any]) -> str:
    import html as html_text

    from worldlab.evaluate.sections import cell

    head = "".join(f"<th>{html_text.escape(label)}</th>" for _, label, _, _ in COLUMNS)
    head += "<th>physics-IQ-style score (GT′ = 100)</th>"
    rows = []
    for row in section["rows"]:
        cells = "".join(
            cell(*_value(section, row, key, scale), digits=digits)
            for key, _, scale, digits in COLUMNS
        )
        cells += cell(section.get("physics_iq", {}).get(row), None, digits=1)
        rows.append(f'<tr><td class="name">{html_text.escape(row)}</td>{cells}</tr>')
    return (
        "<h2>Physics</h2>"
        f"<p>The balls read back from every frame (colour masks: centroid, √(area/π)) and "
        f"scored against the true state over {section['windows']} windows, "
        f"{section['horizon']} steps ahead. <b>real_frames</b> is the reader on the real "
        "video (the measurement floor); <b>simulator</b> is GT′, the simulator re-run from "
        f"states perturbed by {section['perturbation']:g}; <b>repeat_last</b> freezes time. "
        "Mean ± 95% bootstrap half-width over windows. The physics-IQ-style score divides "
        "each error into GT′'s (capped at 1), averages and scales to 100, as Physics-IQ "
        "normalises by physical variance; violation thresholds: "
        f"{html_text.escape(str(section['thresholds']))}.</p>"
        f"<table><tr><th>row</th>{head}</tr>{''.join(rows)}</table>" + _plot(section)
    )


def _plot(section: dict[str, Any]) -> str:
    """Position error against steps ahead for every row, as an inline PNG."""
    import base64
    import io

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 3.2), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    axis = figure.subplots()
    size = section["world"]["size"]
    for row, scores in section["rows"].items():
        values = [
            np.nan if v is None else v * size for v in scores["per_horizon"]["position_error"]
        ]
        axis.plot(range(1, len(values) + 1), values, marker="o", markersize=3, label=row)
    axis.set_xlabel("steps ahead (open loop)")
    axis.set_ylabel("position error (px)")
    axis.set_title("ball position error over the horizon (lower is better)")
    axis.grid(alpha=0.3)
    axis.legend()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    data = base64.b64encode(buffer.getvalue()).decode()
    image = f'<img src="data:image/png;base64,{data}" alt="physics error over horizon">'
    return f"<figure>{image}</figure>"


def _compute(model: WorldModel, dataset: EpisodeDataset, options) -> dict[str, Any]:
    return physics_section(
        model,
        dataset,
        options.horizon,
        options.context,
        options.episodes,
        options.starts,
        options.seed,
        progress=options.progress,
    )


SECTION = Section(
    key="physics",
    title="Physics",
    applies=has_physics,
    compute=_compute,
    lines=_lines,
    html=_html,
)
