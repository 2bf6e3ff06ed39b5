"""Control transfer (Cosmos Transfer): re-render episodes or videos in other visual styles
under control maps, measure how well, and multiply a dataset with it.

- ``transfer_frames`` (render.py): the core, frames in → frames out.
- ``transfer`` (video.py): a video or episodes to a side-by-side video and its measures.
- ``augment`` (augment.py): a dataset N times larger, every array but the frames kept.
- ``quality``: edge F1, flicker, PSNR, style distance.
"""

from worldlab.transfer.augment import augment, trained_styles
from worldlab.transfer.render import ControlSpec, transfer_frames
from worldlab.transfer.video import transfer

__all__ = ["ControlSpec", "augment", "trained_styles", "transfer", "transfer_frames"]
