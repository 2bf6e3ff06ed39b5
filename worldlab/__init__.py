"""worldlab: one toolkit for world models.

Collect episodes from any world, train a world model of any family on them,
imagine futures, evaluate them, act with them and play them.
"""

__version__ = "0.1.0"

from worldlab.worlds import make_env  # noqa: E402  (registers the built-in worlds)


def load(run, device="cpu"):
    """A ready world model from a run directory, whatever its family (see ``worldlab.train``)."""
    from worldlab.train.checkpoint import load as load_run

    return load_run(run, device)


def __getattr__(name):
    # Heavy parts (torch) load on first use, so `import worldlab` stays light.
    if name in ("DreamEnv", "SingleDreamEnv"):
        from worldlab import agents

        return getattr(agents, name)
    raise AttributeError(f"module 'worldlab' has no attribute '{name}'")


__all__ = ["DreamEnv", "SingleDreamEnv", "__version__", "load", "make_env"]
