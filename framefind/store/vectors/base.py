"""The interface every vector index backend implements (FAISS files; Milvus collections: milvus.py).

Kept deliberately small, as txtai's ``ann/base.py``: the catalog is the source of truth and an index
is derived data, so a backend only needs to add, remove (or admit it cannot), search, count, list
its ids and persist itself. Anything it cannot do cheaply (e.g. HNSW deletions) is reported, not
emulated, and the caller rebuilds.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path

import numpy as np


class VectorIndex(ABC):
    """Inner-product search over (int64 id, float32 vector) pairs; vectors are L2-normalised by callers.

    ``backend`` names the implementation ("faiss", "milvus"), ``kind`` the index type ("flat", "sq8",
    "hnsw", "ivf-sq8"; a backend implements some of them: ``kinds``). ``n_hint`` is the expected
    number of vectors, used by types sized from n (IVF nlist).
    """

    backend: str = ""
    kinds: tuple[str, ...] = ()  # the index types this backend implements
    kind: str = ""

    def __init__(self, dim: int, kind: str, n_hint: int = 0) -> None:
        if dim < 1:
            raise ValueError(f"vector dimension must be >= 1, got {dim}")
        self._dim = int(dim)
        self.kind = kind
        self.n_hint = max(0, int(n_hint))

    @property
    def dim(self) -> int:
        """Vector dimension; every added vector and every query must have it."""
        return self._dim

    @abstractmethod
    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add vectors under the given (new, unique) ids; trains first if the type needs it."""

    @abstractmethod
    def remove(self, ids: np.ndarray) -> bool:
        """Remove ids (unknown ids are ignored); False when this type cannot remove (the caller rebuilds)."""

    @abstractmethod
    def search(
        self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(scores float32 ``(q, k')``, ids int64 ``(q, k')``), best first, ``k' = min(k, count)``.

        Missing neighbours have id -1 and score -inf. ``allowed`` restricts results to those ids inside
        the search (not after it), so a filter keeping 1% of the items still yields k results when k
        allowed items exist; an empty ``allowed`` yields none; ids not in the index are ignored.
        """

    @abstractmethod
    def count(self) -> int:
        """Number of vectors in the index."""

    @abstractmethod
    def ids(self) -> np.ndarray:
        """All ids in the index, sorted ascending, int64."""

    @abstractmethod
    def save(self, path: Path) -> None:
        """Write the index to ``path`` atomically (readers see the old file or the new one)."""

    @classmethod
    @abstractmethod
    def load(cls, path: Path) -> VectorIndex:
        """Read an index written by ``save``; FrameFindError naming the file when it is unreadable."""

    def undersized(self, n: int) -> bool:
        """Whether the index was sized (trained) for far fewer than n vectors; types not sized from n: never."""
        return False

    def __len__(self) -> int:
        return self.count()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(backend={self.backend!r}, kind={self.kind!r}, dim={self.dim}, n={self.count()})"

    def _checked(self, ids: np.ndarray | list[int], vectors: np.ndarray,
                 present: Callable[[np.ndarray], np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """``add``'s arguments as backends store them (int64 ids, C-contiguous float32 rows), after the
        checks every backend makes: shapes agree, ids are >= 0 (-1 means a missing neighbour), unique,
        and not ``present`` (a boolean mask function of the backend) already."""
        ids = as_ids(ids)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape != (len(ids), self.dim):
            raise ValueError(f"expected vectors of shape ({len(ids)}, {self.dim}), got {vectors.shape}")
        if (ids < 0).any():
            raise ValueError("ids must be >= 0 (searches report missing neighbours as -1)")
        if len(ids) and (len(np.unique(ids)) != len(ids) or present(ids).any()):
            raise ValueError("ids must be unique and not already in the index (remove them first)")
        return ids, vectors

    def _check_query(self, queries: np.ndarray, k: int) -> None:
        """Reject inputs a backend would misread silently (wrong dtype/shape) or crash on (k < 1)."""
        if not isinstance(queries, np.ndarray) or queries.ndim != 2 or queries.shape[1] != self.dim:
            shape = getattr(queries, "shape", None)
            raise ValueError(f"queries must be a 2-D array of shape (q, {self.dim}), got {shape}")
        if queries.dtype != np.float32 or not queries.flags.c_contiguous:
            raise ValueError("queries must be C-contiguous float32 (np.ascontiguousarray(x, np.float32))")
        if int(k) < 1:
            raise ValueError(f"k must be >= 1, got {k}")


def empty_result(n_queries: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The result with no neighbours found: scores -inf, ids -1, shape ``(n_queries, k)``."""
    return np.full((n_queries, k), -np.inf, np.float32), np.full((n_queries, k), -1, np.int64)


def as_ids(ids: np.ndarray | list[int]) -> np.ndarray:
    """ids as a contiguous 1-D int64 array (FAISS reads the raw buffer, so the dtype must be exact)."""
    out = np.ascontiguousarray(ids, dtype=np.int64)
    if out.ndim != 1:
        raise ValueError(f"ids must be 1-D, got shape {out.shape}")
    return out
