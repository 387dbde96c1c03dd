"""What a library knows about its own scores: the calibration each space's relevance is judged by.

Raw cosines mean different things in different spaces, for different models and for different
queries, so relevance.py turns them into one probability. What that needs from the library is kept
here, per model and space:

- an even sample of the library's items (``sample_ids``): a query's scores over it give the
  library's own spread for that query (its TOP_SHARE quantile and median: is a result an outlier
  here?), used for example images and models without a vocabulary;
- ``gate``: whether the words space has a label vocabulary (ConSE), whose queries are judged by their
  attainable score instead (the best any picture could score: relevance.VisualContext);
- ``duplicate``: the similarity from which two items of this space are near-duplicates.

Calibration is computed when an index run ends (a reader never writes) and kept in the catalog; a
library indexed before this release is calibrated in memory on first use, from vectors it already
holds (nothing is re-embedded). The stored format is unchanged: ``z`` (how far background queries'
best results stand out) is still written, for earlier releases opening a library this one indexed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from framefind.models.base import Model
from framefind.search.duplicates import THRESHOLD
from framefind.search.relevance import TOP_SHARE, VisualContext
from framefind.store.catalog import Catalog
from framefind.store.vectorstore import VectorStore

SAMPLE = 2048  # items whose scores stand for the library's distribution (evenly spaced ids)
BACKGROUND_TEXTS = 48
DUPLICATE_FLOOR, DUPLICATE_CAP, DUPLICATE_MARGIN = THRESHOLD, 0.97, 0.3
MIN_ITEMS = 20  # below this a library has no score distribution to speak of
IDENTICAL = 0.999  # the duplicate threshold where vectors cannot tell copies from look-alikes


@dataclass(frozen=True)
class Calibration:
    space: str
    generation: int
    z: float  # earlier releases' floor, in standard deviations of a query's own scores (written for them)
    sample_ids: tuple[int, ...]
    gate: float | None = None  # attainable score a query must exceed to name anything (vocabulary models)
    duplicate: float = DUPLICATE_FLOOR  # similarity from which two items of this space are near-duplicates
    _samples: dict = field(default_factory=dict, compare=False, repr=False)  # model id -> the sample's vectors

    def context(self, catalog: Catalog, model: Model, model_id: str, vector: np.ndarray,
                said: str | None) -> VisualContext:
        """What this query's visual cosines are judged against (relevance.VisualContext); ``said``: the
        query's words (None: only pictures)."""
        words = said is not None
        if words and self.gate is not None and self.space == model.words_space:
            return VisualContext(words, float(model.best_possible(vector)[0]), model.names_something(said))
        spread = self.spread(catalog, model_id, vector)
        return VisualContext(words) if spread is None else VisualContext(words, reference=spread[0], median=spread[1])

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


def calibration(catalog: Catalog, store: VectorStore, model: Model, space: str,
                cache: dict | None = None) -> Calibration | None:
    """The stored calibration of ``space`` if it is current, else one computed now (not stored)."""
    generation = catalog.generation(store.model_id)
    key = f"cutoff:{store.model_id}:{space}"
    cached = (cache or {}).get(key)
    if cached is not None and cached.generation == generation:
        return cached
    stored = catalog.meta(key)
    found = _parse(stored, space) if stored else None
    if found is not None and found.generation == generation:
        if cache is not None:
            cache[key] = found
        return found
    found = calibrate(catalog, store, model, space, generation)
    if cache is not None and found is not None:
        cache[key] = found
    return found


def store_calibrations(catalog: Catalog, store: VectorStore, model: Model) -> None:
    """Calibrate every space of a model and keep the result (the writer calls this after an index run)."""
    generation = catalog.generation(store.model_id)
    for space in model.spaces:
        stored = _parse(catalog.meta(f"cutoff:{store.model_id}:{space}") or "", space)
        if stored is not None and stored.generation == generation:
            continue  # nothing changed since: an index run with nothing new embeds no background queries
        found = calibrate(catalog, store, model, space, generation)
        if found is not None:
            catalog.set_meta(f"cutoff:{store.model_id}:{space}", json.dumps(
                {"generation": generation, "z": found.z, "sample": list(found.sample_ids), "gate": found.gate,
                 "duplicate": found.duplicate}))


def calibrate(catalog: Catalog, store: VectorStore, model: Model, space: str, generation: int) -> Calibration | None:
    """The calibration of ``space``: an even sample of the library, the near-duplicate threshold, whether
    its words have a vocabulary (``gate``: how much of any class the model knows letter soup resembles)
    and, for earlier releases, how far background queries' best results stand out here (``z``)."""
    ids = catalog.vector_ids(store.model_id, space)
    if len(ids) < 2:
        return None
    sample = ids[np.linspace(0, len(ids) - 1, min(SAMPLE, len(ids))).astype(int)]
    _, vectors = catalog.vectors(store.model_id, space, sample.tolist())
    background = background_vectors(model, space)
    top, _ = store.search(space, background, 1)
    scores = background @ vectors.T
    z = (top[:, 0] - scores.mean(axis=1)) / np.maximum(scores.std(axis=1), 1e-6)
    attainable = model.best_possible(background) if space == model.words_space else None
    gate = None if attainable is None else round(float(attainable.max()), 4)
    duplicate = duplicate_threshold(vectors) if len(ids) >= MIN_ITEMS else DUPLICATE_FLOOR
    return Calibration(space, generation, round(float(np.median(z)), 3), tuple(int(i) for i in sample), gate,
                       duplicate)


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


def background_vectors(model: Model, space: str) -> np.ndarray:
    """Queries about nothing: letter soup for the words space, flat/noise/gradient pictures for image spaces."""
    rng = np.random.default_rng(0)
    if space == model.words_space:
        letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
        words = [" ".join("".join(rng.choice(letters, rng.integers(3, 9))) for _ in range(rng.integers(1, 4)))
                 for _ in range(BACKGROUND_TEXTS)]
        return model.embed_texts(words)
    size = model.image_size
    ramp = np.linspace(0, 255, size, dtype=np.float32)
    pictures = [np.full((size, size, 3), v, np.float32) for v in (0, 128, 255)]
    pictures += [rng.uniform(0, 255, (size, size, 3)).astype(np.float32) for _ in range(3)]
    pictures += [np.broadcast_to(ramp[None, :, None], (size, size, 3)),
                 np.broadcast_to(ramp[:, None, None], (size, size, 3))]
    return model.embed_images(np.stack(pictures).astype(np.uint8))[space]


def _parse(raw: str, space: str) -> Calibration | None:
    try:
        data = json.loads(raw)
        return Calibration(space, int(data["generation"]), float(data["z"]), tuple(int(i) for i in data["sample"]),
                           data.get("gate"), float(data.get("duplicate", DUPLICATE_FLOOR)))
    except (ValueError, KeyError, TypeError):
        return None
