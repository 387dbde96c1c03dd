"""Queries: text or an example image -> query vector -> ANN search in the right space -> results."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from framefind.errors import FrameFindError, MediaError
from framefind.media.images import load_image
from framefind.models.base import Model
from framefind.search.moments import merge_adjacent, score_hits
from framefind.store.catalog import Catalog
from framefind.store.indexfiles import VectorStore


@dataclass
class Result:
    path: str
    score: float
    kind: str
    item_id: int
    start: float | None = None
    end: float | None = None
    frame_time: float | None = None
    width: int | None = None
    height: int | None = None
    duplicates: list[str] = field(default_factory=list)  # other paths with the same content
    clip: str | None = None  # an exported clip of this moment (search --save-clips)

    def to_dict(self) -> dict:
        out = asdict(self)
        if self.kind != "video":  # start/end/frame_time mean something for video moments only
            for key in ("start", "end", "frame_time", "clip"):
                out.pop(key)
        elif self.clip is None:
            out.pop("clip")
        return out


def query_vector(model: Model, text: str | None, image: str | Path | None) -> tuple[str, np.ndarray]:
    """(space, 1 x dim vector) for a text or an example-image query."""
    if (text is None) == (image is None):
        raise FrameFindError("give either a text query or an example image, not both")
    if image is not None:
        if not Path(image).is_file():
            raise FrameFindError(f"{image}: no such file")
        try:
            pixels, _ = load_image(image, model.image_size)
        except MediaError as exc:
            raise FrameFindError(str(exc)) from None
        return model.image_space, model.embed_images(pixels[None])[model.image_space]
    if not text or not text.strip():
        raise FrameFindError("empty query: give some words to search for")
    return model.text_space, model.embed_texts([text.strip()])


def run_query(catalog: Catalog, store: VectorStore, space: str, vector: np.ndarray, k: int,
              min_score: float | None = None) -> list[Result]:
    """Images and video moments nearest to ``vector``, best first."""
    if k < 1:
        raise FrameFindError(f"-k must be at least 1 (got {k})")
    # Over-fetch: several segments of one video may merge into a single moment.
    scores, ids = store.index(space).search(vector, max(5 * k, 50))
    hits = [(float(s), int(i)) for s, i in zip(scores[0], ids[0], strict=True) if i >= 0]
    described = catalog.describe([i for _, i in hits])
    scored = merge_adjacent(score_hits(catalog, space, vector[0], hits, described))
    if min_score is not None:
        scored = [hit for hit in scored if hit[0] >= min_score]
    return [to_result(score, item_id, info) for score, item_id, info in scored[:k]]


def to_result(score: float, item_id: int, info: dict) -> Result:
    first, *others = info["paths"]
    fields = {key: info[key] for key in ("kind", "start", "end", "frame_time", "width", "height")}
    return Result(path=first, score=round(score, 4), item_id=item_id, duplicates=others, **fields)
