"""FAISS backend: five index types behind ``VectorIndex``, modelled on txtai's ``ann/dense/faiss.py``.

Kinds (all METRIC_INNER_PRODUCT, i.e. cosine on the unit vectors callers store):
  flat     ``IDMap2,Flat``         exact; the default while a full scan is fast enough
  sq8      ``IDMap2,SQ8``          8-bit codes, 4x smaller, near-exact; learns value ranges on first add
  hnsw     ``IDMap2,HNSW32,Flat``  graph search, fast queries, slow build, cannot remove
  ivf-sq8  ``IVF{nlist},SQ8``      k-means partitions of SQ8 codes, ids native, removable; nlist sized from n
  ivf-pq   ``IVF{nlist},PQ{m}`` + ``IDMap,<refine>`` in an ``IndexRefine``: coarse PQ codes propose
           REFINE_FACTOR x k candidates, re-scored from finer codes (``REFINE_CODES``); far smaller
           than SQ8 for wide vectors; both parts hold the ids and remove in place

The kind of a loaded file is recovered from the index structure itself (the list above), so an index
file is a plain FAISS file any FAISS tool can open, with no sidecar to get out of step.

Filters (``allowed``) become a FAISS IDSelector applied inside the search. IDMap2 kinds are searched
through their inner index with a bitmap over storage positions (cheaper to build and test than the
hash set IDMap2 would translate every candidate through); the IVF gets an IDSelectorBatch of the ids.

Thread safety: FAISS ``search`` on an index nobody mutates is safe from many threads, and search-time
settings (efSearch, nprobe, the filter) are passed per call in ``SearchParameters``, never set on the
shared index. ``add``/``remove`` need external coordination: the caller never mutates an index other
threads are searching (it mutates a private copy and swaps).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import faiss
import numpy as np

from framefind.errors import FrameFindError, reason
from framefind.fsutil import atomic_path
from framefind.store.vectors.base import VectorIndex, as_ids, empty_result

HNSW_M = 32  # graph neighbours per node
FACTORY = {"flat": "IDMap2,Flat", "sq8": "IDMap2,SQ8", "hnsw": f"IDMap2,HNSW{HNSW_M},Flat",
           "ivf-sq8": "IVF{nlist},SQ8", "ivf-pq": "IVF{nlist},PQ{m}"}
KINDS = tuple(FACTORY)
IVF_KINDS = ("ivf-sq8", "ivf-pq")

# Measured with benchmarks/bench_vectors.py (noisy Fashion-MNIST-derived vectors, 1 thread): efSearch
# 64 gave recall@10 0.97 at 100k x 384 but 0.94 at 300k; 128 gives 0.986 (0.59 ms) and 0.968 (0.91 ms).
HNSW_EF_SEARCH = 128
MIN_POINTS_PER_LIST = 39  # FAISS k-means warns below this: centroids would be fitted to noise
MAX_NLIST = 16384
# k-means trains on at most this many points per list (FAISS samples; its default 256 would train on all
# of 1M vectors: ~4x longer for 1280-d, where the assignment of every vector to its list costs as much again)
KMEANS_POINTS_PER_LIST = 64
KMEANS_ITERATIONS = 10  # FAISS's default 25 took 2.2x longer at 100k x 384 for the same recall (0.981 vs 0.979)
# Filters keeping at most this many ids are answered by scoring those vectors directly (exact over the
# stored codes, and cheaper than a filtered pass over the index: 1000 of 100k x 384 take 0.18 ms for
# flat, 1.0 ms for ivf-sq8 which decodes each one, vs 3.4 / 1.9 ms for a 10% filter inside the search).
EXACT_SUBSET_MAX = 4096
FEW_QUERIES = 20  # below this FAISS scans query by query (its BLAS threshold): run those on one thread
# SQ8 value ranges are widened 10% each side so vectors added after training clip less: recall@10 at
# 100k x 384 trained on the first 1000 vectors 0.974 -> 0.985; trained on all 100k 0.983 either way.
SQ_RANGE_MARGIN = 0.1


def nlist_for(n: int, kind: str = "ivf-sq8") -> int:
    """IVF partitions for n vectors: ~4*sqrt(n) (txtai's rule; ivf-pq: LISTS_PER_SQRT_N_PQ*sqrt(n)),
    >= 39 training points each, capped."""
    per_sqrt_n = LISTS_PER_SQRT_N_PQ if kind == "ivf-pq" else 4
    return max(1, min(round(per_sqrt_n * math.sqrt(max(n, 1))), n // MIN_POINTS_PER_LIST, MAX_NLIST))


def nprobe_for(nlist: int) -> int:
    """Partitions visited per query: nlist/16, at least 16 (recall@10 0.96-0.98 from 10k to 300k)."""
    return min(nlist, max(16, nlist // 16))


# ivf-pq, measured with benchmarks/bench_scale.py (docs/benchmarks.md "Index at scale") on EfficientNet's
# 1280-d features of 112k real images: re-scoring needs 8-bit precision in the full space. At 100k, 200
# candidates re-scored from SQ8 codes reach recall@10 0.966-0.975; from SQ4 0.76, PQ320 0.77, PCA-512 + SQ8
# 0.87 (the features spread their variance over many directions: PCA-512 + IVF-SQ8 alone 0.65). So the SQ8
# codes (1280 B a vector) stay in the file, memory-mapped (``load``), and only the PQ lists are scanned:
# at 1M, 64-byte codes with 200 candidates 0.9715 (100 candidates: 0.9495); nlist 2 sqrt(n) 0.9715 vs
# sqrt(n) 0.965 (build 309 vs 183 s); nprobe nlist/16 as good as nlist/8. FAISS's 4-bit fast-scan PQ would
# scan faster, but its remove_ids left codes and ids out of step (a vector removed and added again ranked
# 18th-115th for itself): the 8-bit IVFPQ removes correctly.
PQ_DIMS_PER_CODE = 20  # dimensions per 8-bit sub-quantizer of the candidate codes (dim / 20 bytes) ...
PQ_MIN_BYTES = 48  # ... at least 48 (narrow vectors: ivf-sq8 is better there, see factory.SQ8_MAX_DIM)
REFINE_FACTOR = 20  # candidates re-scored per wanted result ...
REFINE_K_MAX = 50  # ... for the first 50 results; beyond them one candidate each (a long page stays cheap)
LISTS_PER_SQRT_N_PQ = 2  # fewer, longer lists than ivf-sq8: PQ codes are cheap to scan, k-means on 1280-d is not
PQ_MIN_TRAIN = 256  # an 8-bit PQ's k-means wants at least one training point per centroid
REFINE_FOURCC = b"IxRF"  # how a FAISS file of an IndexRefine starts


def pq_m_for(dim: int) -> int:
    """Sub-quantizers (bytes) of the candidate codes: ~dim / PQ_DIMS_PER_CODE (at least PQ_MIN_BYTES,
    at most dim), dividing dim."""
    m = min(dim, max(PQ_MIN_BYTES, round(dim / PQ_DIMS_PER_CODE)))
    return min((c for c in range(1, dim + 1) if dim % c == 0), key=lambda c: (abs(c - m), -c))


REFINE_CODES = "SQ8"  # the codes ivf-pq re-scores candidates from (a FAISS factory string, wrapped in IDMap)


@contextmanager
def _omp_threads(n: int | None) -> Iterator[None]:
    """Run FAISS (and the OpenMP OpenBLAS it bundles) on ``n`` threads, in this thread only.

    FAISS parallelises over queries, so one query gains nothing from more threads, yet pays an
    OpenMP fork/join; when another process holds the other core that join waits for a scheduler tick
    (measured, the other core busy: flat 100k x 384 took 56 ms p50 on 2 threads vs 5.6 ms on 1; flat
    10k x 384 16 ms vs 0.33 ms; HNSW and IVF the same p50 but a 4.5 ms p95). libgomp keeps the thread
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


class FaissIndex(VectorIndex):
    """A FAISS index of one of ``KINDS``; see the module docstring for the kinds and thread safety."""

    backend = "faiss"
    kinds = KINDS

    def __init__(self, dim: int, kind: str = "flat", n_hint: int = 0, *, _index: faiss.Index | None = None) -> None:
        if kind not in FACTORY:
            raise FrameFindError(f"unknown FAISS index type {kind!r} (choose one of: {', '.join(KINDS)})")
        super().__init__(dim, kind, n_hint)
        self._index = _index if _index is not None else self._new(nlist_for(self.n_hint, kind))
        self._mapped: Path | None = None  # the file a loaded ivf-pq's refine codes are read from (see load)
        self._cache: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # see _id_arrays

    def _new(self, nlist: int) -> faiss.Index:
        spec = FACTORY[self.kind].format(nlist=nlist, m=pq_m_for(self.dim))
        index = faiss.index_factory(self.dim, spec, faiss.METRIC_INNER_PRODUCT)
        if self.kind in IVF_KINDS:
            index.cp.spherical, index.cp.niter = True, KMEANS_ITERATIONS  # centroids on the sphere, as the data
            index.cp.max_points_per_centroid = KMEANS_POINTS_PER_LIST  # k-means on a sample of a big first batch
        if self.kind == "ivf-sq8":
            index.set_direct_map_type(faiss.DirectMap.Hashtable)  # reconstruct and remove by id
        if self.kind == "ivf-pq":  # positions in the refine codes come from its id map (see _id_arrays)
            codes = faiss.index_factory(self.dim, REFINE_CODES, faiss.METRIC_INNER_PRODUCT)
            index.pq.cp.niter, index.pq.cp.min_points_per_centroid = KMEANS_ITERATIONS, 1  # a small first batch is fine
            index.do_polysemous_training = False  # the factory's default: 4.5x the training time, unused here
            refine = _owning(faiss.IndexIDMap(codes), codes)
            index = _owning(faiss.IndexRefine(index, refine), index, refine)
        return index

    @property
    def _inner(self) -> faiss.Index:
        """The index under the IDMap2 wrapper (the IVF itself for ivf-sq8, the refine codes for ivf-pq)."""
        if self.kind == "ivf-sq8":
            return self._index
        if self.kind == "ivf-pq":
            return faiss.downcast_index(faiss.downcast_index(self._index.refine_index).index)
        return faiss.downcast_index(self._index.index)

    @property
    def _ivf(self) -> faiss.Index:
        """The IVF of an IVF kind (ivf-pq's candidate index)."""
        return faiss.downcast_index(self._index.base_index) if self.kind == "ivf-pq" else self._index

    @property
    def nlist(self) -> int:
        """IVF partitions (0 for the other kinds)."""
        return int(self._ivf.nlist) if self.kind in IVF_KINDS else 0

    def undersized(self, n: int) -> bool:
        """An IVF trained when the index was far smaller than n (its partitions grow too long)."""
        return self.kind in IVF_KINDS and self._ivf.is_trained and self.nlist < nlist_for(n, self.kind) / 4

    def count(self) -> int:
        return int(self._ivf.ntotal if self.kind == "ivf-pq" else self._index.ntotal)

    def settings(self) -> dict:
        """What shapes this index's answers, for reports (``framefind eval``): IVF lists and probes, ivf-pq's
        candidate codes and re-scoring, HNSW's graph and search breadth; {} for the scans."""
        if self.kind == "hnsw":
            return {"M": HNSW_M, "efSearch": HNSW_EF_SEARCH}
        if self.kind not in IVF_KINDS:
            return {}
        found = {"nlist": self.nlist, "nprobe": nprobe_for(self.nlist)}
        if self.kind == "ivf-pq":
            found |= {"m": int(self._ivf.pq.M), "refine": REFINE_CODES, "refine_factor": REFINE_FACTOR}
        return found

    def nbytes(self) -> int:
        """Bytes of the index as ``save`` writes it."""
        return len(faiss.serialize_index(self._index))

    def ids(self) -> np.ndarray:
        return self._id_arrays()[1]

    def _id_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(ids in storage order, ids sorted, storage position of each sorted id); cached until a mutation."""
        if self._cache is None:
            if self.kind == "ivf-pq":  # position i of the refine codes holds the refine id map's [i]
                stored = faiss.vector_to_array(faiss.downcast_index(self._index.refine_index).id_map)
                stored = stored.astype(np.int64, copy=False)
            elif self.kind != "ivf-sq8":  # position i of the inner index holds id_map[i]
                stored = faiss.vector_to_array(self._index.id_map).astype(np.int64, copy=False)
            else:
                lists = self._index.invlists
                parts = [faiss.rev_swig_ptr(lists.get_ids(i), lists.list_size(i)).copy()
                         for i in range(lists.nlist) if lists.list_size(i)]
                stored = np.concatenate(parts).astype(np.int64, copy=False) if parts else np.zeros(0, np.int64)
            order = np.argsort(stored, kind="stable")
            arrays = (stored, stored[order], order)
            for array in arrays:
                array.flags.writeable = False  # shared with every caller of ids()
            self._cache = arrays
        return self._cache

    def _mask(self, wanted: np.ndarray) -> np.ndarray:
        """Boolean mask over ``ids()`` of those in ``wanted`` (any order, duplicates and unknown ids fine)."""
        sorted_ids = self.ids()
        mask = np.zeros(len(sorted_ids), bool)
        if len(sorted_ids) and len(wanted):
            pos = np.minimum(np.searchsorted(sorted_ids, wanted), len(sorted_ids) - 1)
            mask[pos[sorted_ids[pos] == wanted]] = True
        return mask

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        ids, vectors = self._checked(ids, vectors, self._mask)
        if len(ids) == 0:
            return
        self._own()
        if not self._index.is_trained:
            self._train(vectors)
        self._cache = None
        if self.kind == "ivf-pq":  # IndexRefine cannot add with ids: both parts hold them
            self._ivf.add_with_ids(vectors, ids)
            self._index.refine_index.add_with_ids(vectors, ids)
            self._index.ntotal = self._ivf.ntotal
        else:
            self._index.add_with_ids(vectors, ids)

    def _train(self, vectors: np.ndarray) -> None:
        """Train on the first batch; an IVF shrinks nlist to what the batch can support."""
        if self.kind in IVF_KINDS:
            most = max(1, len(vectors) // MIN_POINTS_PER_LIST)
            nlist = min(nlist_for(max(self.n_hint, len(vectors)), self.kind), most)
            if nlist != self.nlist:
                self._index = self._new(nlist)
        for sq in _scalar_quantizers(self._inner):
            sq.rangestat, sq.rangestat_arg = faiss.ScalarQuantizer.RS_minmax, SQ_RANGE_MARGIN
        if self.kind == "ivf-pq" and len(vectors) < PQ_MIN_TRAIN:  # PQ k-means needs a point per centroid:
            vectors = np.resize(vectors, (PQ_MIN_TRAIN, self.dim))  # repeat a tiny first batch (rebuilt as it grows)
        self._index.train(vectors)  # IndexRefine trains the IVF-PQ and the refine codes on the same batch

    def remove(self, ids: np.ndarray) -> bool:
        """Remove ids; True when none of them is present, False for HNSW (its graph cannot drop nodes)."""
        present = self.ids()[self._mask(as_ids(ids))]
        if len(present) == 0:
            return True
        if self.kind == "hnsw":
            return False
        self._own()
        self._cache = None
        if self.kind == "ivf-pq":  # the IVF (no direct map) scans its lists; the id map compacts the codes
            self._ivf.remove_ids(faiss.IDSelectorBatch(present))
            self._index.refine_index.remove_ids(faiss.IDSelectorBatch(present))
            self._index.ntotal = self._ivf.ntotal
            return True
        # the IVF's hashtable direct map accepts only an array selector; IDMap2 takes any
        self._index.remove_ids(faiss.IDSelectorArray(present) if self.kind == "ivf-sq8" else
                               faiss.IDSelectorBatch(present))
        return True

    def search(
        self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """See ``VectorIndex.search``; approximate kinds fall back to a complete search for rows they leave short.

        HNSW and IVF apply a filter while walking the graph / probed lists, so a selective filter can
        leave fewer than k results although k allowed items exist: the search budget is first widened
        by sqrt(1/selectivity) (as good as 1/selectivity for the IVF, 0.977 vs 0.997 recall@10 for HNSW
        at a 10% filter, 30% faster) and rows still short are redone exhaustively over the same vectors.
        """
        self._check_query(queries, k)
        kk = min(int(k), self.count())
        if kk == 0:
            return empty_result(len(queries), 0)
        mask = None if allowed is None else self._mask(as_ids(allowed))
        m = self.count() if mask is None else int(np.count_nonzero(mask))
        if m == 0:
            return empty_result(len(queries), kk)
        with _omp_threads(1 if len(queries) < FEW_QUERIES else None):
            if mask is not None and m <= EXACT_SUBSET_MAX:
                present = self.ids()[mask]
                scores, ids = faiss.knn(queries, self._stored_vectors(mask), kk, faiss.METRIC_INNER_PRODUCT)
                ids = np.where(ids >= 0, present[np.maximum(ids, 0)], -1)
            else:
                scores, ids = self._search(queries, kk, mask, math.sqrt(self.count() / m), complete=False)
                short = (ids[:, : min(kk, m)] < 0).any(axis=1)
                if short.any():
                    scores[short], ids[short] = self._search(queries[short], kk, mask, 1.0, complete=True)
        scores[ids < 0] = -np.inf
        return scores, ids

    def _search(self, queries: np.ndarray, k: int, mask: np.ndarray | None, widen: float, complete: bool) -> tuple:
        """One FAISS search with per-call parameters; ``complete`` trades speed for every allowed id."""
        stored, sorted_ids, order = self._id_arrays()
        if self.kind in IVF_KINDS:
            nprobe = self.nlist if complete else min(self.nlist, math.ceil(nprobe_for(self.nlist) * widen))
            params = faiss.SearchParametersIVF(nprobe=nprobe)
            if mask is not None:
                batch = faiss.IDSelectorBatch(sorted_ids[mask])
                params.sel = batch
            if self.kind == "ivf-pq":
                return self._refined(queries, k, params)
            return self._index.search(queries, k, params=params)
        inner = self._inner
        if self.kind == "hnsw" and complete:  # exact scan of the fp32 vectors the graph links
            inner, params = faiss.downcast_index(inner.storage), faiss.SearchParameters()
        elif self.kind == "hnsw":
            ef = min(max(HNSW_EF_SEARCH, k) * widen, max(self.count(), HNSW_EF_SEARCH))
            params = faiss.SearchParametersHNSW(efSearch=int(ef))
        else:
            params = faiss.SearchParameters()
        if mask is not None:
            in_storage = np.zeros(len(stored), bool)
            in_storage[order[mask]] = True
            bits = np.packbits(in_storage, bitorder="little")  # must outlive the search: FAISS reads it
            bitmap = faiss.IDSelectorBitmap(len(stored), faiss.swig_ptr(bits))
            params.sel = bitmap
        scores, positions = inner.search(queries, k, params=params)
        return scores, np.where(positions >= 0, stored[np.maximum(positions, 0)], -1)

    def _refined(self, queries: np.ndarray, k: int, params: faiss.SearchParametersIVF) -> tuple:
        """ivf-pq: REFINE_FACTOR x k candidates from the IVF-PQ, re-scored from the refine codes (mapped
        from the file once loaded: a page each, read from disk the first time after a start)."""
        wanted = k + (REFINE_FACTOR - 1) * min(k, REFINE_K_MAX)  # k=10: 200; k=1000: 1950, not 20k
        _, candidates = self._ivf.search(queries, min(wanted, self.count()), params=params)
        _, sorted_ids, order = self._id_arrays()
        found = candidates >= 0
        positions = order[np.searchsorted(sorted_ids, candidates[found])]
        vectors = self._inner.reconstruct_batch(positions)
        scores = np.full(candidates.shape, -np.inf, np.float32)
        scores[found] = np.einsum("ij,ij->i", vectors, queries[np.nonzero(found)[0]])
        best = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        return np.take_along_axis(scores, best, 1), np.take_along_axis(candidates, best, 1)

    def _stored_vectors(self, mask: np.ndarray) -> np.ndarray:
        """The (decoded) stored vectors of the ids ``mask`` selects from ``ids()``, in that order."""
        if self.kind == "ivf-pq":
            return self._inner.reconstruct_batch(self._id_arrays()[2][mask])
        return self._index.reconstruct_batch(self.ids()[mask])

    def save(self, path: Path) -> None:
        path = Path(path)
        try:
            with atomic_path(path) as tmp:
                faiss.write_index(self._index, str(tmp))
        except RuntimeError as exc:
            raise FrameFindError(f"{path}: cannot write vector index ({reason(exc)})") from None

    @classmethod
    def load(cls, path: Path) -> FaissIndex:
        """Read a saved index; ivf-pq's refine codes stay in the file, memory-mapped (see ``_own``)."""
        path = Path(path)
        mapped = _fourcc(path) == REFINE_FOURCC
        index = _read(path, faiss.IO_FLAG_MMAP_IFC if mapped else 0)
        kind = _kind_of(index)
        if kind is None:
            raise FrameFindError(f"{path}: FAISS index of an unsupported type ({type(index).__name__})")
        loaded = cls(index.d, kind, _index=index)
        loaded._mapped = path if mapped else None
        return loaded

    def _own(self) -> None:
        """Before a mutation: read mapped refine codes into memory (FAISS aborts on resizing a mapped array).

        Only the writer mutates, holding the writer lock, and it deletes old files only after writing a
        newer one, so the file it loaded is still there.
        """
        if self._mapped is not None:
            self._index, self._mapped = _read(self._mapped, 0), None


def _fourcc(path: Path) -> bytes:
    """The first 4 bytes of a FAISS file: its outermost index type (b"" when unreadable: FAISS then says why)."""
    try:
        with open(path, "rb") as fh:
            return fh.read(4)
    except OSError:
        return b""


def _read(path: Path, flags: int) -> faiss.Index:
    try:
        return faiss.read_index(str(path), flags)
    except (RuntimeError, MemoryError) as exc:  # truncated/corrupt files raise from deep in FAISS
        raise FrameFindError(f"{path}: not a readable FAISS index ({reason(exc)})") from None


def _kind_of(index: faiss.Index) -> str | None:
    """Recover the kind from the structure ``FACTORY`` builds (None when it is something else)."""
    if index.metric_type != faiss.METRIC_INNER_PRODUCT:
        return None
    if isinstance(index, faiss.IndexRefine):
        base, refine = faiss.downcast_index(index.base_index), faiss.downcast_index(index.refine_index)
        return "ivf-pq" if type(base) is faiss.IndexIVFPQ and type(refine) is faiss.IndexIDMap else None
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


def _owning(outer: faiss.Index, *parts: faiss.Index) -> faiss.Index:
    """``outer`` made the owner of its parts (freed with it, as when read from a file), not Python."""
    outer.own_fields = True
    for part in parts:
        part.this.disown()
    return outer


def _scalar_quantizers(index: faiss.Index) -> list:
    """The ScalarQuantizer of an SQ index (sq8, ivf-sq8, ivf-pq's refine codes); none for the others."""
    index = faiss.downcast_index(index)
    return [index.sq] if isinstance(index, faiss.IndexScalarQuantizer | faiss.IndexIVFScalarQuantizer) else []

