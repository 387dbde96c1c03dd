"""FAISS backend: four index types behind ``VectorIndex``, modelled on txtai's ``ann/dense/faiss.py``.

Kinds (all METRIC_INNER_PRODUCT, i.e. cosine on the unit vectors callers store):
  flat     ``IDMap2,Flat``         exact; the default while a full scan is fast enough
  sq8      ``IDMap2,SQ8``          8-bit codes, 4x smaller, near-exact; learns value ranges on first add
  hnsw     ``IDMap2,HNSW32,Flat``  graph search, fastest queries, slow build, cannot remove
  ivf-sq8  ``IVF{nlist},SQ8``      k-means partitions of SQ8 codes, ids native, removable; nlist sized from n

The kind of a loaded file is recovered from the index structure itself (the list above), so an index
file is a plain FAISS file any FAISS tool can open, with no sidecar to get out of step.

Thread safety: FAISS ``search`` on an index nobody mutates is safe from many threads, and search-time
settings (efSearch, nprobe, the id filter) are passed per call in ``SearchParameters`` rather than
set on the shared index. ``add``/``remove`` need external coordination: the caller never mutates an
index other threads are searching (it mutates a private copy and swaps).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import faiss
import numpy as np

from framefind.errors import FrameFindError
from framefind.fsutil import atomic_path
from framefind.store.vectors.base import VectorIndex, as_ids, empty_result

FACTORY = {"flat": "IDMap2,Flat", "sq8": "IDMap2,SQ8", "hnsw": "IDMap2,HNSW32,Flat", "ivf-sq8": "IVF{nlist},SQ8"}
KINDS = tuple(FACTORY)

# Measured by benchmarks/bench_vectors.py (see its docstring for the table): efSearch 64 gives
# recall@10 >= 0.97 at 100k, 384-d and 1280-d, for ~0.3-0.6 ms a query.
HNSW_EF_SEARCH = 64
MIN_POINTS_PER_LIST = 39  # FAISS k-means warns below this: centroids would be fitted to noise
MAX_NLIST = 16384
# Filters keeping at most this many ids are answered by scoring those vectors directly (exact, and
# cheaper than a filtered scan of the whole index: ~1 ms for 4096 vectors of 1280-d).
EXACT_SUBSET_MAX = 4096
FEW_QUERIES = 20  # below this FAISS scans query by query (its BLAS threshold): run those on one thread
SQ_RANGE_MARGIN = 0.1  # widen the trained per-dimension ranges 10% each side: later adds clip less


@contextmanager
def _omp_threads(n: int | None) -> Iterator[None]:
    """Run FAISS (and the OpenMP OpenBLAS it bundles) on ``n`` threads, in this thread only.

    FAISS parallelises over queries, so one query gains nothing from more threads, yet pays an
    OpenMP fork/join; when another process holds the other core that join waits for a scheduler tick
    (measured: flat 10k x 384 took 24 ms p50 on 2 threads vs 0.25 ms on 1). libgomp keeps the thread
    count per calling thread, so this is safe with concurrent searches and leaves indexing alone.
    """
    if n is None:
        yield
        return
    previous = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(n)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(previous)


def nlist_for(n: int) -> int:
    """IVF partitions for n vectors: ~4*sqrt(n) (txtai's rule), >= 39 training points each, capped."""
    return max(1, min(round(4 * math.sqrt(max(n, 1))), n // MIN_POINTS_PER_LIST, MAX_NLIST))


def nprobe_for(nlist: int) -> int:
    """Partitions visited per query: nlist/16 (at least 16) held recall@10 >= 0.95 in the benchmark."""
    return min(nlist, max(16, nlist // 16))


class FaissIndex(VectorIndex):
    """A FAISS index of one of ``KINDS``; see the module docstring for the kinds and thread safety."""

    backend = "faiss"
    kinds = KINDS

    def __init__(self, dim: int, kind: str = "flat", n_hint: int = 0, *, _index: faiss.Index | None = None) -> None:
        if kind not in FACTORY:
            raise FrameFindError(f"unknown FAISS index type {kind!r} (choose one of: {', '.join(KINDS)})")
        super().__init__(dim, kind, n_hint)
        self._index = _index if _index is not None else self._new(nlist_for(self.n_hint))
        self._sorted_ids: np.ndarray | None = None  # cache for filters and ids(); dropped on every mutation

    def _new(self, nlist: int) -> faiss.Index:
        index = faiss.index_factory(self.dim, FACTORY[self.kind].format(nlist=nlist), faiss.METRIC_INNER_PRODUCT)
        if self.kind == "ivf-sq8":
            index.cp.spherical = True  # centroids on the unit sphere, as the vectors are
            index.set_direct_map_type(faiss.DirectMap.Hashtable)  # reconstruct and remove by id
        return index

    @property
    def _inner(self) -> faiss.Index:
        """The index under the IDMap2 wrapper (the IVF itself for ivf-sq8)."""
        return faiss.downcast_index(self._index.index) if self.kind != "ivf-sq8" else self._index

    @property
    def nlist(self) -> int:
        """IVF partitions (0 for the other kinds)."""
        return int(self._index.nlist) if self.kind == "ivf-sq8" else 0

    def undersized(self, n: int) -> bool:
        """An IVF trained when the index was far smaller than n (k-means partitions grow too long)."""
        return self.kind == "ivf-sq8" and self._index.is_trained and self.nlist < nlist_for(n) / 4

    def count(self) -> int:
        return int(self._index.ntotal)

    def ids(self) -> np.ndarray:
        if self._sorted_ids is None:
            ids = np.sort(self._stored_ids())
            ids.flags.writeable = False  # the cached array is shared by every caller
            self._sorted_ids = ids
        return self._sorted_ids

    def _stored_ids(self) -> np.ndarray:
        """Ids in storage order (for IDMap2 kinds, position i of the inner index holds id [i])."""
        if self.kind != "ivf-sq8":
            return faiss.vector_to_array(self._index.id_map).astype(np.int64, copy=False)
        lists = self._index.invlists
        parts = [faiss.rev_swig_ptr(lists.get_ids(i), lists.list_size(i)).copy()
                 for i in range(lists.nlist) if lists.list_size(i)]
        return np.concatenate(parts).astype(np.int64, copy=False) if parts else np.zeros(0, np.int64)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        ids = as_ids(ids)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape != (len(ids), self.dim):
            raise ValueError(f"expected vectors of shape ({len(ids)}, {self.dim}), got {vectors.shape}")
        if len(ids) == 0:
            return
        if (ids < 0).any():
            raise ValueError("ids must be >= 0 (FAISS reports missing neighbours as -1)")
        if len(np.unique(ids)) != len(ids) or np.isin(ids, self.ids()).any():
            raise ValueError("ids must be unique and not already in the index (remove them first)")
        if not self._index.is_trained:
            self._train(vectors)
        self._sorted_ids = None
        self._index.add_with_ids(vectors, ids)

    def _train(self, vectors: np.ndarray) -> None:
        """Train on the first batch; an IVF shrinks nlist to what the batch can support."""
        if self.kind == "ivf-sq8":
            nlist = min(nlist_for(max(self.n_hint, len(vectors))), max(1, len(vectors) // MIN_POINTS_PER_LIST))
            if nlist != self.nlist:
                self._index = self._new(nlist)
        sq = self._inner.sq
        sq.rangestat, sq.rangestat_arg = faiss.ScalarQuantizer.RS_minmax, SQ_RANGE_MARGIN
        self._index.train(vectors)

    def remove(self, ids: np.ndarray) -> bool:
        """Remove ids; True when none of them is present, False for HNSW (its graph cannot drop nodes)."""
        present = self._present(as_ids(ids))
        if len(present) == 0:
            return True
        if self.kind == "hnsw":
            return False
        self._sorted_ids = None
        # the IVF's hashtable direct map accepts only an array selector; IDMap2 takes any
        sel = faiss.IDSelectorArray(present) if self.kind == "ivf-sq8" else faiss.IDSelectorBatch(present)
        self._index.remove_ids(sel)
        return True

    def _present(self, wanted: np.ndarray) -> np.ndarray:
        """The unique ids of ``wanted`` that are in the index, sorted."""
        wanted, stored = np.unique(wanted), self.ids()
        if len(wanted) == 0 or len(stored) == 0:
            return wanted[:0]
        pos = np.minimum(np.searchsorted(stored, wanted), len(stored) - 1)
        return wanted[stored[pos] == wanted]

    def search(
        self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """See ``VectorIndex.search``; approximate kinds fall back to a complete search for rows they leave short.

        HNSW and IVF apply a filter while walking the graph / probed lists, so a selective filter can
        leave fewer than k results although k allowed items exist: the search budget is first widened
        by 1/selectivity and rows still short are redone exhaustively (exact scan of the same codes).
        """
        self._check_query(queries, k)
        kk = min(int(k), self.count())
        if kk == 0:
            return empty_result(len(queries), 0)
        present = None if allowed is None else self._present(as_ids(allowed))
        if present is not None and len(present) == 0:
            return empty_result(len(queries), kk)
        with _omp_threads(1 if len(queries) < FEW_QUERIES else None):
            if present is not None and len(present) <= EXACT_SUBSET_MAX:
                scores, ids = faiss.knn(queries, self._index.reconstruct_batch(present), kk, faiss.METRIC_INNER_PRODUCT)
                ids = np.where(ids >= 0, present[np.maximum(ids, 0)], -1)
            else:
                scores, ids = self._search(queries, kk, present, complete=False)
                want = kk if present is None else min(kk, len(present))
                short = (ids[:, :want] < 0).any(axis=1)
                if short.any():
                    scores[short], ids[short] = self._search(queries[short], kk, present, complete=True)
        scores[ids < 0] = -np.inf
        return scores, ids

    def _search(self, queries: np.ndarray, k: int, present: np.ndarray | None, complete: bool) -> tuple:
        """One FAISS search with per-call parameters; ``complete`` trades speed for every allowed id."""
        sel = None if present is None else faiss.IDSelectorBatch(present)
        widen = 1.0 if present is None else self.count() / len(present)
        if self.kind == "hnsw" and complete:
            return self._scan_hnsw_storage(queries, k, present)
        if self.kind == "hnsw":
            ef = min(max(HNSW_EF_SEARCH, 2 * k) * widen, max(self.count(), HNSW_EF_SEARCH))
            params = faiss.SearchParametersHNSW(sel=sel, efSearch=int(ef)) if sel else \
                faiss.SearchParametersHNSW(efSearch=int(ef))
        elif self.kind == "ivf-sq8":
            nprobe = self.nlist if complete else min(self.nlist, math.ceil(nprobe_for(self.nlist) * widen))
            params = faiss.SearchParametersIVF(sel=sel, nprobe=nprobe) if sel else \
                faiss.SearchParametersIVF(nprobe=nprobe)
        else:
            params = faiss.SearchParameters(sel=sel) if sel else None
        scores, ids = self._index.search(queries, k, params=params)
        return scores, ids

    def _scan_hnsw_storage(self, queries: np.ndarray, k: int, present: np.ndarray | None) -> tuple:
        """Exact search of the fp32 vectors an HNSW keeps: a flat scan by position, mapped back to ids."""
        stored = self._stored_ids()
        storage = faiss.downcast_index(self._inner.storage)
        params = None
        if present is not None:
            sel = faiss.IDSelectorBatch(np.flatnonzero(np.isin(stored, present)).astype(np.int64))
            params = faiss.SearchParameters(sel=sel)
        scores, pos = storage.search(queries, k, params=params)
        return scores, np.where(pos >= 0, stored[np.maximum(pos, 0)], -1)

    def save(self, path: Path) -> None:
        path = Path(path)
        try:
            with atomic_path(path) as tmp:
                faiss.write_index(self._index, str(tmp))
        except RuntimeError as exc:
            raise FrameFindError(f"{path}: cannot write vector index ({_reason(exc)})") from None

    @classmethod
    def load(cls, path: Path) -> FaissIndex:
        path = Path(path)
        try:
            index = faiss.read_index(str(path))
        except (RuntimeError, MemoryError) as exc:  # truncated/corrupt files raise from deep in FAISS
            raise FrameFindError(f"{path}: not a readable FAISS index ({_reason(exc)})") from None
        kind = _kind_of(index)
        if kind is None:
            raise FrameFindError(f"{path}: FAISS index of an unsupported type ({type(index).__name__})")
        return cls(index.d, kind, _index=index)


def _kind_of(index: faiss.Index) -> str | None:
    """Recover the kind from the structure ``FACTORY`` builds (None when it is something else)."""
    if index.metric_type != faiss.METRIC_INNER_PRODUCT:
        return None
    if isinstance(index, faiss.IndexIVFScalarQuantizer):
        return "ivf-sq8" if index.sq.qtype == faiss.ScalarQuantizer.QT_8bit else None
    if not isinstance(index, faiss.IndexIDMap2):
        return None
    inner = faiss.downcast_index(index.index)
    if isinstance(inner, faiss.IndexHNSWFlat):
        return "hnsw"
    if isinstance(inner, faiss.IndexScalarQuantizer):
        return "sq8" if inner.sq.qtype == faiss.ScalarQuantizer.QT_8bit else None
    return "flat" if type(inner) in (faiss.IndexFlat, faiss.IndexFlatIP) else None


def _reason(exc: BaseException) -> str:
    """FAISS's message without its C++ location prefix, on one line."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return re.sub(r"^Error in .*? at \S+:\d+: (Error: )?", "", text)
