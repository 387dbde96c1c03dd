"""Hybrid search: what a picture shows (visual), what is said in a video (speech), what is written
on screen in a picture or a frame (on-screen text, the signal users name "text") and what the file says
about itself (metadata: folder and file names, captions, keywords), fused into one ranking.

Speech, on-screen text and metadata are found in the stored texts, each by two rankings, keyword (SQLite FTS5,
BM25: exact words, "phrases", prefix*) and meaning (MiniLM cosine over the same texts), whose union
(ordered by reciprocal rank) gives the candidates. Each phrase's relevance is a calibrated probability
from its MiniLM cosine to the words (relevance.py); a result's score
combines its signals' probabilities by noisy-OR, so it means the same with or without texts in the
library. Every result keeps each signal's own evidence (``matches``): the cosine, the words with the
matched terms in «», their time, and what that signal alone says (``relevance``).

Results of the same video whose times overlap are one result; a phrase becomes a moment of its own.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from framefind.search.engine import to_result
from framefind.search.moments import keep_existing
from framefind.search.query import SIGNALS, TEXT_SIGNALS, VISUAL, Query
from framefind.search.relevance import combine, phrase_probability
from framefind.search.results import Match, Result, ResultKey
from framefind.store.catalog import Catalog
from framefind.store.enrich import TextEncoder
from framefind.store.texts import STOPWORDS, TextHit, complete_prefixes, keyword_hits, semantic_hits

RRF_K = 60
SEMANTIC_FLOOR = 0.5  # MiniLM cosine from which a phrase counts as saying what was asked
CANDIDATES = 100  # per ranking


def text_rankings(catalog: Catalog, words: str, vector: np.ndarray, sources: tuple[str, ...],
                  allowed: set[str] | None, unwanted: tuple[str, ...] = ()) -> dict[str, list[TextHit]]:
    """signal -> its phrases or text spans, best first (keyword and meaning fused), within ``allowed`` contents;
    a text holding every word of an ``unwanted`` term (a ``-term`` of the query) is left out."""
    pushed = [set(_tokens(term)) for term in unwanted]
    pushed = [tokens for tokens in pushed if tokens]
    out = {}
    for signal in sources:
        keyword = keyword_hits(catalog, words, (signal,), CANDIDATES, vector)
        meaning = semantic_hits(catalog, vector, (signal,), SEMANTIC_FLOOR, CANDIDATES)
        fused = _rrf([keyword, meaning], lambda hit: (hit.hash, hit.start, hit.end))  # candidates, not scores
        out[signal] = [hit for hit in fused if (allowed is None or hit.hash in allowed)
                       and not any(tokens <= set(_tokens(hit.text)) for tokens in pushed)]
    return out


def _tokens(text: str) -> list[str]:
    """Lower-case words that are not stopwords ("a cat" -> ["cat"])."""
    return [word for word in re.findall(r"\w+", text.lower()) if word not in STOPWORDS]


def _rrf(rankings: list[list], identity: Callable) -> list:
    """Items of several rankings ordered by reciprocal rank (the first-seen copy of each kept,
    so a keyword hit's snippet wins over the same phrase found by meaning)."""
    scores: dict = {}
    first: dict = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, 1):
            key = identity(item)
            scores[key] = scores.get(key, 0.0) + 1 / (RRF_K + rank)
            first.setdefault(key, item)
    return [first[key] for key in sorted(scores, key=scores.get, reverse=True)]


Group = tuple[Result, dict[str, bool]]  # (result, signal -> whether its evidence is only a weak keyword hit)


def fuse(catalog: Catalog, model_id: str, visual: list[Result], texts: dict[str, list[TextHit]], query: Query,
         k: int) -> list[Result]:
    """Every result of every signal, each with its ``matches`` and one score: the signals' relevance
    probabilities combined by noisy-OR under the query's weights (relevance.combine), not yet ordered.
    ``Result.support`` leaves out weak keyword hits (a phrase holding only some of the words and not close
    in meaning): they add to a result's score but cannot make a search match (settle.py)."""
    groups: list[Group] = []
    by_content: dict[str, list[tuple[ResultKey, Group]]] = {}  # a result's content and its folded copies' -> it
    for result in visual if query.weight(VISUAL) else []:
        _add(groups, by_content, (result, {VISUAL: False}))
    for signal, hits in texts.items():
        for hit in hits[: 2 * k + 10]:  # the rest cannot reach the page: not looked up
            _place(catalog, model_id, groups, by_content, signal, hit)
    weights = {signal: query.weight(signal) for signal in SIGNALS}
    if not texts and weights[VISUAL] == max(weights.values()):
        return [result for result, _ in groups]  # the pictures alone, at full weight: their scores stand
    for result, weak in groups:
        best = {m.signal: m.relevance for m in result.matches if m.relevance is not None}  # one match a signal
        if result.order is not None:  # feedback moved the pictures' ranking: rank by it, score by the words
            result.order = combine({**best, VISUAL: result.order}, weights)
        result.score = round(combine(best, weights), 4)
        result.support = combine({s: p for s, p in best.items() if not weak[s]}, weights)
    return [result for result, _ in groups]


def _add(groups: list[Group], by_content: dict[str, list[tuple[ResultKey, Group]]], group: Group) -> None:
    """A new result, found again by its content or by a near-duplicate folded into it."""
    groups.append(group)
    key = ResultKey.parse(group[0].key)
    for content in {key.content} | {ResultKey.parse(near.key).content for near in group[0].near_duplicates}:
        by_content.setdefault(content, []).append((key if content == key.content else ResultKey(content), group))


def _place(catalog: Catalog, model_id: str, groups: list[Group], by_content: dict[str, list[tuple[ResultKey, Group]]],
           signal: str, hit: TextHit) -> None:
    """Add a text hit to the result it belongs to (same image, an overlapping moment, or a near-duplicate folded
    into it: a resized copy named like the original must not come back as a result of its own), or as a new one;
    a result keeps the first (best ranked) hit of each signal."""
    words = hit.snippet or _short(hit.text)
    relevance = hit.relevance if hit.relevance is not None else phrase_probability(hit.score)
    match = Match(signal, round(hit.score, 4), f"{hit.field}: {words}" if hit.field else words, hit.start, hit.end,
                  round(relevance, 4))
    weak = hit.partial and hit.score < SEMANTIC_FLOOR
    for key, (result, signals) in by_content.get(hit.hash, ()):
        if hit.start is None or key.overlaps(hit.start, hit.end):
            if signal not in signals:
                signals[signal] = weak
                result.matches.append(match)
            return
    result = _result_for(catalog, model_id, hit)
    if result is not None:
        result.matches = [match]
        _add(groups, by_content, (result, {signal: weak}))


def _result_for(catalog: Catalog, model_id: str, hit: TextHit) -> Result | None:
    """A result for a text hit found by no other signal: the image, or the phrase's moment of the video."""
    items = [info for info in catalog.content_items(hit.hash, model_id) if keep_existing(info)]
    if not items:
        return None  # no live file, or not embedded by this model yet
    if hit.start is None:
        return to_result((hit.score, items[0]))
    start, end = hit.start, max(hit.end or hit.start, hit.start + 1.0)
    segment = next((info for info in items if info.start is not None and info.start <= start < info.end), items[0])
    return to_result((hit.score, replace(segment, start=round(start, 3), end=round(end, 3),
                                         frame_time=round(start, 3))))


def _short(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"


def allowed_contents(catalog: Catalog, item_ids: np.ndarray | None) -> set[str] | None:
    """The contents of the items a filter allows (None: no filter)."""
    if item_ids is None:
        return None
    rows = catalog.rows_in("SELECT DISTINCT hash FROM items WHERE id IN ({})", (), item_ids.tolist())
    return {row[0] for row in rows}


def with_texts(catalog: Catalog, model_id: str, query: Query, visual: list[Result], encoder: TextEncoder,
               allowed_items: np.ndarray | None, sources: tuple[str, ...] = TEXT_SIGNALS,
               found: dict[str, list[TextHit]] | None = None) -> list[Result]:
    """The visual results fused with what is said, written and named, for a word query (``query.words``);
    ``sources``: the text signals to search (none: the visual results, scored alike); ``found``: other signals'
    hits, judged already (the faces of an example picture: face_match.py)."""
    words = query.words or ""
    sources = tuple(s for s in sources if query.weight(s))
    found = found or {}
    if not sources or not words.strip():
        return fuse(catalog, model_id, visual, dict(found), query, query.k)
    # Meaning is judged on the words asked for: "-a cat" must not pull the query's vector towards cats.
    asked = " ".join(t.value for t in query.terms if t.kind == "words" and t.weight > 0) or words
    unwanted = tuple(t.value for t in query.terms if t.kind == "words" and t.weight < 0)
    vector = encoder.embed_query([complete_prefixes(catalog, asked, sources)])[0]
    texts = text_rankings(catalog, words, vector, sources, allowed_contents(catalog, allowed_items), unwanted)
    return fuse(catalog, model_id, visual, {**texts, **found}, query, query.k)
