"""Families by name. A family module registers its class on import; we import lazily."""

from __future__ import annotations

import importlib

from worldlab.errors import WorldlabError

# Family name → module that defines (and registers) it.
FAMILY_MODULES = {
    "rssm": "worldlab.models.rssm",
    "vmc": "worldlab.models.vmc",
    "genie": "worldlab.models.genie",
    "flow": "worldlab.models.flow",
}
_REGISTRY: dict[str, type] = {}


def register(cls: type) -> type:
    """Class decorator: make a ``WorldModel`` subclass available under ``cls.family``."""
    _REGISTRY[cls.family] = cls
    return cls


def get_family(name: str) -> type:
    """The ``WorldModel`` class of family ``name`` (``rssm``, ...)."""
    if name not in _REGISTRY and name in FAMILY_MODULES:
        importlib.import_module(FAMILY_MODULES[name])
    if name not in _REGISTRY:
        raise WorldlabError(
            f"unknown world-model family '{name}': choose one of "
            f"{', '.join(sorted(set(FAMILY_MODULES) | set(_REGISTRY)))}"
        )
    return _REGISTRY[name]


def families() -> list[str]:
    return sorted(set(FAMILY_MODULES) | set(_REGISTRY))
