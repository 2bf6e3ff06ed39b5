"""Ground-truth control maps of the built-in 2-D worlds: segmentation, depth, edges.

A control-conditioned generator (Cosmos Transfer) re-renders an episode from maps that
say where things are but not how they look. The skinned worlds (``worlds.skins``) give
them for the current frame through ``env.controls()``:

- ``seg``: ``[H, W] uint8`` class ids, named by the world's ``SEGMENT_CLASSES``.
- ``depth``: ``[H, W] uint8``, 0 far … 255 near. These worlds are flat, so depth is the
  drawing layer, not a distance: each class sits on one layer (``SEGMENT_DEPTH``) and a
  nearer layer is drawn over a farther one.

Both are the same under every skin, except that the ``distractors`` skin's shapes get
their own class. Edges are derived from segmentation here rather than recorded.
"""

from __future__ import annotations

import numpy as np


def edges_from_segmentation(seg: np.ndarray) -> np.ndarray:
    """Class boundaries: ``seg [..., H, W]`` → ``[..., H, W] uint8``, 255 where a pixel's
    4-neighbour has another class (both sides of a boundary), else 0."""
    seg = np.asarray(seg)
    edges = np.zeros(seg.shape, bool)
    across_rows = seg[..., 1:, :] != seg[..., :-1, :]
    edges[..., 1:, :] |= across_rows
    edges[..., :-1, :] |= across_rows
    across_columns = seg[..., :, 1:] != seg[..., :, :-1]
    edges[..., :, 1:] |= across_columns
    edges[..., :, :-1] |= across_columns
    return edges.astype(np.uint8) * 255
