"""What a library's searches can reuse from one request to the next, and when it stops being valid.

A server answers the same library many times a second; without these, every request read the
vectors of its ~60 hits from SQLite again, re-explained the same results and re-embedded words
typed a moment ago (docs/benchmarks.md, "HTTP search under load"; the 2,048 sample vectors a
query's spread is read from are kept by its Calibration, cutoff.py). Everything here returns exactly
what the uncached call returns:

- ``vectors``: an item's stored vector, by item id. An item's vectors never change (re-embedding a
  content makes new items with new ids), yet the whole cache is dropped whenever the model's
  generation moves, so that what it holds stays bounded by what the current library shows.
- ``why``: the words that say what an item shows (``Model.explain``), by model and item id.
- ``query``: the vector of typed words, per model (an LRU: the same words always embed the same).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

import numpy as np

from framefind.store.catalog import Catalog

MAX_ITEMS = 4096  # item vectors (or explanations) kept per space; all dropped at once when full
MAX_QUERIES = 256  # typed queries whose vectors are kept


class SearchCache:
    """One library's reusable search reads (thread-safe: a server's worker threads share it)."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._generation: tuple[str, int] | None = None  # (model id, generation) the item caches belong to
        self._vectors: dict[str, dict[int, np.ndarray]] = {}  # space -> item id -> vector
        self._why: dict[int, list[str]] = {}
        self._queries: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.misses = 0  # item vectors read from the catalog (tests and benchmarks look at it)

    def clear(self) -> None:
        """Forget everything (the next search reads as the first one after opening the library did)."""
        with self._lock:
            self._generation, self._vectors, self._why = None, {}, {}
            self._queries.clear()

    def check(self, model_id: str, generation: int) -> None:
        """Drop every item-level entry when the library's model or its generation moved (a new index
        run, a deletion, a model switch): a search calls this first, with what it reads the library at."""
        if self._generation != (model_id, generation):
            with self._lock:
                self._vectors, self._why = {}, {}
                self._generation = (model_id, generation)

    def vectors(self, model_id: str, space: str, ids: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """``Catalog.vectors`` for the given ids (ids that have no vector are left out, as there)."""
        known = self._vectors.setdefault(space, {})
        missing = [i for i in ids if i not in known]
        if missing:
            self.misses += len(missing)
            found_ids, found = self.catalog.vectors(model_id, space, missing)
            if len(known) + len(found_ids) > MAX_ITEMS:
                known = self._vectors[space] = {}
            for item_id, vector in zip(found_ids.tolist(), found, strict=True):
                vector.flags.writeable = False
                known[item_id] = vector
        present = [i for i in ids if i in known]
        if not present:
            return np.zeros(0, np.int64), np.zeros((0, 0), np.float32)
        return np.array(present, np.int64), np.stack([known[i] for i in present])

    def why(self, model_id: str, space: str, ids: list[int], explain: Callable[[np.ndarray], list]) -> dict:
        """item id -> ``explain``'s words for its ``space`` vector (only the items not seen before are explained)."""
        missing = [i for i in ids if i not in self._why]
        if missing:
            found_ids, vectors = self.vectors(model_id, space, missing)
            if len(self._why) + len(found_ids) > MAX_ITEMS:
                self._why = {}
            self._why.update(zip(found_ids.tolist(), explain(vectors), strict=True))
        return {i: self._why[i] for i in ids if i in self._why}

    def query(self, model_id: str, text: str, embed: Callable[[list[str]], np.ndarray]) -> np.ndarray:
        """The vector of ``text`` as ``embed`` makes it, kept for the most recent ``MAX_QUERIES`` texts."""
        key = (model_id, text)
        with self._lock:
            vector = self._queries.get(key)
            if vector is not None:
                self._queries.move_to_end(key)
                return vector
        vector = embed([text])[0]
        vector.flags.writeable = False
        with self._lock:
            self._queries[key] = vector
            while len(self._queries) > MAX_QUERIES:
                self._queries.popitem(last=False)
        return vector
