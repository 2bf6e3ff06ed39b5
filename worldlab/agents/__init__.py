"""Behaviour on top of a world model: the model as an environment (more to come)."""

from worldlab.agents.dream_env import DreamEnv, SingleDreamEnv

__all__ = ["DreamEnv", "SingleDreamEnv"]
