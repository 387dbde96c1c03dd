"""A model's vector index files, derived from the catalog: written by the one writer, read by anyone.

Layout: ``index/<model id>/<space>.<generation>.<write>.<kind>.faiss`` (``write`` orders two files
of one generation, e.g. before and after a change of index type). The catalog is the source of truth;
an index file is a cache of it at some generation, written to a unique temp name and renamed, so a
reader sees a whole file or none.

- The **writer** (``framefind index``, holding the library's writer lock) brings the newest file up
  to the catalog by id set difference, or rebuilds it when the type must change (pinned by the user,
  or chosen from the number of vectors), when its type cannot remove, or when an IVF was trained
  for far fewer vectors; then it writes the new file and deletes all but the two newest, since a
  reader may be opening the previous one.
- A **reader** never writes and never rebuilds: it loads the newest file and answers from it plus
  a small exact "delta" of vectors committed since, and masks ids deleted since. While an indexer
  runs, searches see every committed batch; with no file at all (deleted, or never written) the
  delta is the whole space, searched exactly. A view is immutable once built, so any number of
  threads search it at once; a new generation builds a new view and swaps it in.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from framefind.errors import FrameFindError
from framefind.store.catalog import Catalog
from framefind.store.vectors.base import VectorIndex
from framefind.store.vectors.factory import build_index, choose_kind, create_index, load_index, needs_rebuild
from framefind.store.vectorstore import BUILD_CHUNK, IndexView, OnRebuild, Progress, VectorStore

# Rebuilds of at least this many vectors run in the background (store/rebuild.py): ~10 s and more of
# training here (docs/benchmarks.md, "Index at scale": 384-d ivf-sq8 at 100k 10.7 s, 1M 66 s;
# 1280-d ivf-pq 48 s and 267 s); smaller ones take under a few seconds and are simply done in place.
BACKGROUND_ENV = "FRAMEFIND_BACKGROUND_BUILD_MIN"
BACKGROUND_MIN = 100_000

# Commits the index files may lag behind when an index run allows it (the watcher's batches): readers then search
# at most ~500 contents exactly besides the file (well under a millisecond).
LAG_ALLOWED = 500
_FILE = re.compile(r"^(?P<space>.+)\.(?P<gen>\d+)\.(?P<seq>\d+)\.(?P<kind>[a-z0-9-]+)\.faiss$")
KEEP_FILES = 2


def background_minimum() -> int:
    """Vectors from which a rebuild goes to the background (``$FRAMEFIND_BACKGROUND_BUILD_MIN`` overrides)."""
    return int(os.environ.get(BACKGROUND_ENV) or BACKGROUND_MIN)


class IndexFileStore(VectorStore):
    """One model's index files in a library: ``index/<model id>/<space>.<generation>.<write>.<kind>.faiss``."""

    def __init__(self, directory: Path, catalog: Catalog, model_id: str, dims: dict[str, int],
                 index_type: str = "auto") -> None:
        super().__init__(catalog, model_id, dims, index_type)
        self.directory = directory / model_id

    # -- readers ---------------------------------------------------------------------------------
    def _current(self, view: IndexView, space: str) -> bool:
        if view.generation != self.catalog.generation(self.model_id):
            return False
        files = self.files(space)  # one directory listing: microseconds
        return (files[-1][1] if files else None) == view.base_path

    def _open_view(self, space: str, previous: IndexView | None) -> IndexView:
        base, path = self._load_newest(space, previous)
        with self.catalog.snapshot():  # generation and ids from one consistent read
            generation = self.catalog.generation(self.model_id)
            if base is not None and int(_FILE.match(path.name)["gen"]) == generation:
                # the file is the catalog at this generation: no delta, nothing removed, and no need to read
                # every id (30 ms at 10k items, 10x that at 100k: most of a fresh process's first search)
                return IndexView(generation, base, path, None, np.zeros(0, np.int64))
            wanted = self.catalog.vector_ids(self.model_id, space)
        have = base.ids() if base is not None else np.zeros(0, np.int64)
        missing = np.setdiff1d(wanted, have)
        delta = None
        if len(missing):
            ids, vectors = self.catalog.vectors(self.model_id, space, missing.tolist())
            delta = build_index(ids, vectors, kind="flat")
        return IndexView(generation, base, path, delta, np.setdiff1d(have, wanted))

    def _load_newest(self, space: str, previous: IndexView | None) -> tuple[VectorIndex | None, Path | None]:
        """The newest readable file; the writer may delete one between listing and opening it."""
        for _ in range(5):
            files = self.files(space)
            if not files:
                return None, None
            path = files[-1][1]
            if previous is not None and previous.base_path == path:
                return previous.base, path  # unchanged file: keep the loaded index
            try:
                return load_index(path), path
            except (FileNotFoundError, FrameFindError):
                if not path.exists():
                    continue  # deleted by the writer after we listed it: list again
                return None, path  # damaged: answer exactly from the catalog (once), until the writer replaces it
        return None, None

    # -- the writer --------------------------------------------------------------------------------
    def write(self, space: str, on_rebuild: OnRebuild = lambda kind, n: None, progress: Progress = lambda done: None,
              defer: bool = False, lag: int = 0) -> str:
        """Bring ``space``'s newest file up to the catalog (or rebuild it) and write it; needs the writer lock.

        ``defer``: a rebuild of at least ``background_minimum()`` vectors is left to a background process
        (store/rebuild.py) when the current file can be brought up to date instead; ``deferred`` then
        names the space, and searches use the current type until the new file is installed.
        ``lag``: leave the newest file as it is while it is at most that many commits behind (the watcher's
        small batches): readers search what is newer exactly, as they do while an indexer runs, and the file is
        not loaded and written again for a few photos (0.4 s at 10k items, seconds at 100k).
        """
        self._remove_temporaries(space)
        files = self.files(space)
        with self.catalog.snapshot():
            generation = self.catalog.generation(self.model_id)
            if lag and files and 0 <= generation - files[-1][0] <= lag:
                return str(files[-1][1])
            wanted = self.catalog.vector_ids(self.model_id, space)
        index = self._try_load(files[-1][1]) if files else None
        rebuild = index is None or needs_rebuild(index, len(wanted), self.index_type)
        if rebuild and defer and index is not None and index.kind != "hnsw" and len(wanted) >= background_minimum():
            self.deferred.add(space)
            rebuild = False
        if not rebuild and files[-1][0] == generation:
            return str(files[-1][1])  # already current
        if index is None or rebuild or self._sync(index, wanted, space, progress) is None:
            index = self.build(space, wanted, on_rebuild)
        if index.count() != len(wanted):  # a file that would silently miss vectors is never installed
            raise FrameFindError(f"{self.directory}: the {space} index holds {index.count()} vectors, the catalog "
                                 f"{len(wanted)}; run the same command again")
        return str(self._save(space, index, generation))

    def build(self, space: str, wanted: np.ndarray, on_rebuild: OnRebuild = lambda kind, n: None) -> VectorIndex:
        """A new index of the type ``wanted``'s size calls for, streamed from the catalog in chunks (memory:
        the index and one chunk, not every vector); an IVF trains on a random sample of all of them."""
        dim = self.dims[space]
        on_rebuild(choose_kind(len(wanted), dim, self.index_type), len(wanted))
        index = create_index(dim, self.index_type, n_hint=len(wanted))
        sample = np.sort(np.random.default_rng(0).permutation(wanted)[:BUILD_CHUNK])  # the first add trains
        rest = np.setdiff1d(wanted, sample)
        for part in [sample, *(rest[i : i + BUILD_CHUNK] for i in range(0, len(rest), BUILD_CHUNK))]:
            ids, vectors = self.catalog.vectors(self.model_id, space, part.tolist())
            if len(ids):
                index.add(ids, vectors.reshape(len(ids), dim))
        return index

    def install(self, space: str, index: VectorIndex) -> Path | None:
        """Make ``index`` (built in the background) the newest file, after applying what the catalog
        committed meanwhile; needs the writer lock. None if it cannot catch up (an HNSW cannot remove)."""
        self._remove_temporaries(space)
        with self.catalog.snapshot():
            generation = self.catalog.generation(self.model_id)
            wanted = self.catalog.vector_ids(self.model_id, space)
        return None if self._sync(index, wanted, space) is None else self._save(space, index, generation)

    def _save(self, space: str, index: VectorIndex, generation: int) -> Path:
        """Write ``index`` as the newest file (atomically) and delete all but the ``KEEP_FILES`` newest."""
        files = self.files(space)
        seq = max((int(_FILE.match(p.name)["seq"]) for _, p in files), default=0) + 1
        path = self.directory / f"{space}.{generation}.{seq}.{index.kind}.faiss"
        index.save(path)
        for _, old in self.files(space)[:-KEEP_FILES]:
            old.unlink(missing_ok=True)
        return path

    def _remove_temporaries(self, space: str) -> None:
        """Half-written files of a writer that was killed: only the lock holder writes, so they are garbage."""
        if self.directory.is_dir():
            for path in self.directory.glob(f".{space}.*.tmp"):
                path.unlink(missing_ok=True)

    def _try_load(self, path: Path) -> VectorIndex | None:
        try:
            return load_index(path)
        except (FileNotFoundError, FrameFindError):
            return None

    def files(self, space: str) -> list[tuple[int, Path]]:
        """This space's index files as (generation, path), oldest first."""
        found = []
        if self.directory.is_dir():
            for path in self.directory.iterdir():
                if (match := _FILE.match(path.name)) and match["space"] == space:
                    found.append((int(match["gen"]), int(match["seq"]), path))
        return [(gen, path) for gen, _, path in sorted(found)]

    def kind(self, space: str) -> str | None:
        """The type of the newest index file (what searches use), or None before the first write."""
        files = self.files(space)
        return _FILE.match(files[-1][1].name)["kind"] if files else None


_V1_INDEX_FILE = re.compile(r"^(?P<space>\w+)\.(?P<gen>\d+)\.faiss$")


def adopt_v1_index_files(catalog: Catalog, index: Path) -> None:
    """0.1.0's index files (``index/SPACE.GEN.faiss``) hold the same item ids as the upgraded
    catalog: move them into the active model's folder instead of rebuilding them."""
    active = catalog.meta("active_model")
    kind = {"auto": "flat"}.get(catalog.meta("index_type"), catalog.meta("index_type"))
    if not active or not index.is_dir():
        return
    for path in index.iterdir():
        if match := _V1_INDEX_FILE.match(path.name):
            target = index / active / f"{match['space']}.{match['gen']}.0.{kind}.faiss"
            target.parent.mkdir(exist_ok=True)
            path.replace(target)
