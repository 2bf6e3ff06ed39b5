"""The ``genie`` family: Genie's world model, learned from action-free video."""

from worldlab.models.genie.config import PRESETS, GenieConfig
from worldlab.models.genie.model import GenieState, GenieWorldModel

__all__ = ["PRESETS", "GenieConfig", "GenieState", "GenieWorldModel"]
