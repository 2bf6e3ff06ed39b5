"""Video curation (``worldlab curate``): shots, transcode, filters, dedup, clusters, report,
on Ray Data or in one process, into a standard worldlab dataset."""

from worldlab.curate.config import CurateConfig
from worldlab.curate.pipeline import curate

__all__ = ["CurateConfig", "curate"]
