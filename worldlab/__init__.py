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


__all__ = ["__version__", "load", "make_env"]
