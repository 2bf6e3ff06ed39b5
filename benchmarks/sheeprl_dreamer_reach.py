"""sheeprl's DreamerV3 (sheeprl 0.8.4, a reference implementation) on worldlab's ``reach``
from 32×32 pixels, at the sizes of worldlab's tiny Dreamer, and its evaluation on worldlab's
evaluation episodes: the peer side of the Dreamer side-by-side in docs/agents.md.

Runs in the peer venv (``../shared/peers/README.md``) with worldlab importable, on one thread:

    export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONPATH=$PWD
    P=../.peer-venv/bin/python
    $P benchmarks/sheeprl_dreamer_reach.py train --out DIR --steps 20000 --seed 0
    $P benchmarks/sheeprl_dreamer_reach.py eval --ckpt DIR/.../checkpoint/ckpt_20000_0.ckpt
    .venv/bin/python benchmarks/sheeprl_dreamer_reach.py curve --sheeprl DIR --worldlab RUN

``curve`` (needs matplotlib: worldlab's venv) plots success and return against env steps:
sheeprl's evaluated checkpoints beside worldlab runs' in-loop evaluations.

``train`` runs sheeprl's own DreamerV3 entry point (``sheeprl.cli.run_algorithm`` on the
hydra config of ``exp=dreamer_v3`` with the overrides of ``overrides()``); the algorithm is
untouched. Counters around sheeprl's ``train`` function and the vector env's ``step`` time
the run and change nothing (DIR/timing.json).

``eval`` rebuilds the agent from a checkpoint as sheeprl's own evaluation does
(``build_agent`` with the checkpoint's state; the env from ``make_env`` with the run's saved
config), plays episodes reset with seeds seed, seed + 1, … with greedy actions, and writes
the mean return and the success rate (``info["success"]`` at any step) with 95% Student-t
CIs (worldlab's ``mean_ci``, as its own evaluations report them).

What cannot be matched: sheeprl prefills with uniform random actions (worldlab: brownian
motion), has no reward scale or latent overshooting (worldlab: ``model.reward_scale=10``,
``model.overshoot=4``), imagines from every replayed state (512; worldlab: 256), starts its
return normaliser at 0, and takes as its greedy continuous action the likeliest of 100
samples rather than the mean.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

ENV_ID = "worldlab/Reach-v0"
SIZE = 32


def overrides(
    out: Path,
    steps: int,
    seed: int,
    learning_starts: int,
    pretrain: int,
    replay_ratio: float,
    checkpoint_every: int,
    log_every: int,
) -> list[str]:
    """The hydra overrides of sheeprl's ``exp=dreamer_v3`` that match worldlab's tiny Dreamer
    run on ``reach``."""
    return [
        "exp=dreamer_v3",
        "algo=dreamer_v3_XS",  # base (1-layer MLPs); every size below is set explicitly
        # --- environment: worldlab/Reach-v0 at 32x32 through sheeprl's gym wrapper
        "env=gym",
        f"env.id={ENV_ID}",
        f"+env.wrapper.size={SIZE}",
        f"env.screen_size={SIZE}",  # CNN stages: log2(32) - 2 = 3 (4×4 at the bottom)
        "env.num_envs=1",
        "env.sync_env=True",
        "env.capture_video=False",
        "env.action_repeat=1",
        "env.frame_stack=1",
        "env.grayscale=False",
        "env.clip_rewards=False",
        "env.max_episode_steps=null",  # the env truncates itself after 100 steps
        "algo.cnn_keys.encoder=[rgb]",
        "algo.mlp_keys.encoder=[]",
        # world model: RSSM deter 128, hidden 128, 16 × 16 latents, CNN 8/16/32, heads 1 × 128
        "algo.dense_units=128",
        "algo.mlp_layers=1",
        "algo.world_model.recurrent_model.recurrent_state_size=128",
        "algo.world_model.transition_model.hidden_size=128",
        "algo.world_model.representation_model.hidden_size=128",
        "algo.world_model.stochastic_size=16",
        "algo.world_model.discrete_size=16",
        "algo.world_model.encoder.cnn_channels_multiplier=8",  # the decoder follows it
        # worldlab's model.lr (sheeprl: 1e-4); eps 1e-8 and clip 1000 as both
        "algo.world_model.optimizer.lr=5e-4",
        # behaviour: actor and critic 1 × 128, lr 3e-4 (sheeprl: 3e-5), eps 1e-5, horizon 15,
        # γ 0.997, λ 0.95, entropy 3e-4
        "algo.actor.optimizer.lr=3e-4",
        "algo.critic.optimizer.lr=3e-4",
        "algo.actor.optimizer.eps=1e-5",
        "algo.critic.optimizer.eps=1e-5",
        "algo.horizon=15",
        "algo.gamma=0.997",
        "algo.lmbda=0.95",
        "algo.actor.ent_coef=3e-4",
        # --- training recipe
        "algo.per_rank_batch_size=16",
        "algo.per_rank_sequence_length=32",
        f"algo.replay_ratio={replay_ratio}",  # gradient updates per env step
        f"algo.learning_starts={learning_starts}",  # random-action prefill
        f"algo.per_rank_pretrain_steps={pretrain}",  # updates on the prefill before acting
        f"algo.total_steps={steps}",
        "algo.run_test=False",  # our `eval` does the testing
        "algo.compile.enabled=False",
        f"buffer.size={max(steps, 64)}",  # the whole run fits (worldlab keeps every step too)
        "buffer.checkpoint=False",  # small checkpoints, no buffer to unpickle at eval
        # --- machine, logs, checkpoints
        "fabric.accelerator=cpu",
        "fabric.devices=1",
        "fabric.precision=32-true",
        "num_threads=1",
        f"seed={seed}",
        f"log_root={out}",
        "root_dir=.",
        f"run_name=dreamer_v3_reach_s{seed}",
        "exp_name=dreamer_v3_reach",
        f"checkpoint.every={checkpoint_every}",
        "checkpoint.save_last=True",
        f"metric.log_every={log_every}",
        "model_manager.disabled=True",
    ]


def compose(over: list[str]):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module

    with initialize_config_module(config_module="sheeprl.configs", version_base="1.3"):
        return hydra_compose(config_name="config", overrides=over)


def set_threads() -> None:
    import torch

    torch.set_num_threads(1)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass


def cmd_train(args) -> None:
    import worldlab.worlds  # noqa: F401  (registers worldlab/Reach-v0 with gymnasium)

    set_threads()
    import sheeprl.algos.dreamer_v3.dreamer_v3 as dv3
    import torch
    from omegaconf import OmegaConf
    from sheeprl.cli import check_configs, run_algorithm
    from sheeprl.utils.utils import dotdict

    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    over = overrides(
        out,
        args.steps,
        args.seed,
        args.learning_starts,
        args.pretrain,
        args.replay_ratio,
        args.checkpoint_every or args.steps,
        args.log_every or max(args.learning_starts, 1),
    )
    over += args.set or []
    cfg = compose(over)
    (out / "overrides.txt").write_text("\n".join(over) + "\n")
    cfg = dotdict(OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True))
    check_configs(cfg)

    # Instrumentation only: count and time sheeprl's gradient steps and env steps.
    stats = {
        "env_steps": 0,
        "t_first_env_step": None,
        "updates": 0,
        "t_first_update": None,
        "t_last_update_end": None,
        "train_seconds": 0.0,
        "env_steps_at_first_update": None,
    }
    real_train = dv3.train

    def timed_train(*a, **k):
        t = time.perf_counter()
        if stats["t_first_update"] is None:
            stats["t_first_update"] = t
            stats["env_steps_at_first_update"] = stats["env_steps"]
        r = real_train(*a, **k)
        e = time.perf_counter()
        stats["updates"] += 1
        stats["train_seconds"] += e - t
        stats["t_last_update_end"] = e
        return r

    dv3.train = timed_train
    real_vec = dv3.get_vector_env_cls

    def timed_vec(sync_env):
        cls = real_vec(sync_env)

        def make(fns):
            envs = cls(fns)
            step = envs.step

            def counted_step(actions):
                if stats["t_first_env_step"] is None:
                    stats["t_first_env_step"] = time.perf_counter()
                stats["env_steps"] += 1
                return step(actions)

            envs.step = counted_step
            return envs

        return make

    dv3.get_vector_env_cls = timed_vec

    t0 = time.perf_counter()
    run_algorithm(cfg)
    wall = time.perf_counter() - t0

    ckpts = sorted(
        glob.glob(str(out / "**" / "checkpoint" / "*.ckpt"), recursive=True), key=os.path.getmtime
    )
    s = stats
    prefill_steps = (
        s["env_steps_at_first_update"]
        if s["env_steps_at_first_update"] is not None
        else s["env_steps"]
    )
    prefill_s = (
        ((s["t_first_update"] or time.perf_counter()) - s["t_first_env_step"])
        if s["t_first_env_step"]
        else None
    )
    learn_s = (s["t_last_update_end"] - s["t_first_update"]) if s["t_first_update"] else None
    train_rate = s["updates"] / s["train_seconds"] if s["train_seconds"] else None
    timing = {
        "wall_seconds": wall,
        "env_steps": s["env_steps"],
        "gradient_updates": s["updates"],
        "prefill_env_steps": prefill_steps,
        "prefill_seconds": prefill_s,
        "prefill_env_steps_per_second": prefill_steps / prefill_s if prefill_s else None,
        # from the first update to the end of the last: env, sampling and training
        "learning_seconds": learn_s,
        "learning_updates_per_second_wall": s["updates"] / learn_s if learn_s else None,
        # inside sheeprl's train() only (world model, actor and critic)
        "train_seconds": s["train_seconds"],
        "updates_per_second_train_only": train_rate,
        "torch_threads": torch.get_num_threads(),
        "checkpoints": ckpts,
    }
    (out / "timing.json").write_text(json.dumps(timing, indent=2))
    print(f"WALL_SECONDS {wall:.1f}")
    print(f"GRADIENT_UPDATES {s['updates']}")
    print("TIMING " + json.dumps({k: v for k, v in timing.items() if k != "checkpoints"}))
    print("LAST_CHECKPOINT " + (ckpts[-1] if ckpts else "none"))


def cmd_eval(args) -> None:
    import worldlab.worlds  # noqa: F401

    set_threads()
    import gymnasium as gym
    import torch
    from lightning import Fabric
    from omegaconf import OmegaConf
    from sheeprl.algos.dreamer_v3.agent import build_agent
    from sheeprl.algos.dreamer_v3.utils import prepare_obs
    from sheeprl.utils import fs
    from sheeprl.utils.env import make_env
    from sheeprl.utils.utils import dotdict

    from worldlab.evaluate.metrics import mean_ci

    ckpt = os.path.abspath(args.ckpt)
    cfg = OmegaConf.load(
        fs.run_config(ckpt)
    )  # the run's saved config: the same env wrappers as in training
    cfg = dotdict(OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True))
    cfg.env.capture_video = False
    cfg.env.num_envs = 1
    fabric = Fabric(
        accelerator="cpu", devices=1, num_nodes=1, precision=cfg.fabric.get("precision", "32-true")
    )
    fabric.seed_everything(args.seed)
    state = fs.load_checkpoint(fabric, ckpt, weights_only=False)

    env = make_env(cfg, args.seed, 0, None, "test", vector_env_idx=0)()
    obs_space, act_space = env.observation_space, env.action_space
    is_continuous = isinstance(act_space, gym.spaces.Box)
    is_multidiscrete = isinstance(act_space, gym.spaces.MultiDiscrete)
    actions_dim = tuple(
        act_space.shape
        if is_continuous
        else (act_space.nvec.tolist() if is_multidiscrete else [act_space.n])
    )
    _, _, _, _, player = build_agent(
        fabric, actions_dim, is_continuous, cfg, obs_space, state["world_model"], state["actor"]
    )
    player.num_envs = 1
    torch.manual_seed(args.seed)

    returns, successes, lengths = [], [], []
    t0 = time.perf_counter()
    with torch.no_grad():
        for i in range(args.episodes):
            obs, info = env.reset(seed=args.seed + i)
            player.init_states()
            total, success, steps, done = 0.0, False, 0, False
            while not done:
                torch_obs = prepare_obs(fabric, obs, cnn_keys=cfg.algo.cnn_keys.encoder)
                acts = player.get_actions(torch_obs, greedy=not args.sample)
                if is_continuous:
                    action = torch.stack(acts, -1).cpu().numpy()
                else:
                    action = torch.stack([a.argmax(dim=-1) for a in acts], dim=-1).cpu().numpy()
                obs, reward, terminated, truncated, info = env.step(action.reshape(act_space.shape))
                total += float(reward)
                success = success or bool(info.get("success", False))
                steps += 1
                done = bool(terminated or truncated)
            returns.append(total)
            successes.append(success)
            lengths.append(steps)
    env.close()
    mean, half = (float(v) for v in mean_ci(np.array(returns)))
    srate, shalf = (float(v) for v in mean_ci(np.array(successes, float)))
    result = {
        "env_id": cfg.env.id,
        "checkpoint": ckpt,
        "episodes": len(returns),
        "seed": args.seed,
        "greedy": not args.sample,
        "mean_return": mean,
        "return_ci": half,
        "success_rate": srate,
        "success_ci": shalf,
        "returns": returns,
        "successes": successes,
        "lengths": lengths,
        "seconds": time.perf_counter() - t0,
    }
    out = args.json or os.path.join(
        fs.parent(ckpt, 2), f"eval_{Path(ckpt).stem}_{args.episodes}ep_seed{args.seed}.json"
    )
    Path(out).write_text(json.dumps(result, indent=2))
    print(
        f"mean return {mean:.2f} ± {half:.2f}, success {srate:.2f} ± {shalf:.2f} over "
        f"{len(returns)} episodes -> {out}"
    )
    print(
        "EVAL "
        + json.dumps(
            {k: v for k, v in result.items() if k not in ("returns", "successes", "lengths")}
        )
    )


def sheeprl_points(run: str) -> list[tuple[int, float, float, float, float]]:
    """(env step, success, its 95% CI, return, its 95% CI) of every ``eval`` of a sheeprl
    run's checkpoints."""
    points = {}
    for path in glob.glob(os.path.join(run, "**", "eval_ckpt_*.json"), recursive=True):
        r = json.loads(Path(path).read_text())
        step = int(Path(r["checkpoint"]).stem.split("_")[1])  # ckpt_<step>_<rank>
        points[step] = (r["success_rate"], r["success_ci"], r["mean_return"], r["return_ci"])
    if not points:
        raise SystemExit(f"{run}: no eval_ckpt_*.json; run `eval` on its checkpoints first")
    return [(step, *points[step]) for step in sorted(points)]


def worldlab_points(run: str) -> list[tuple[int, float, float]]:
    """(env step, success, return) of a worldlab online run's in-loop evaluations
    (eval.jsonl), from the first one after its world model has trained (updates > 0)."""
    path = Path(run) / "eval.jsonl"
    if not path.exists():
        raise SystemExit(f"{run}: no eval.jsonl; is it a `worldlab agent train` run?")
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [
        (row["env_step"], row["success_rate"], row["mean_return"])
        for row in rows
        if row.get("updates", 1) > 0
    ]


def cmd_curve(args) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (success_axis, return_axis) = plt.subplots(1, 2, figsize=(11, 4))
    for index, run in enumerate(args.worldlab):
        steps, success, returns = zip(*worldlab_points(run), strict=True)
        label = "worldlab Dreamer, in-loop (10 episodes per point)" if index == 0 else None
        for axis, values in ((success_axis, success), (return_axis, returns)):
            axis.plot(steps, values, color="tab:blue", alpha=0.5, marker=".", label=label)
    for index, run in enumerate(args.sheeprl):
        steps, success, success_ci, returns, return_ci = zip(*sheeprl_points(run), strict=True)
        label = "sheeprl DreamerV3 (100 episodes per point, 95% CI)" if index == 0 else None
        for axis, values, ci in ((success_axis, success, success_ci),
                                 (return_axis, returns, return_ci)):  # fmt: skip
            axis.errorbar(steps, values, yerr=ci, color="tab:orange", marker="o", capsize=3,
                          label=label)  # fmt: skip
    markers = iter("sDP^v")
    for name, value in args.final:
        steps, success, ci = (float(v) for v in value.split(":"))
        success_axis.errorbar(
            [steps], [success], yerr=[ci], color="navy", marker=next(markers), capsize=3,
            linestyle="none", label=f"worldlab Dreamer, {name}",
        )  # fmt: skip
    styles = iter([("gray", "--"), ("tab:green", "-."), ("tab:red", ":")])
    for name, value in args.line:
        color, style = next(styles)
        success_axis.axhline(float(value), linestyle=style, color=color, label=name)
    success_axis.set_ylabel("success rate")
    success_axis.set_ylim(0, 1)
    return_axis.set_ylabel("real return")
    for axis in (success_axis, return_axis):
        axis.set_xlabel("environment steps")
        axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(args.out, dpi=120)
    print(f"plot: {args.out}")


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("--out", required=True)
    t.add_argument("--steps", type=int, default=50_000)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--learning-starts", type=int, default=10_000)
    t.add_argument("--pretrain", type=int, default=5_000)
    t.add_argument("--replay-ratio", type=float, default=0.5)
    t.add_argument("--checkpoint-every", type=int, default=5_000)
    t.add_argument(
        "--log-every", type=int, default=0, help="0: at learning_starts, then every that many steps"
    )
    t.add_argument("--set", nargs="*", help="extra hydra overrides, e.g. buffer.online=True")
    e = sub.add_parser("eval")
    e.add_argument("--ckpt", required=True)
    e.add_argument("--episodes", type=int, default=100)
    e.add_argument("--seed", type=int, default=1_000_000)
    e.add_argument("--sample", action="store_true", help="sample actions instead of greedy")
    e.add_argument("--json", default=None)
    c = sub.add_parser("curve", help="plot success and return against env steps, both sides")
    c.add_argument("--sheeprl", nargs="*", default=[], help="sheeprl run dirs, after `eval`")
    c.add_argument("--worldlab", nargs="*", default=[], help="worldlab online run dirs")
    c.add_argument(
        "--final", nargs=2, action="append", default=[], metavar=("NAME", "STEP:SUCCESS:CI"),
        help="a measured point to add, e.g. '3 seeds, 100 episodes' 20000:0.52:0.07",
    )  # fmt: skip
    c.add_argument("--line", nargs=2, action="append", default=[], metavar=("NAME", "SUCCESS"),
                   help="a baseline as a level, e.g. 'random actions' 0.10")  # fmt: skip
    c.add_argument("--out", default="dreamer_reach_side_by_side.png")
    args = p.parse_args()
    {"train": cmd_train, "eval": cmd_eval, "curve": cmd_curve}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
