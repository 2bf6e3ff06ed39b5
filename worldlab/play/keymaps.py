"""Which keys drive which actions, per known world; number keys always pick an index.

A key map names ``buttons`` (each a list of ``KeyboardEvent.key`` values) and
``combos``: the page takes the first combo whose buttons are all held, and
action 0 when none is. Worlds without a map are played with number keys 0-9;
continuous actions are steered with the arrows (x, y in [-1, 1]).
"""

from __future__ import annotations

from typing import Any

ARROWS = {
    "left": ["ArrowLeft", "a", "A"],
    "right": ["ArrowRight", "d", "D"],
    "up": ["ArrowUp", "w", "W"],
    "down": ["ArrowDown", "s", "S"],
}

KEYMAPS: dict[str, dict[str, Any]] = {
    "worldlab/Bounce-v0": {
        "buttons": ARROWS,
        "combos": [
            {"buttons": ["left"], "action": 1, "label": "push left"},
            {"buttons": ["right"], "action": 2, "label": "push right"},
            {"buttons": ["up"], "action": 3, "label": "push up"},
            {"buttons": ["down"], "action": 4, "label": "push down"},
        ],
    },
    "worldlab/Platformer-v0": {
        "buttons": {
            "left": ARROWS["left"],
            "right": ARROWS["right"],
            "jump": ["ArrowUp", "w", "W", " "],
        },
        "combos": [
            {"buttons": ["left", "jump"], "action": 4, "label": "left + jump"},
            {"buttons": ["right", "jump"], "action": 5, "label": "right + jump"},
            {"buttons": ["left"], "action": 1, "label": "left"},
            {"buttons": ["right"], "action": 2, "label": "right"},
            {"buttons": ["jump"], "action": 3, "label": "jump"},
        ],
    },
}


def keymap_for(env_id: str | None, action_spec) -> dict[str, Any]:
    """The key map the page shows and uses for a model of ``env_id`` with ``action_spec``."""
    from worldlab.worlds import resolve_env_id

    if action_spec.kind == "continuous":
        return {"kind": "continuous", "dims": action_spec.dims, "buttons": ARROWS, "combos": []}
    if action_spec.kind != "discrete":
        return {"kind": "none", "buttons": {}, "combos": []}
    known = KEYMAPS.get(resolve_env_id(env_id)) if env_id else None
    if known is not None and max(c["action"] for c in known["combos"]) >= action_spec.n:
        known = None  # a world of the same name with fewer actions: do not guess
    known = known or {"buttons": {}, "combos": []}
    return {"kind": "discrete", "n": action_spec.n, **known}
