"""``flow``: a flow-matching video world model (DIAMOND / Cosmos Predict / Dreamer 4 style)."""

from worldlab.models.flow.config import FlowConfig
from worldlab.models.flow.model import FlowState, FlowWorldModel

__all__ = ["FlowConfig", "FlowState", "FlowWorldModel"]
