"""How close a `reach` agent's greedy episodes get to the target, not only whether they do.

    python benchmarks/reach_distances.py RUN [--episodes 100]

Plays the agent run ``RUN`` (any kind ``worldlab agent eval`` loads) on the agent
benchmark's episodes (seeds 1,000,000+) and logs the world's ``distance`` at every step.
Prints the success rate (closest approach < 0.08), the median closest and final
distances, and the share of episodes that come within 0.08–0.16 and no closer: an agent
that settles beside the target rather than on it shows there.
"""

from __future__ import annotations

import argparse

import numpy as np

EVAL_SEED = 1_000_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run")
    parser.add_argument("--episodes", type=int, default=100)
    args = parser.parse_args()

    import worldlab.worlds.reach as reach
    from worldlab.agents.rollout import play_agent
    from worldlab.agents.runs import agent_card, load_agent
    from worldlab.train.precision import describe_cpu

    episodes: list[list[float]] = []
    step, reset = reach.ReachEnv.step, reach.ReachEnv.reset

    def logged_reset(self, *a, **k):
        episodes.append([])
        return reset(self, *a, **k)

    def logged_step(self, action):
        result = step(self, action)
        episodes[-1].append(float(result[4]["distance"]))
        return result

    reach.ReachEnv.reset, reach.ReachEnv.step = logged_reset, logged_step
    card = agent_card(args.run)
    play_agent(load_agent(args.run), card, args.episodes, EVAL_SEED, progress=False)
    played = [distances for distances in episodes if distances]
    closest = np.array([min(d) for d in played])
    final = np.array([d[-1] for d in played])
    near = np.mean((closest >= 0.08) & (closest < 0.16))
    print(
        f"{args.run}: {len(played)} episodes, success {np.mean(closest < 0.08):.0%}; median "
        f"closest distance {np.median(closest):.3f}, median final distance "
        f"{np.median(final):.3f}; within 0.08–0.16 and no closer: {near:.0%} "
        f"({describe_cpu()})"
    )


if __name__ == "__main__":
    main()
