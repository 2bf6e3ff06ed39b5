"""Worlds: the built-in numpy worlds and adapters that give any suite 64×64 pixels.

``make_env(name)`` is the one door: a short name (``bounce``), a worldlab id
(``worldlab/Bounce-v0``), or any Gymnasium / ALE / MinAtar id. Every env it
returns observes ``[H, W, 3] uint8`` frames.
"""

from __future__ import annotations

import gymnasium

BUILTIN_WORLDS = {
    "bounce": (
        "worldlab/Bounce-v0",
        "worldlab.worlds.bounce:BounceEnv",
        "balls under gravity with elastic collisions, an occluder and a pushable ball",
    ),
    "reach": (
        "worldlab/Reach-v0",
        "worldlab.worlds.reach:ReachEnv",
        "a point mass steered by 2-D continuous actions to a target",
    ),
    "platformer": (
        "worldlab/Platformer-v0",
        "worldlab.worlds.platformer:PlatformerEnv",
        "a side-scroller: run, jump between platforms, collect coins",
    ),
}

for _name, (_env_id, _entry_point, _) in BUILTIN_WORLDS.items():
    if _env_id not in gymnasium.registry:
        gymnasium.register(_env_id, entry_point=_entry_point)

from worldlab.worlds.adapters import make_env, resolve_env_id, suites_status  # noqa: E402

__all__ = ["BUILTIN_WORLDS", "make_env", "resolve_env_id", "suites_status"]
