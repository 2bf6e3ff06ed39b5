"""Data: the episode format, atomic writers, random-access sampling, collection, video."""

from worldlab.data.collect import collect
from worldlab.data.dataset import EpisodeDataset
from worldlab.data.episode import read_episode, write_episode
from worldlab.data.import_video import VideoImportWarning, drop_actions, import_videos
from worldlab.data.manifest import Manifest
from worldlab.data.video import write_video

__all__ = [
    "EpisodeDataset",
    "Manifest",
    "VideoImportWarning",
    "collect",
    "drop_actions",
    "import_videos",
    "read_episode",
    "write_episode",
    "write_video",
]
