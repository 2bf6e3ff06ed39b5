"""World models: the shared interface, building blocks and one package per family."""

from worldlab.models.base import ActionSpec, WorldModel
from worldlab.models.registry import families, get_family, register

__all__ = ["ActionSpec", "WorldModel", "families", "get_family", "register"]
