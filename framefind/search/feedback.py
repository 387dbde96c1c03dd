"""Search that learns: thumbs up and down move a query's results (Rocchio), and carry to similar queries.

Feedback is stored by the words as typed and the result's stable key (content hash, plus the time
range of a moment), so it survives re-indexing, moves and a change of model: the vectors it points
at are looked up afresh on every search.

- The query vector moves toward the mean of liked results and away from the mean of disliked ones
  (Rocchio: ``q + BETA * liked - GAMMA * disliked``, renormalised).
- Feedback given to *other* queries counts too, weighted by how close their words are to this
  query's (cosine of the text vectors, from ``SIMILAR`` = weight 0 up to identical = weight 1): a
  thumbs up on "dog on the beach" helps "dog at the seaside".
- For the very same query, liked results are pinned on top and disliked ones are left out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from framefind.models.base import Model
from framefind.search.query import feedback_key
from framefind.search.results import ResultKey
from framefind.store.catalog import Catalog

BETA, GAMMA = 0.75, 0.5  # Rocchio's weights for the liked and the disliked centroid (query: 1)
SIMILAR = 0.6  # text-vector cosine below which another query's feedback does not carry over


@dataclass
class Votes:
    """The feedback that bears on one query: keys with the weight each carries (1 = this very query)."""

    liked: dict[str, float] = field(default_factory=dict)
    disliked: dict[str, float] = field(default_factory=dict)

    @property
    def pinned(self) -> list[str]:
        """Liked for this very query: shown first whatever the scores say."""
        return [key for key, weight in self.liked.items() if weight >= 1.0]

    @property
    def hidden(self) -> set[str]:
        """Disliked for this very query: never shown again for it."""
        return {key for key, weight in self.disliked.items() if weight >= 1.0}

    def __bool__(self) -> bool:
        return bool(self.liked or self.disliked)


class FeedbackMemory:
    """Feedback as it bears on queries; the text vectors of earlier queries are embedded once per process."""

    def __init__(self, catalog: Catalog, model: Model) -> None:
        self.catalog, self.model = catalog, model
        self._vectors: dict[str, np.ndarray] = {}

    def votes(self, said: str) -> Votes:
        """The feedback on ``said`` itself and on queries whose words mean nearly the same."""
        rows = self.catalog.feedback()
        if not rows:
            return Votes()
        this = feedback_key(said)
        weights = self._closeness(this, sorted({q for q, _, _, _ in rows}))
        votes = Votes()
        for query, key, vote, _ in rows:
            weight = weights.get(query, 0.0)
            target = votes.liked if vote > 0 else votes.disliked
            if weight > 0 and weight > target.get(key, 0.0):
                target[key] = weight
        for key in set(votes.liked) & set(votes.disliked):  # contradicting votes: the closer query wins
            loser = votes.disliked if votes.liked[key] >= votes.disliked[key] else votes.liked
            loser.pop(key)
        return votes

    def _closeness(self, this: str, queries: list[str]) -> dict[str, float]:
        """query -> weight in [0, 1]: 1 for the same words, falling to 0 at cosine ``SIMILAR``."""
        missing = [q for q in queries + [this] if q not in self._vectors]
        if missing:
            self._vectors.update(zip(missing, self.model.embed_texts(missing), strict=True))
        mine = self._vectors[this]
        out = {}
        for query in queries:
            cosine = 1.0 if query == this else float(self._vectors[query] @ mine)
            if cosine > SIMILAR:
                out[query] = 1.0 if query == this else min(0.99, (cosine - SIMILAR) / (1 - SIMILAR))
        return out


VectorOf = Callable[[str], "np.ndarray | None"]  # result key -> its vector in the query's space (None: gone)


def rocchio(vector: np.ndarray, votes: Votes, vector_of: VectorOf) -> np.ndarray:
    """The query vector moved toward liked and away from disliked results (1 x dim, unit length)."""
    moved = vector[0].astype(np.float32).copy()
    for keys, sign, strength in ((votes.liked, 1.0, BETA), (votes.disliked, -1.0, GAMMA)):
        found = [(vector_of(key), weight) for key, weight in keys.items()]
        found = [(v, w) for v, w in found if v is not None]
        if not found:
            continue
        weights = np.array([w for _, w in found], np.float32)
        centroid = (np.stack([v for v, _ in found]) * weights[:, None]).sum(axis=0) / weights.sum()
        moved += sign * strength * float(weights.max()) * centroid
    norm = float(np.linalg.norm(moved))
    return (moved / norm)[None] if norm > 1e-6 else vector


def golden_queries(rows: list[tuple[str, str, int, float]], resolve: Callable, roots: list[str],
                   directory: object) -> dict:
    """Feedback rows as a golden-query file for ``framefind eval``: each query with the results liked
    for it (by their current path; a moment as ``PATH#START-END``), the library's folders as gallery."""
    liked: dict[str, list[str]] = {}
    for query, key, vote, _ in sorted(rows):
        parsed = ResultKey.parse(key)
        infos = resolve(parsed) if vote > 0 else []
        if infos:
            where = f"#{parsed.start:g}-{parsed.end:g}" if parsed.start is not None else ""
            liked.setdefault(query, []).append(infos[0].paths[0] + where)
    return {"about": f"thumbs up given in {directory}, exported by framefind", "root": "/", "gallery": roots,
            "queries": [{"text": query, "relevant": paths} for query, paths in sorted(liked.items())]}
