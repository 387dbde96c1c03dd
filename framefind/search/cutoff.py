"""What a library knows about its own scores: the calibration each space's relevance is judged by.

Raw cosines mean different things in different spaces, for different models and for different
queries, so relevance.py turns them into one probability. What that needs from the library is kept
here, per model and space:

- an even sample of the library's items (``sample_ids``): a query's scores over it give the
  library's own spread for that query (its TOP_SHARE quantile and median: is a result an outlier
  here?), used for example images and models without a vocabulary;
- ``duplicate``: the similarity from which two items of this space are near-duplicates.

(Word queries of a model with a label vocabulary, ConSE, are judged by their attainable score instead:
the best any picture could score, relevance.VisualContext; that needs nothing from the library.)

Calibration is computed when an index run ends (a reader never writes) and kept in the catalog; it
embeds nothing. A record written by 0.3.0-0.7.0 (with their ``z`` floor and letter-soup ``gate``) is
read as it is; those releases find no ``z`` in a record written now and calibrate in memory.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from framefind.models.base import Model
from framefind.search.duplicates import THRESHOLD
from framefind.search.relevance import TOP_SHARE
from framefind.store.catalog import Catalog
from framefind.store.vectorstore import VectorStore

SAMPLE = 2048  # items whose scores stand for the library's distribution (evenly spaced ids)
DUPLICATE_FLOOR, DUPLICATE_CAP, DUPLICATE_MARGIN = THRESHOLD, 0.97, 0.3
MIN_ITEMS = 20  # below this a library has no score distribution to speak of
IDENTICAL = 0.999  # the duplicate threshold where vectors cannot tell copies from look-alikes


@dataclass(frozen=True)
class Calibration:
    space: str
    generation: int
    sample_ids: tuple[int, ...]
    duplicate: float = DUPLICATE_FLOOR  # similarity from which two items of this space are near-duplicates
    _samples: dict = field(default_factory=dict, compare=False, repr=False)  # model id -> the sample's vectors

    def spread(self, catalog: Catalog, model_id: str, vector: np.ndarray) -> tuple[float, float] | None:
        """The query's cosine at the library's TOP_SHARE quantile and at its median (None: too few items)."""
        if len(self.sample_ids) < MIN_ITEMS:
            return None
        reference, median = np.quantile(self._sample(catalog, model_id) @ vector[0], [TOP_SHARE, 0.5])
        return float(reference), float(median)

    def _sample(self, catalog: Catalog, model_id: str) -> np.ndarray:
        vectors = self._samples.get(model_id)
        if vectors is None:  # read once: a calibration is kept (by searchers) as long as its generation lasts
            vectors = self._samples[model_id] = catalog.vectors(model_id, self.space, list(self.sample_ids))[1]
        return vectors


def calibration(catalog: Catalog, model_id: str, space: str, cache: dict | None = None) -> Calibration | None:
    """The stored calibration of ``space`` if it is current, else one computed now (not stored)."""
    generation = catalog.generation(model_id)
    key = f"cutoff:{model_id}:{space}"
    cached = (cache or {}).get(key)
    if cached is not None and cached.generation == generation:
        return cached
    stored = catalog.meta(key)
    found = _parse(stored, space) if stored else None
    if found is not None and found.generation == generation:
        if cache is not None:
            cache[key] = found
        return found
    found = calibrate(catalog, model_id, space, generation)
    if cache is not None and found is not None:
        cache[key] = found
    return found


def store_calibrations(catalog: Catalog, store: VectorStore, model: Model) -> None:
    """Calibrate every space of a model and keep the result (the writer calls this after an index run)."""
    generation = catalog.generation(store.model_id)
    for space in model.spaces:
        stored = _parse(catalog.meta(f"cutoff:{store.model_id}:{space}") or "", space)
        if stored is not None and stored.generation == generation:
            continue  # nothing changed since: an index run with nothing new reads nothing again
        found = calibrate(catalog, store.model_id, space, generation)
        if found is not None:
            catalog.set_meta(f"cutoff:{store.model_id}:{space}", json.dumps(
                {"generation": generation, "sample": list(found.sample_ids), "duplicate": found.duplicate}))


def calibrate(catalog: Catalog, model_id: str, space: str, generation: int) -> Calibration | None:
    """The calibration of ``space``: an even sample of the library and the near-duplicate threshold."""
    ids = catalog.vector_ids(model_id, space)
    if len(ids) < 2:
        return None
    sample = ids[np.linspace(0, len(ids) - 1, min(SAMPLE, len(ids))).astype(int)]
    _, vectors = catalog.vectors(model_id, space, sample.tolist())
    duplicate = duplicate_threshold(vectors) if len(ids) >= MIN_ITEMS else DUPLICATE_FLOOR
    return Calibration(space, generation, tuple(int(i) for i in sample), duplicate)


def duplicate_threshold(vectors: np.ndarray) -> float:
    """Near-duplicates must be far closer than neighbours usually are here: the threshold rises with
    the lower-quartile nearest-neighbour similarity, from 0.85. In a collection of look-alikes
    (Fashion-MNIST: distinct items' nearest neighbours reach 0.95) vectors cannot tell a copy from a
    sibling: then only identical pictures (the same pixels in another format) fold."""
    probe = vectors[:: max(1, len(vectors) // 512)]
    similarity = probe @ vectors.T
    similarity[similarity > 0.9999] = -1.0  # the probe itself (and exact copies, which need no judging)
    typical = float(np.percentile(similarity.max(axis=1), 25))  # robust to a library of many copies
    wanted = max(DUPLICATE_FLOOR, typical + DUPLICATE_MARGIN)
    return round(wanted, 3) if wanted <= DUPLICATE_CAP else IDENTICAL


def _parse(raw: str, space: str) -> Calibration | None:
    try:
        data = json.loads(raw)
        return Calibration(space, int(data["generation"]), tuple(int(i) for i in data["sample"]),
                           float(data.get("duplicate", DUPLICATE_FLOOR)))
    except (ValueError, KeyError, TypeError):
        return None
