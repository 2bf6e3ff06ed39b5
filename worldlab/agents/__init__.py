"""Behaviour on top of a world model: the model as an environment, Dreamer's actor-critic
in imagination, MPC planners, the V-M-C controller, and the online loop that trains them."""

from worldlab.agents.dream_env import DreamEnv, SingleDreamEnv

__all__ = ["DreamEnv", "SingleDreamEnv"]
