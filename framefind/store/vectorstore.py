"""``VectorStore``: one model's vector indexes in a library, whatever holds them (txtai's ``ann/base.py`` idea).

Two implementations: index files in the library (``indexfiles.IndexFileStore``, FAISS) and collections
at a Milvus URI (``remote.MilvusStore``). Callers (the library, searches, migrations, the background
build's start) use only this interface; ``vector_store`` picks the implementation from the library's
backend record.

The catalog is the source of truth and holds every vector; an index is derived from it:

- a **reader** searches a ``view``: the index as last written, plus an exact "delta" of the vectors
  committed since, minus the ids deleted since (so searches see every committed batch while an index
  run goes on). A view is immutable once built: any number of threads search it at once; when the
  index moves on, a new view is built and swapped in. Readers never write.
- the **writer** (holding the library's writer lock) brings the index up to the catalog by id set
  difference (``_sync``), or rebuilds it when its type must change (``write``).

What differs between implementations is how a view is made and when it is stale, how the writer
writes, and how the index's type is read back; the view cache and the sync are shared here.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from framefind.store.catalog import Catalog
from framefind.store.vectors.base import VectorIndex

Progress = Callable[[int], None]  # vectors written so far (in this call)
OnRebuild = Callable[[str, int], None]  # (kind, n): an index of n vectors is being built
BUILD_CHUNK = 100_000  # vectors read from the catalog at a time while building or syncing


@dataclass(frozen=True)
class IndexView:
    """What a reader searches: the written index, the vectors committed after it, the ids deleted since."""

    generation: int
    base: VectorIndex | None
    base_path: Path | None  # index files: the newest file when the view was made (even if unreadable)
    delta: VectorIndex | None
    removed: np.ndarray  # sorted ids in ``base`` that the catalog no longer has

    def search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids), each ``(n_queries, <= k)``, best first; -1 ids are dropped by callers."""
        parts = []
        if self.base is not None and self.base.count():
            if allowed is not None:
                keep = np.setdiff1d(allowed, self.removed, assume_unique=False)
                parts.append(self.base.search(queries, k, keep))
            elif len(self.removed):  # over-fetch past the deleted ids, then drop them
                scores, ids = self.base.search(queries, min(k + len(self.removed), self.base.count()))
                gone = np.isin(ids, self.removed)
                parts.append((np.where(gone, -np.inf, scores), np.where(gone, -1, ids)))
            else:
                parts.append(self.base.search(queries, k))
        if self.delta is not None and self.delta.count():
            parts.append(self.delta.search(queries, k, allowed))
        if not parts:
            return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
        scores = np.concatenate([p[0] for p in parts], axis=1)
        ids = np.concatenate([p[1] for p in parts], axis=1)
        scores = np.where(ids < 0, -np.inf, scores)
        order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        return np.take_along_axis(scores, order, 1).astype(np.float32), np.take_along_axis(ids, order, 1)


class VectorStore(ABC):
    """One model's indexes, one per vector space (``dims``: space -> dimension)."""

    sync_chunk = BUILD_CHUNK  # vectors read from the catalog and added at a time when bringing an index up to date

    def __init__(self, catalog: Catalog, model_id: str, dims: dict[str, int], index_type: str = "auto") -> None:
        self.catalog, self.model_id, self.dims, self.index_type = catalog, model_id, dims, index_type
        self._views: dict[str, IndexView] = {}
        self._lock = threading.Lock()
        self.deferred: set[str] = set()  # spaces whose rebuild ``write`` left to a background build

    # -- readers ---------------------------------------------------------------------------------
    def view(self, space: str) -> IndexView:
        """The current view of ``space``, rebuilt when the index or the catalog moved on (``_current``)."""
        view = self._views.get(space)
        if view is not None and self._current(view, space):
            return view
        with self._lock:  # one thread builds the new view; the others then find it
            view = self._views.get(space)
            if view is None or not self._current(view, space):
                view = self._open_view(space, view)
                self._views[space] = view
        return view

    def search(self, space: str, queries: np.ndarray, k: int,
               allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        return self.view(space).search(np.ascontiguousarray(queries, dtype=np.float32), k, allowed)

    @abstractmethod
    def kind(self, space: str) -> str | None:
        """The index type searches of ``space`` use now, or None before the writer's first write."""

    @abstractmethod
    def _current(self, view: IndexView, space: str) -> bool:
        """Whether ``view`` still answers as the written index and the catalog would (cheap: every search asks)."""

    @abstractmethod
    def _open_view(self, space: str, previous: IndexView | None) -> IndexView:
        """A new view of ``space`` (``previous``: the stale one, whose loaded index may be kept)."""

    # -- the writer --------------------------------------------------------------------------------
    @abstractmethod
    def write(self, space: str, on_rebuild: OnRebuild = lambda kind, n: None, progress: Progress = lambda done: None,
              defer: bool = False, lag: int = 0) -> str:
        """Bring ``space``'s index up to the catalog (or rebuild it); needs the writer lock. Returns where it
        is (a file, a collection). ``defer``: a big rebuild may be left to a background build (``deferred``
        then names the space); implementations that build elsewhere anyway ignore it. ``lag``: an index that is
        at most that many commits behind may be left as it is (index files: readers add the rest exactly)."""

    def _sync(self, index: VectorIndex, wanted: np.ndarray, space: str, progress: Progress = lambda done: None
              ) -> int | None:
        """Apply the catalog's changes by id set difference, reading what is missing in chunks (bounded
        memory); returns how many vectors were added, None when the index type cannot remove."""
        have = index.ids()
        stale = np.setdiff1d(have, wanted)
        if len(stale) and not index.remove(stale):
            return None
        missing, done = np.setdiff1d(wanted, have), 0
        for start in range(0, len(missing), self.sync_chunk):
            ids, vectors = self.catalog.vectors(self.model_id, space, missing[start : start + self.sync_chunk].tolist())
            index.add(ids, vectors.reshape(len(ids), self.dims[space]))
            done += len(ids)
            progress(done)
        return done


def vector_store(directory: Path, catalog: Catalog, model_id: str, dims: dict[str, int],
                 index_type: str = "auto", backend: dict | None = None) -> VectorStore:
    """The store of one model's vectors in the library's ``backend`` record: index files under ``directory``
    ({"name": "faiss"}, the default), or Milvus collections ({"name": "milvus", "uri": ...})."""
    from framefind.store.indexfiles import IndexFileStore
    from framefind.store.remote import MilvusStore

    backend = backend or {"name": "faiss"}
    if backend["name"] == "faiss":
        return IndexFileStore(directory, catalog, model_id, dims, index_type)
    return MilvusStore(catalog, model_id, dims, index_type, backend["uri"])
