"""The ``vmc`` family: Ha & Schmidhuber's World Models (V: conv VAE, M: MDN-RNN).

C, the controller evolved with CMA-ES inside the dream, is ``worldlab.agents.vmc``.
"""

from worldlab.models.vmc.config import PRESETS, VMCConfig
from worldlab.models.vmc.model import VMCState, VMCWorldModel

__all__ = ["PRESETS", "VMCConfig", "VMCState", "VMCWorldModel"]
