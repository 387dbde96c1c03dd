"""What indexing one file yields: its searchable items (an image, or video segments) and their frames."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class ItemFrames:
    """The sampled frames of one video segment: each one's time, vectors and JPEG thumbnail (so the
    thumbnail of a moment shows its best-matching frame, not just the segment's middle)."""

    times: list[float]
    vectors: dict[str, np.ndarray]  # space -> (n_frames, dim)
    thumbnails: list[bytes] | None = None


@dataclass(frozen=True)
class Item:
    """One searchable unit: a whole image, or a video segment from ``start`` to ``end`` seconds."""

    start: float | None = None
    end: float | None = None
    frame_time: float | None = None
