"""A Query in, a SearchPage out: embed the terms, search the right space, look up and score the hits.

The hot path makes a bounded number of SQLite queries whatever k is: one for the allowed ids (only
with filters), one for every hit's item info, one for the frames of every video hit (IN lists of up to
500 ids each), one for the vectors of the hits shown (folding near-duplicates), a few for feedback
and calibration, never one per hit.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from framefind.errors import FrameFindError, MediaError
from framefind.models.base import Model
from framefind.search.cache import SearchCache
from framefind.search.duplicates import THRESHOLD, fold_near_duplicates
from framefind.search.feedback import Votes
from framefind.search.moments import MERGE_MARGIN, Hit, keep_existing, merge_adjacent, score_hits
from framefind.search.query import VISUAL, Query, Term
from framefind.search.relevance import VisualContext
from framefind.search.results import Match, NearDuplicate, Result, ResultKey, key_of
from framefind.store.catalog import Catalog, ItemInfo
from framefind.store.filtering import Filters, item_ids_where
from framefind.store.vectorstore import VectorStore

OVERFETCH = 5  # several segments of one video may merge into one moment: fetch more than k


ItemVector = Callable[[str, str], np.ndarray]  # (result key, space) -> the stored vector of that result
EmbedWords = Callable[[str], np.ndarray]  # typed words -> their vector in the model's words space


def query_vector(model: Model, query: Query, item_vector: ItemVector,
                 embed_words: EmbedWords | None = None) -> tuple[str, np.ndarray]:
    """(space, 1 x dim unit vector): the weighted sum of the terms' vectors (negative weights subtract).

    With any words term the query lives in the words space (an image or library-item term then
    contributes its vector in that space); with image and item terms alone, in the image space.
    ``embed_words``: how words become a vector (default ``model.embed_texts``; a searcher passes a cached one).
    """
    space = model.words_space if any(t.kind == "words" for t in query.terms) else model.image_space
    total = np.zeros(model.spaces[space], np.float32)
    for term in query.terms:
        vector = item_vector(term.value, space) if term.kind == "item" else _term_vector(model, term, space,
                                                                                         embed_words)
        total += term.weight * vector
    norm = float(np.linalg.norm(total))
    if norm < 1e-6:
        raise FrameFindError("the query's terms cancel out: nothing is left to search for")
    return space, (total / norm)[None]


def _term_vector(model: Model, term: Term, space: str, embed_words: EmbedWords | None = None) -> np.ndarray:
    if term.kind == "words":
        return embed_words(term.value.strip()) if embed_words else model.embed_texts([term.value.strip()])[0]
    try:
        pixels, _, _ = model.decode_image(term.value)
    except MediaError as exc:
        raise FrameFindError(str(exc)) from None
    return model.embed_images(pixels[None])[space][0]


Tier = tuple[np.ndarray | None, str]  # (allowed item ids or None for all, PINNED / BOOSTED / "")
PINNED, BOOSTED = "pinned", "boosted"


def run_query(catalog: Catalog, store: VectorStore, model: Model, space: str, vector: np.ndarray, query: Query,
              context: VisualContext, votes: Votes | None = None, fold_at: float = THRESHOLD,
              cache: SearchCache | None = None, asked: np.ndarray | None = None) -> list[Result]:
    """Images and video moments nearest to ``vector`` within the query's filters, liked results first,
    then those with a boosted label, then the rest, each with the words that say what it shows
    (``why``), its cosine as visual evidence (``matches``) and its relevance score (the probability
    ``context`` gives its cosine), near-duplicates folded into
    their best. Nothing is cut here: the caller fuses the other signals, then orders and cuts (settle.py).
    ``cache``: one library's reusable reads (item vectors, explanations); the same results without it.
    ``asked``: the query before feedback moved it to ``vector``: results are found and ranked by ``vector``
    (``Result.order``) but scored by how well they match what was asked (a vote must not inflate scores)."""
    votes = votes or Votes()
    hidden: dict[str, list[ResultKey]] = {}  # disliked for this very query, by content
    for text in votes.hidden:
        parsed = ResultKey.parse(text)
        hidden.setdefault(parsed.content, []).append(parsed)
    shown: list[tuple[Hit, str]] = []
    shown_at: dict[str, list[ItemInfo]] = {}  # what is shown, by content: one look-up per hit, not a scan
    for allowed, tier in _tiers(catalog, store.model_id, model, query, votes):
        want = 2 * query.k + len(votes.hidden) + 10
        for hit in _search(catalog, store, space, vector, allowed, query, want):
            key = key_of(hit[1])
            if any(h.overlaps(key.start, key.end) for h in hidden.get(key.content, ())) \
                    or any(key.overlaps(info.start, info.end) for info in shown_at.get(key.content, ())):
                continue
            shown.append((hit, tier))
            shown_at.setdefault(key.content, []).append(hit[1])
    vectors_of = cache.vectors if cache else None
    moved = np.array([hit[0] for hit, _ in shown])
    cosines = moved if asked is None else _as_asked(catalog, store.model_id, space, shown, moved, asked - vector,
                                                    vectors_of)
    scores = context.probability(cosines)
    cosine_of = {hit[1].item_id: float(c) for (hit, _), c in zip(shown, cosines, strict=True)}
    order_of = {hit[1].item_id: float(p) for (hit, _), p in zip(shown, context.probability(moved), strict=True)} \
        if asked is not None else {}
    tier_of = {hit[1].item_id: tier for hit, tier in shown}
    scored = [((float(p), hit[1]), tier == PINNED) for p, (hit, tier) in zip(scores, shown, strict=True)]
    folded = fold_near_duplicates(catalog, store.model_id, model.image_space, scored, fold_at, vectors_of)
    results = [to_result(hit, pinned, near) for hit, pinned, near in folded]
    why = _why(catalog, store.model_id, model, [hit[1].item_id for hit, _, _ in folded], cache)
    for result, (hit, _, _) in zip(results, folded, strict=True):
        item = hit[1].item_id
        result.why = why.get(item, [])
        result.boosted = tier_of[item] == BOOSTED
        result.matches = [Match(VISUAL, round(cosine_of[item], 4), ", ".join(result.why), result.start, result.end,
                                round(hit[0], 4))]
        result.order = order_of.get(item)
    return results


def _as_asked(catalog: Catalog, model_id: str, space: str, shown: list[tuple[Hit, str]], moved: np.ndarray,
              shift: np.ndarray, vectors_of=None) -> np.ndarray:
    """The hits' cosines to the query as asked, from their cosines to the moved one: each item's stored
    vector times the shift (exact for images; for a moment, its segments' mean stands in for its best frame)."""
    ids, vectors = (vectors_of or catalog.vectors)(model_id, space, [hit[1].item_id for hit, _ in shown])
    row = {item: i for i, item in enumerate(ids.tolist())}
    delta = vectors @ shift[0] if len(ids) else np.zeros(0)
    return np.array([c + (float(delta[row[hit[1].item_id]]) if hit[1].item_id in row else 0.0)
                     for c, (hit, _) in zip(moved, shown, strict=True)])


def _why(catalog: Catalog, model_id: str, model: Model, ids: list[int], cache: SearchCache | None) -> dict:
    """item id -> the words that say what it shows (from its ``words_space`` vector)."""
    if cache is not None:
        return cache.why(model_id, model.words_space, ids, model.explain)
    found, vectors = catalog.vectors(model_id, model.words_space, ids)
    return dict(zip(found.tolist(), model.explain(vectors), strict=True))


def _tiers(catalog: Catalog, model_id: str, model: Model, query: Query, votes: Votes) -> list[Tier]:
    """What to search, in the order results are shown: liked results, boosted labels, everything."""
    filters = query.filters
    allowed = item_ids_where(catalog, model_id, filters, model.label_names) if filters.active else None
    tiers: list[Tier] = []
    pinned = [info.item_id for key in votes.pinned for info in resolve(catalog, model_id, ResultKey.parse(key))]
    if pinned:
        tiers.append((_within(np.array(pinned, np.int64), allowed), PINNED))
    if query.boost_labels:
        boosted = item_ids_where(catalog, model_id, Filters(labels=query.boost_labels), model.label_names)
        tiers.append((_within(boosted, allowed), BOOSTED))
    return tiers + [(allowed, "")]


def _within(ids: np.ndarray, allowed: np.ndarray | None) -> np.ndarray:
    return ids if allowed is None else np.intersect1d(ids, allowed)


def _search(catalog: Catalog, store: VectorStore, space: str, vector: np.ndarray, allowed: np.ndarray | None,
            query: Query, want: int) -> list[Hit]:
    """Up to ``want`` live hits among ``allowed``: looked up, re-scored by frames, merged into moments."""
    if allowed is not None and not len(allowed):
        return []
    scores, ids = store.search(space, vector, max(OVERFETCH * query.k, 50), allowed)
    hits = [(float(s), int(i)) for s, i in zip(scores[0], ids[0], strict=True) if i >= 0]
    first = _head(hits, want)  # usually enough: looking up every hit costs more than the search
    scored = _scored(catalog, space, vector, first, query, want)
    if len(scored) < want and len(first) < len(hits):  # merged moments or deleted files: take them all
        scored = _scored(catalog, space, vector, hits, query, want)
    return scored


def _head(hits: list[tuple[float, int]], n: int) -> list[tuple[float, int]]:
    """The first ``n`` hits and any after them close enough in score to merge into their moments."""
    if len(hits) <= n:
        return hits
    floor = hits[n - 1][0] - MERGE_MARGIN
    return [hit for i, hit in enumerate(hits) if i < n or hit[0] >= floor]


def _scored(catalog: Catalog, space: str, vector: np.ndarray, hits: list[tuple[float, int]],
            query: Query, want: int) -> list[Hit]:
    """The best ``want`` live results among ``hits``: looked up, re-scored, merged, on disk."""
    infos = catalog.item_infos([i for _, i in hits])
    scored = merge_adjacent(score_hits(catalog, space, vector[0], hits, infos))
    live = []
    for hit in scored:  # stat only what is shown: a deleted file is never a result
        if keep_existing(hit[1]):
            live.append(hit)
            if len(live) == want:
                break
    return live


def to_result(hit: Hit, pinned: bool = False, near: list[NearDuplicate] | None = None) -> Result:
    score, info = hit
    first, *others = info.paths
    video = info.kind == "video"
    return Result(key=str(key_of(info)), path=first, score=round(score, 4), kind=info.kind,
                  start=info.start if video else None, end=info.end if video else None,
                  frame_time=info.frame_time if video else None, width=info.width, height=info.height,
                  duplicates=others, near_duplicates=near or [], pinned=pinned)


def resolve(catalog: Catalog, model_id: str, key: ResultKey) -> list[ItemInfo]:
    """The live items a stable key refers to now: the image, or the segments overlapping the moment."""
    return [info for info in catalog.content_items(key.content, model_id) if key.overlaps(info.start, info.end)]
