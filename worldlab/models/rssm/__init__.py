"""The ``rssm`` family: DreamerV3's world model."""

from worldlab.models.rssm.config import PRESETS, RSSMConfig
from worldlab.models.rssm.core import RSSMState
from worldlab.models.rssm.model import RSSMWorldModel

__all__ = ["PRESETS", "RSSMConfig", "RSSMState", "RSSMWorldModel"]
