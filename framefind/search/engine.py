"""A Query in, Results out: embed the terms, search the right space, describe and score the hits.

The hot path makes a bounded number of SQLite queries whatever k is: one for the allowed ids (only
with filters), one to describe every hit, one for the frames of every video hit (IN lists of up to
500 ids each), never one per hit.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from framefind.errors import FrameFindError, MediaError
from framefind.media.images import load_image
from framefind.models.base import Model
from framefind.search.moments import MERGE_MARGIN, Hit, keep_existing, merge_adjacent, score_hits
from framefind.search.query import Query, Term
from framefind.search.results import Result, ResultKey
from framefind.store.catalog import Catalog, ItemInfo
from framefind.store.indexfiles import VectorStore

OVERFETCH = 5  # several segments of one video may merge into one moment: fetch more than k


ItemVector = Callable[[str, str], np.ndarray]  # (result key, space) -> the stored vector of that result


def query_vector(model: Model, query: Query, item_vector: ItemVector) -> tuple[str, np.ndarray]:
    """(space, 1 x dim unit vector): the weighted sum of the terms' vectors (negative weights subtract).

    With any text term the query lives in the text space (an image or library-item term then
    contributes its vector in that space); with image and item terms alone, in the image space.
    """
    space = model.text_space if any(t.kind == "text" for t in query.terms) else model.image_space
    total = np.zeros(model.spaces[space], np.float32)
    for term in query.terms:
        vector = item_vector(term.value, space) if term.kind == "item" else _term_vector(model, term, space)
        total += term.weight * vector
    norm = float(np.linalg.norm(total))
    if norm < 1e-6:
        raise FrameFindError("the query's terms cancel out: nothing is left to search for")
    return space, (total / norm)[None]


def _term_vector(model: Model, term: Term, space: str) -> np.ndarray:
    if term.kind == "text":
        return model.embed_texts([term.value.strip()])[0]
    try:
        pixels, _, _ = load_image(term.value, model.image_size)
    except MediaError as exc:
        raise FrameFindError(str(exc)) from None
    return model.embed_images(pixels[None])[space][0]


def run_query(catalog: Catalog, store: VectorStore, model: Model, space: str, vector: np.ndarray,
              query: Query) -> list[Result]:
    """Images and video moments nearest to ``vector``, best first, within the query's filters, each
    with the words that say what it shows (``why``)."""
    filters = query.filters
    allowed = catalog.item_ids_where(store.model_id, filters.kinds, filters.under) if filters.active else None
    scores, ids = store.search(space, vector, max(OVERFETCH * query.k, 50), allowed)
    hits = [(float(s), int(i)) for s, i in zip(scores[0], ids[0], strict=True) if i >= 0]
    first = _head(hits, 2 * query.k + 10)  # usually enough: describing every hit costs more than the search
    scored = _scored(catalog, space, vector, first, query)
    if len(scored) < query.k and len(first) < len(hits):  # merged moments or deleted files: take them all
        scored = _scored(catalog, space, vector, hits, query)
    results = [to_result(hit) for hit in scored[: query.k]]
    ids, vectors = catalog.vectors(store.model_id, model.text_space, [info.item_id for _, info in scored[: query.k]])
    why = dict(zip(ids.tolist(), model.explain(vectors), strict=True))
    for result, (_, info) in zip(results, scored, strict=False):
        result.why = why.get(info.item_id, [])
    return results


def _head(hits: list[tuple[float, int]], n: int) -> list[tuple[float, int]]:
    """The first ``n`` hits and any after them close enough in score to merge into their moments."""
    if len(hits) <= n:
        return hits
    floor = hits[n - 1][0] - MERGE_MARGIN
    return [hit for i, hit in enumerate(hits) if i < n or hit[0] >= floor]


def _scored(catalog: Catalog, space: str, vector: np.ndarray, hits: list[tuple[float, int]],
            query: Query) -> list[Hit]:
    """The best ``query.k`` live results among ``hits``: described, re-scored, merged, on disk."""
    described = catalog.describe([i for _, i in hits])
    scored = merge_adjacent(score_hits(catalog, space, vector[0], hits, described))
    if query.min_score is not None:
        scored = [hit for hit in scored if hit[0] >= query.min_score]
    live = []
    for hit in scored:  # stat only what is shown: a deleted file is never a result
        if keep_existing(hit[1]):
            live.append(hit)
            if len(live) == query.k:
                break
    return live


def key_of(info: ItemInfo) -> ResultKey:
    """An item's stable key: its content, and for a video segment or moment its time range."""
    return ResultKey(info.content, info.start, info.end) if info.kind == "video" else ResultKey(info.content)


def to_result(hit: Hit) -> Result:
    score, info = hit
    first, *others = info.paths
    video = info.kind == "video"
    return Result(key=str(key_of(info)), path=first, score=round(score, 4), kind=info.kind,
                  start=info.start if video else None, end=info.end if video else None,
                  frame_time=info.frame_time if video else None, width=info.width, height=info.height,
                  duplicates=others)


def resolve(catalog: Catalog, model_id: str, key: ResultKey) -> list[ItemInfo]:
    """The live items a stable key refers to now: the image, or the segments overlapping the moment."""
    return [info for info in catalog.content_items(key.content, model_id) if key.overlaps(info.start, info.end)]
