"""The last step of every search: order, cut, keep k, and say what was left out and why.

Whatever signals found the results, the page is settled the same way: results liked for this very
query first (pins), then those carrying a boosted label, then the rest, each tier by its relevance
score (relevance.py; after feedback moved the query, by the moved query's, while the score shown stays
what the words say). Pins and boosts are tiers *above* the score, so a fused speech-and-picture hit
never overtakes what the user pinned. The cutoff (word queries, unless turned off): when no result
reaches ``CUTOFF`` (weak keyword hits aside) nothing matched; otherwise results under ``FLOOR`` are
left out. Either way what was left out is counted (``below_cutoff``); pinned results are never cut.
``min_score`` keeps exactly the results whose displayed score reaches it.
"""

from __future__ import annotations

from collections.abc import Callable

from framefind.search.feedback import Votes
from framefind.search.query import Query
from framefind.search.relevance import CUTOFF, FLOOR
from framefind.search.results import Result, ResultKey, SearchPage

DECIMALS = 3  # the score as shown; min_score compares with this very number


def settle(results: list[Result], query: Query, votes: Votes, cut: bool, asked: tuple[str, ...],
           boosted: Callable[[str], bool] | None = None) -> SearchPage:
    """A page of at most ``query.k`` results from every candidate found (``results``, scored).
    ``cut``: apply the relevance cutoff (word queries); ``asked``: the signals searched;
    ``boosted``: whether a result key carries a boosted label (for results only speech or text found)."""
    pinned = [ResultKey.parse(key) for key in votes.pinned]
    hidden = [ResultKey.parse(key) for key in votes.hidden]
    kept = []
    for result in results:
        key = ResultKey.parse(result.key) if pinned or hidden else None
        if key is not None and _among(key, hidden):
            continue  # disliked for this very query, whichever signal found it
        result.pinned = result.pinned or (key is not None and _among(key, pinned))
        result.boosted = result.boosted or (boosted is not None and boosted(result.key))
        result.score = round(result.score, DECIMALS)
        for near in result.near_duplicates:
            near.score = round(near.score, DECIMALS)
        kept.append(result)
    kept.sort(key=lambda r: (not r.pinned, not r.boosted, -(r.score if r.order is None else r.order)))
    matched = not cut or _matched(kept)
    floor = None if not cut else FLOOR if matched else CUTOFF

    def left_out(result: Result) -> bool:
        return cut and not result.pinned and (not matched or result.score < FLOOR)

    below = [r for r in kept if left_out(r)]
    shown = [r for r in kept if not left_out(r)]
    if query.min_score is not None:
        shown = [r for r in shown if r.score >= query.min_score]
    return SearchPage(shown[: query.k], len(below), floor, closest=closest(kept, asked))


def _matched(results: list[Result]) -> bool:
    """Whether anything matched: an unpinned result reached CUTOFF. A weak keyword hit (a phrase holding
    only some of the words, not close in meaning: hybrid.py) adds to a result's score on a page that
    matched, but never makes a page match ("a lava lamp" where a video says "hot lava can flow")."""
    best = max((r.score if r.support is None else round(r.support, DECIMALS) for r in results if not r.pinned),
               default=0.0)
    return best >= CUTOFF


def _among(key: ResultKey, keys: list[ResultKey]) -> bool:
    return any(other.content == key.content and other.overlaps(key.start, key.end) for other in keys)


def closest(results: list[Result], asked: tuple[str, ...]) -> dict[str, float]:
    """Each signal searched -> the best relevance it gave any candidate (0: it found nothing)."""
    best = {signal: 0.0 for signal in asked}
    for result in results:
        for match in result.matches:
            if match.signal in best and match.relevance is not None:
                best[match.signal] = max(best[match.signal], round(match.relevance, DECIMALS))
    return best
