"""Approximate-nearest-neighbour indexes, one per vector space, derived from the catalog.

``VectorIndex`` is the small interface a backend implements (FAISS here; Milvus plugs in the same
way). ``VectorStore`` keeps a library's index files in step with the catalog: a file is named after
the catalog generation it reflects (``semantic.42.faiss``) and written via temp file + rename, so a
reader either finds the file for the current generation or syncs the newest older file by set
difference of ids. No crash can leave an index that disagrees with the catalog.
"""

from __future__ import annotations

import os
import re
from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np

from framefind.errors import FrameFindError
from framefind.store.catalog import Catalog

FAISS_FACTORY = {"flat": "Flat", "sq8": "SQ8", "hnsw": "HNSW32,Flat"}  # also what `framefind eval` measures
# Library indexes map FAISS rows to item ids; all compare by inner product (cosine on unit vectors).
INDEX_KINDS = {name: f"IDMap2,{factory}" for name, factory in FAISS_FACTORY.items()}


class VectorIndex(ABC):
    """Inner-product search over (int64 id, float32 vector) pairs."""

    @abstractmethod
    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None: ...

    @abstractmethod
    def remove(self, ids: np.ndarray) -> bool:
        """Remove ids; False when the index type cannot remove (the caller rebuilds)."""

    @abstractmethod
    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids), each ``(n_queries, k)``; missing neighbours have id -1."""

    @abstractmethod
    def ids(self) -> np.ndarray: ...

    def __len__(self) -> int:
        return len(self.ids())


class FaissIndex(VectorIndex):
    def __init__(self, dim: int, kind: str = "flat", index=None) -> None:
        import faiss

        if kind not in INDEX_KINDS:
            raise FrameFindError(f"unknown index type {kind!r} (choose {', '.join(INDEX_KINDS)})")
        self.kind = kind
        self.index = index if index is not None else faiss.index_factory(
            dim, INDEX_KINDS[kind], faiss.METRIC_INNER_PRODUCT)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids) == 0:
            return
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if not self.index.is_trained:  # SQ8 learns its value ranges from the first batch
            self.index.train(vectors)
        self.index.add_with_ids(vectors, np.ascontiguousarray(ids, dtype=np.int64))

    def remove(self, ids: np.ndarray) -> bool:
        try:
            self.index.remove_ids(np.ascontiguousarray(ids, dtype=np.int64))
        except RuntimeError:  # e.g. HNSW cannot delete
            return False
        return True

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        k = min(k, self.index.ntotal)
        if k == 0:
            return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
        return self.index.search(np.ascontiguousarray(queries, dtype=np.float32), k)

    def ids(self) -> np.ndarray:
        import faiss

        return faiss.vector_to_array(self.index.id_map).astype(np.int64)

    def save(self, path: Path) -> None:
        import faiss

        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        faiss.write_index(self.index, str(tmp))
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path, kind: str) -> FaissIndex:
        import faiss

        return cls(0, kind, index=faiss.read_index(str(path)))


class VectorStore:
    """The ANN indexes of one library, one per space, loaded lazily and synced with the catalog."""

    def __init__(self, directory: Path, catalog: Catalog, dims: dict[str, int], kind: str = "flat") -> None:
        self.directory = directory
        self.catalog = catalog
        self.dims = dims
        self.kind = kind
        self._loaded: dict[str, tuple[int, FaissIndex]] = {}

    def index(self, space: str, save: bool = True) -> FaissIndex:
        """The index of ``space`` as of the catalog's current generation."""
        generation = self.catalog.generation
        cached = self._loaded.get(space)
        if cached and cached[0] == generation:
            return cached[1]
        path = self._path(space, generation)
        if path.exists():
            index = FaissIndex.load(path, self.kind)
        else:
            generation, index = self._sync(space)
            if save:
                self._save(space, generation, index)
        self._loaded[space] = (generation, index)
        return index

    def _sync(self, space: str) -> tuple[int, FaissIndex]:
        """Bring the newest index file (or an empty index) up to the catalog, by id set difference."""
        older = self._files(space)
        index = FaissIndex.load(older[-1][1], self.kind) if older else FaissIndex(self.dims[space], self.kind)
        with self.catalog.snapshot():  # generation and ids from one consistent read
            generation = self.catalog.generation
            wanted = self.catalog.vector_ids(space)
            have = index.ids()
            stale = np.setdiff1d(have, wanted)
            if len(stale) and not index.remove(stale):
                index, have = FaissIndex(self.dims[space], self.kind), have[:0]
            ids, vecs = self.catalog.vectors(space, np.setdiff1d(wanted, have))
            index.add(ids, vecs)
        return generation, index

    def _save(self, space: str, generation: int, index: FaissIndex) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            index.save(self._path(space, generation))
            for gen, old in self._files(space):
                if gen < generation:
                    old.unlink(missing_ok=True)
        except OSError:
            pass  # a read-only library still answers from the in-memory sync

    def _path(self, space: str, generation: int) -> Path:
        return self.directory / f"{space}.{generation}.faiss"

    def _files(self, space: str) -> list[tuple[int, Path]]:
        pattern = re.compile(rf"^{re.escape(space)}\.(\d+)\.faiss$")
        found = []
        if self.directory.exists():
            for path in self.directory.iterdir():
                if match := pattern.match(path.name):
                    found.append((int(match.group(1)), path))
        return sorted(found)
