"""worldlab: one toolkit for world models.

Collect episodes from any world, train a world model of any family on them,
imagine futures, evaluate them, act with them and play them.
"""

__version__ = "0.1.0"

from worldlab.worlds import make_env  # noqa: E402  (registers the built-in worlds)

__all__ = ["__version__", "make_env"]
