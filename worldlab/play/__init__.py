"""Play a world model in the browser: ``worldlab play RUN`` (needs the ``play`` extra).

``PlaySession`` (no web needed) drives any ``WorldModel`` one step at a time beside
its real twin; ``create_app`` serves it to browser tabs over a WebSocket.
"""

from worldlab.play.session import PlayError, PlaySession

__all__ = ["PlayError", "PlaySession", "create_app"]


def create_app(*args, **kwargs):
    """The FastAPI app (imported lazily: fastapi comes with the ``play`` extra)."""
    from worldlab.play.server import create_app as make

    return make(*args, **kwargs)
