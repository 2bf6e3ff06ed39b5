"""Behaviour on top of a world model: the model as an environment, Dreamer's actor-critic
in imagination, MPC planners, the V-M-C controller, and the online loop that trains them.

The kinds of agent and where their code lives: ``worldlab.agents.kinds``."""

__all__ = ["DreamEnv", "SingleDreamEnv"]


def __getattr__(name):
    # Loaded on first use, so that reading the table of kinds (the CLI) does not load torch.
    if name in __all__:
        from worldlab.agents import dream_env

        return getattr(dream_env, name)
    raise AttributeError(f"module 'worldlab.agents' has no attribute '{name}'")
