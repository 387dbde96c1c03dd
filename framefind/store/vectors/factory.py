"""Choose, create, load and judge vector indexes by name (txtai's ``ann/dense/factory.py`` pattern).

Callers never name a class: they ask for a backend ("faiss", "milvus") and an index type ("auto" or
one of the kinds), and ``choose_kind`` sizes "auto" from n and dim using the measurements below.
Backend options (Milvus: ``uri=``, ``collection=``) pass through to the backend's constructor.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from framefind.errors import FrameFindError
from framefind.store.vectors.base import VectorIndex
from framefind.store.vectors.faiss import FaissIndex
from framefind.store.vectors.milvus import MilvusIndex

BACKENDS: dict[str, type[VectorIndex]] = {"faiss": FaissIndex, "milvus": MilvusIndex}
INDEX_TYPES = ("auto", "flat", "sq8", "hnsw", "ivf-sq8", "ivf-pq")

# "auto" stays exact (flat) while one query's full scan fits the latency budget, then switches to
# ivf-sq8. Budget: a warm text query must be <= 30 ms p50 at 100k items including ~6 ms of text
# embedding and SQLite work, so the ANN part should stay well under ~15 ms on this 2-core machine.
# Measured with benchmarks/bench_vectors.py (AMD EPYC, 2 cores shared with other work, 1 FAISS thread):
# a flat scan costs 0.15-0.2 ns per stored float (memory-bound): p50 384-d 100k = 5.6 ms, 384-d 300k
# = 15.4 ms, 1280-d 100k = 26 ms. A flat scan is memory-bound, and concurrent queries share the
# memory bus: under 8 concurrent clients of `framefind serve` at 100k x 384 (benchmarks/bench_server.py)
# a search cost 17.2 ms of CPU with a flat semantic index and 12.5 ms with ivf-sq8 (101 vs 120 queries/s).
# FLAT_MAX_FLOATS = 20M floats (~3-4 ms a scan): 384-d stays exact up to ~52k items, 1280-d to ~15.6k.
# Above it ivf-sq8, not hnsw: p50 0.43 ms (384-d) / 1.6 ms (1280-d) at 100k with recall@10 0.98,
# 41 MB vs hnsw's 173 MB at 100k x 384, it removes in place (hnsw cannot, so every deletion would
# rebuild) and builds faster (17 vs 26 s at 100k x 384; 51 vs 101 s at 300k). sq8 is no step in
# between: it scans everything too, only 1.0-1.7x faster than flat.
FLAT_MAX_FLOATS = 20_000_000
# Above it, for a 1M-frame library in <= 1 KB of RAM per frame (benchmarks/bench_scale.py, docs/benchmarks.md
# "Index at scale": the default model's vectors of 112k real images grown to 1M; real text queries for the
# 384-d space, held-out images for the 1280-d one; warm process, 1 FAISS thread, a loaded 2-core machine):
# 384-d  ivf-sq8: 1M p50 3.0 ms, recall@10 0.959 (text queries; 0.984 on synthetic clusters), 485 B of RAM
#        a vector. ivf-pq is worse for text (0.90-0.93: PQ scores of a far-away query are too coarse).
# 1280-d ivf-pq: 1M p50 4.3 ms, recall@10 0.972, 50 B private + 72 B of scanned PQ lists a vector, its
#        SQ8 re-scoring codes (1.28 KB a vector) read from the file through the page cache (cold: 81 ms a
#        query until cached). ivf-sq8 would hold 1.39 KB a vector in RAM, p50 9.9 ms (recall 0.982), and
#        no smaller in-memory code keeps recall >= 0.95 for these features (faiss.py, ivf-pq).
# Build at 1M: 66 s (384-d ivf-sq8), 267 s (1280-d ivf-pq). CLIP's 512-d stays ivf-sq8 (512 B a vector).
SQ8_MAX_DIM = 512


def _check_backend(backend: str) -> type[VectorIndex]:
    if backend not in BACKENDS:
        raise FrameFindError(f"unknown vector backend {backend!r} (choose one of: {', '.join(BACKENDS)})")
    return BACKENDS[backend]


def choose_kind(n: int, dim: int, pinned: str = "auto", offered: tuple[str, ...] | None = None) -> str:
    """The index type for n vectors of ``dim``: ``pinned`` unless "auto", else exact while it is fast enough,
    then ivf-sq8, or ivf-pq for vectors wider than SQ8_MAX_DIM (ivf-sq8 where the backend does not
    offer ivf-pq: ``offered`` lists the backend's kinds)."""
    if pinned not in INDEX_TYPES:
        raise FrameFindError(f"unknown index type {pinned!r} (choose one of: {', '.join(INDEX_TYPES)})")
    if pinned != "auto":
        return pinned
    if n * dim <= FLAT_MAX_FLOATS:
        return "flat"
    return "ivf-pq" if dim > SQ8_MAX_DIM and (offered is None or "ivf-pq" in offered) else "ivf-sq8"


def create_index(dim: int, kind: str, n_hint: int = 0, backend: str = "faiss", **options) -> VectorIndex:
    """An empty index; "auto" is resolved from ``n_hint`` (the expected size, also used for IVF sizing)."""
    cls = _check_backend(backend)
    return cls(dim, choose_kind(n_hint, dim, kind, cls.kinds), n_hint, **options)


def build_index(ids: np.ndarray, vectors: np.ndarray, kind: str = "auto", backend: str = "faiss",
                **options) -> VectorIndex:
    """Choose the type for ``len(ids)`` vectors, create it and add them (training on all of them)."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if vectors.ndim != 2:
        raise ValueError(f"vectors must be 2-D, got shape {vectors.shape}")
    index = create_index(vectors.shape[1], kind, n_hint=len(vectors), backend=backend, **options)
    index.add(ids, vectors)
    return index


def load_index(path: Path, backend: str = "faiss") -> VectorIndex:
    """Read an index file written by ``VectorIndex.save`` (its kind is recovered from the file)."""
    return _check_backend(backend).load(Path(path))


def needs_rebuild(index: VectorIndex, n: int, pinned: str,
                  choose: Callable[[int, int], str] | None = None) -> bool:
    """Whether an index that will hold n vectors should be rebuilt rather than updated in place.

    True when its kind is not what ``choose`` (default: ``choose_kind``) picks, or it is sized for far
    fewer vectors than n (an IVF with nlist < a quarter of what n calls for). With "auto", an index that
    crossed a threshold upwards keeps its kind until n falls below half of that threshold, so a library
    hovering at the boundary is not rebuilt back and forth on every few additions and deletions.
    """
    choose = choose or (lambda m, dim: choose_kind(m, dim, pinned, index.kinds))
    wanted, above = (choose(m, index.dim) for m in (n, 2 * n))
    keep = index.kind == wanted or (pinned == "auto" and index.kind == above)
    return not keep or index.undersized(n)
