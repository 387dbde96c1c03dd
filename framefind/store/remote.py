"""A model's vectors in Milvus: the collection plays the part the index files play for FAISS.

One collection per (library, model, space), named from a uuid the library keeps in its catalog
(``library_id``), so any number of libraries share a server or cluster without colliding. The
catalog stays the source of truth and holds every vector; the collection is derived from it:

- The **writer** (``framefind index`` / ``migrate``, holding the writer lock) brings the collection up
  to the catalog by id set difference (insert what is missing, delete what is stale, flush), changes
  its index type in place when the type must change, and then records in the catalog what the
  collection holds now: ``milvus:<collection>`` = {uri, generation, kind, nlist}.
- A **reader** whose catalog generation is the recorded one searches the collection as it is, with
  no round trip to learn its contents (the ids are the catalog's). Otherwise (an index run is under
  way, or was interrupted) it lists the collection's ids once and answers as for FAISS: the
  collection, plus an exact delta of the vectors committed since, minus the ids deleted since. A
  Milvus Lite file open in another process (Lite serves one at a time) is answered exactly from
  the catalog instead.

The view logic (caching, swapping, merging base and delta) and the sync are ``VectorStore``'s
(store/vectorstore.py); this module says how a view is made, when it is stale and how the writer writes.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid

import numpy as np

from framefind.errors import FrameFindError
from framefind.store.catalog import Catalog
from framefind.store.vectors.factory import build_index, choose_kind, needs_rebuild
from framefind.store.vectors.milvus import MilvusIndex
from framefind.store.vectors.milvus_connection import MilvusBusy, calls, client, is_lite
from framefind.store.vectorstore import IndexView, OnRebuild, Progress, VectorStore

# A server seals and indexes segments on its own (size, idle time) and searches unsealed rows by brute
# force meanwhile; its flush costs 2.5 s a collection (2.3.5 here), so the writer asks for one only
# after a bulk insert, whose index should be ready when the command returns. Lite indexes only what is
# flushed, and flushes in milliseconds: always.
FLUSH_ROWS = 10_000


def library_id(catalog: Catalog) -> str:
    """This library's uuid (made on first use): names its collections on a shared server."""
    found = catalog.meta("library_id")
    if found is None:
        found = uuid.uuid4().hex
        catalog.set_meta("library_id", found)
    return found


def collection_name(library: str, model_id: str, space: str) -> str:
    """``ff_<library uuid>_<model digest>_<space>``: a valid Milvus name whatever the model id says."""
    model = hashlib.sha256(model_id.encode()).hexdigest()[:16]
    return f"ff_{library}_{model}_{re.sub(r'[^A-Za-z0-9_]', '_', space)}"


class MilvusStore(VectorStore):
    """One model's collections at a Milvus URI."""

    sync_chunk = 20_000  # inserts a server takes in one request (1280-d: 100 MB)

    def __init__(self, catalog: Catalog, model_id: str, dims: dict[str, int], index_type: str, uri: str) -> None:
        super().__init__(catalog, model_id, dims, index_type)
        self.uri = uri
        self._seen: dict[str, str | None] = {}  # per space: the sync record the current view was made from
        self._library: str | None = None

    def collection(self, space: str) -> str:
        if self._library is None:  # read once: searches check the sync record on every call
            self._library = library_id(self.catalog)
        return collection_name(self._library, self.model_id, space)

    def _record(self, space: str, raw: str | None = None) -> dict | None:
        """What the writer last synced into this space's collection at this URI (None: nothing known), from
        the catalog, or from its ``raw`` meta value already read."""
        raw = raw if raw is not None else self.catalog.meta(f"milvus:{self.collection(space)}")
        try:
            record = json.loads(raw) if raw else None
        except ValueError:
            return None
        return record if isinstance(record, dict) and record.get("uri") == self.uri else None

    # -- readers ---------------------------------------------------------------------------------
    def _current(self, view: IndexView, space: str) -> bool:
        return (view.generation == self.catalog.generation(self.model_id)
                and self._seen.get(space) == self.catalog.meta(f"milvus:{self.collection(space)}"))

    def _open_view(self, space: str, previous: IndexView | None) -> IndexView:
        name = self.collection(space)
        with self.catalog.snapshot():
            generation = self.catalog.generation(self.model_id)
            wanted = self.catalog.vector_ids(self.model_id, space)
            raw = self.catalog.meta(f"milvus:{name}")
        # the writer touches a collection only at the end of its run, then records it: until then a
        # view's handle (and the ids it knows) stays right, and only the delta moves
        unchanged = previous is not None and previous.base is not None and self._seen.get(space) == raw
        self._seen[space] = raw
        record = self._record(space, raw)
        none = np.zeros(0, np.int64)
        try:
            client(self.uri)  # connects (once): Milvus Lite may be held by another process
            if record is not None and record["generation"] == generation:
                base = MilvusIndex.attach(self.uri, name, self.dims[space], record["kind"], record["nlist"], wanted)
                return IndexView(generation, base, None, None, none)
            base = previous.base if unchanged else MilvusIndex.existing(self.uri, name)
            have = base.ids() if base is not None else none
        except MilvusBusy:  # Lite, held by the indexer: the catalog holds every vector
            base, have = None, none
        missing = np.setdiff1d(wanted, have)
        delta = None
        if len(missing):
            ids, vectors = self.catalog.vectors(self.model_id, space, missing.tolist())
            delta = build_index(ids, vectors, kind="flat", backend="faiss")
        return IndexView(generation, base, None, delta, np.setdiff1d(have, wanted))

    # -- the writer --------------------------------------------------------------------------------
    def write(self, space: str, on_rebuild: OnRebuild = lambda kind, n: None, progress: Progress = lambda done: None,
              defer: bool = False, lag: int = 0) -> str:
        """Bring ``space``'s collection up to the catalog; needs the writer lock. Returns the collection.
        ``defer`` and ``lag`` are for index files: Milvus builds its indexes itself, asynchronously, on its own
        nodes, and its collection is always brought up to date."""
        name = self.collection(space)
        with self.catalog.snapshot():
            generation = self.catalog.generation(self.model_id)
            wanted = self.catalog.vector_ids(self.model_id, space)
        dim = self.dims[space]
        index = MilvusIndex(dim, self._kind(len(wanted), dim), len(wanted), uri=self.uri, collection=name)
        record = self._record(space)
        if record is not None and record["generation"] == generation \
                and not self._rebuild(index, len(wanted)) and index.stored_count() == len(wanted):
            return name  # already current (and still there)
        inserted = self._sync(index, wanted, space, progress) or 0  # a collection removes any id
        if self._rebuild(index, len(wanted)):
            kind = self._kind(len(wanted), dim)
            on_rebuild(kind, len(wanted))
            index.reindex(kind, len(wanted))
        if is_lite(self.uri) or inserted >= FLUSH_ROWS:
            index.flush()
        stored = index.stored_count()  # also waits until searches anywhere see every write
        if stored != len(wanted):
            raise FrameFindError(f"{self.uri}: collection {name} holds {stored} vectors after syncing, "
                                 f"the catalog {len(wanted)}; run the same command again")
        self.catalog.set_meta(f"milvus:{name}", json.dumps(
            {"uri": self.uri, "generation": generation, "kind": index.kind, "nlist": index.nlist}))
        return name

    def _kind(self, n: int, dim: int) -> str:
        """``choose_kind``, but on Milvus Lite "auto" climbs from flat to hnsw, not ivf-sq8: Lite trains an
        IVF on each flushed segment, and FAISS prints a k-means warning for every small one (an index
        run adding a few files makes one)."""
        kind = choose_kind(n, dim, self.index_type, MilvusIndex.kinds)
        return "hnsw" if kind == "ivf-sq8" and self.index_type == "auto" and is_lite(self.uri) else kind

    def _rebuild(self, index: MilvusIndex, n: int) -> bool:
        """``needs_rebuild`` with ``_kind``'s ladder (the same hysteresis: auto keeps an approximate kind
        until n falls below half the threshold)."""
        return needs_rebuild(index, n, self.index_type, self._kind)

    def kind(self, space: str) -> str | None:
        record = self._record(space)
        return record["kind"] if record is not None else None


def drop_collections(catalog: Catalog, model_id: str, uri: str) -> int:
    """Drop a model's collections at ``uri`` and forget what was synced into them; returns how many."""
    prefix = collection_name(library_id(catalog), model_id, "")
    c = client(uri)
    dropped = 0
    with calls(uri, "dropping collections"):
        for name in c.list_collections():
            if name.startswith(prefix):
                c.drop_collection(name)
                catalog.set_meta(f"milvus:{name}", "")
                dropped += 1
    return dropped
