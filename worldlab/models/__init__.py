"""World models: the shared interface, building blocks and one package per family."""

from worldlab.models.base import ActionSpec, SamplingOption, WorldModel
from worldlab.models.registry import families, get_family, register

__all__ = ["ActionSpec", "SamplingOption", "WorldModel", "families", "get_family", "register"]
