"""Milvus backend: one collection per index, through pymilvus's ``MilvusClient``.

The same code reaches a Milvus server or cluster (``http://host:19530``) and Milvus Lite (a path
ending in ``.db``: an embedded engine in this process, which serves one process per file). pymilvus
is imported only when a Milvus index is used: importing it costs ~1.2 s (pandas, pyarrow, gRPC).

Kinds: ``flat`` (FLAT, exact), ``hnsw`` (HNSW, M 32) and ``ivf-sq8`` (IVF_SQ8, nlist sized from n as
for FAISS, at most 1024: Milvus trains each sealed segment on its own, and segments start at 1024
rows). There is no ``sq8``: Milvus has no flat scalar-quantised index. Every kind removes in place.

Filters (``allowed``) are pushed down as ``id in [...]`` expressions up to ``FILTER_IN_MAX`` ids.
Measured on Milvus 2.3.5 at 50k x 384 (FLAT): a search cost 18 ms plain, 13-17 ms with up to 1000
ids, 60 ms with 10k and 297 ms with 50k (the server parses every id); ``not in`` was no cheaper.
Larger sets are searched unfiltered with a wider k and filtered here, and rows left short are redone
with the expression, in chunks, merged; a short row of a small set is scored here from the vectors
read back: always k results when k allowed items exist. IVF's nprobe is widened for a filter as
FaissIndex widens it; a server's HNSW is not trusted with filters keeping over 7% (``_walks_badly``).

Consistency: searches run at "Session" level (this process sees its own inserts; others see what the
server has consumed), not "Strong", which waits for a time tick: 200 ms a search on 2.3.5. pymilvus
does not record deletes in its session, so a handle that removed ids searches at "Strong" level, and
every handle also drops ids it does not know from results (``ids()``, kept by the handle that writes).

``save`` flushes and writes a small JSON pointer (uri, collection): the data lives in Milvus, the file
says where. The library's ``MilvusStore`` needs no pointer files (the catalog remembers what it synced).
"""

from __future__ import annotations

import json
import math
import re
import time
import uuid
from pathlib import Path

import numpy as np

from framefind.errors import FrameFindError
from framefind.fsutil import atomic_path
from framefind.store.vectors.base import VectorIndex, as_ids, empty_result
from framefind.store.vectors.faiss import HNSW_EF_SEARCH, nlist_for, nprobe_for
from framefind.store.vectors.milvus_connection import URI_HELP, calls, client, is_lite, normalise_uri

KINDS = ("flat", "hnsw", "ivf-sq8")
MILVUS_TYPES = {"flat": "FLAT", "hnsw": "HNSW", "ivf-sq8": "IVF_SQ8"}
HNSW_BUILD = {"M": 32, "efConstruction": 64}
MAX_NLIST = 1024
MAX_TOPK = 16384  # Milvus's limit on k per query (and on queries per request)
QUERY_BATCH = 512  # queries per search request (a message of 512 x 1280 floats is 2.6 MB)
INSERT_BYTES = 8 << 20  # rows per insert request: well under gRPC's 64 MB limit
FILTER_IN_MAX = 8192
FILTER_CHUNK = 8192
OVERFETCH = 4  # unfiltered search for a large filter: k / selectivity, times this
HNSW_SCAN_BELOW = 0.07  # Milvus scans exactly when a filter keeps less of a segment (knowhere: 93% filtered out)
ID_PAGE = 16384
INDEX_WAIT = 300.0  # seconds a flush waits for Milvus to index what it sealed
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")


def _member(sorted_ids: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Boolean mask: which of ``ids`` are in ``sorted_ids`` (binary search: no sort of the big array)."""
    if not len(sorted_ids):
        return np.zeros(ids.shape, bool)
    pos = np.minimum(np.searchsorted(sorted_ids, ids), len(sorted_ids) - 1)
    return sorted_ids[pos] == ids


def _in(ids: np.ndarray) -> str:
    return f"id in [{','.join(map(str, ids.tolist()))}]"


class MilvusIndex(VectorIndex):
    """A Milvus collection of (id INT64 primary key, vector FLOAT_VECTOR), searched by inner product.

    Opening a collection that exists adopts its kind and index parameters (the collection says what
    it is, as a FAISS file does); a missing one is created as ``kind``.
    """

    backend = "milvus"
    kinds = KINDS

    def __init__(self, dim: int, kind: str = "flat", n_hint: int = 0, *, uri: str | None = None,
                 collection: str | None = None) -> None:
        _check_kind(kind)
        if not uri:
            raise FrameFindError(f"the milvus backend needs a uri ({URI_HELP})")
        super().__init__(dim, kind, n_hint)
        self.uri, self.collection = normalise_uri(uri), collection or f"framefind_{uuid.uuid4().hex}"
        if not NAME.match(self.collection):
            raise FrameFindError(f"{self.collection!r}: not a valid Milvus collection name")
        self.nlist, self._ids, self._strong, self._unflushed = 0, None, False, False
        c = client(self.uri)
        with calls(self.uri, f"opening collection {self.collection}"):
            if c.has_collection(self.collection):
                self._adopt(c)
                self._load(c)
            else:
                self._create(c)

    @classmethod
    def attach(cls, uri: str, collection: str, dim: int, kind: str, nlist: int, ids: np.ndarray) -> MilvusIndex:
        """A handle on a collection known to hold exactly ``ids`` (what the writer synced): no round trip."""
        index = cls.__new__(cls)
        VectorIndex.__init__(index, dim, kind, len(ids))
        index.uri, index.collection, index.nlist, index._strong, index._unflushed = uri, collection, nlist, False, False
        index._ids = np.sort(as_ids(ids))
        return index

    @classmethod
    def existing(cls, uri: str, collection: str) -> MilvusIndex | None:
        """The collection as it is, or None when there is none."""
        c = client(uri)
        with calls(uri, f"opening collection {collection}"):
            if not c.has_collection(collection):
                return None
            fields = c.describe_collection(collection)["fields"]
        dims = [int(f["params"].get("dim", 0)) for f in fields if f["name"] == "vector"]
        if not dims:
            raise FrameFindError(f"{uri}: collection {collection} was not made by framefind (no vector field)")
        return cls(dims[0], "flat", uri=uri, collection=collection)  # adopts the collection's own kind

    def _create(self, c) -> None:
        from pymilvus import DataType, MilvusClient

        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=self.dim)
        self.nlist = min(nlist_for(self.n_hint), MAX_NLIST) if self.kind == "ivf-sq8" else 0
        c.create_collection(self.collection, schema=schema, index_params=self._index_params())
        self._ids = np.zeros(0, np.int64)

    def _adopt(self, c) -> None:
        fields = c.describe_collection(self.collection)["fields"]
        dims = [int(f["params"].get("dim", 0)) for f in fields if f["name"] == "vector"]
        if dims != [self.dim]:
            raise FrameFindError(f"{self.uri}: collection {self.collection} holds vectors of dimension "
                                 f"{dims[0] if dims else '?'}, not {self.dim}")
        info = c.describe_index(self.collection, index_name="vector")
        by_type = {v: k for k, v in MILVUS_TYPES.items()}
        if info.get("index_type") not in by_type:
            raise FrameFindError(f"{self.uri}: collection {self.collection} has an index framefind did not make "
                                 f"({info.get('index_type')})")
        self.kind = by_type[info["index_type"]]
        nested = info.get("params") if isinstance(info.get("params"), dict) else {}
        self.nlist = int(info.get("nlist") or nested.get("nlist") or 0)

    def _load(self, c) -> bool:
        """Load the collection if it is not (Milvus Lite reopens files released; an operator may release
        one): True when it had to."""
        state = c.get_load_state(self.collection).get("state")
        if getattr(state, "name", str(state)) == "Loaded":
            return False
        c.load_collection(self.collection)
        return True

    def _index_params(self):
        """FLAT / HNSW / IVF_SQ8 on the inner product; build parameters both flat (what the server reads)
        and as a JSON "params" entry (the only place Milvus Lite 3.x reads them from)."""
        from pymilvus.milvus_client.index import IndexParams

        build = {"nlist": self.nlist} if self.kind == "ivf-sq8" else HNSW_BUILD if self.kind == "hnsw" else {}
        params = IndexParams()
        params.add_index("vector", MILVUS_TYPES[self.kind], "vector", metric_type="IP", **build)
        if build:
            params[0].get_index_configs()["params"] = dict(build)
        return params

    def reindex(self, kind: str, n: int) -> None:
        """Replace the collection's index by one of ``kind`` sized for n; the vectors stay where they are."""
        _check_kind(kind)
        self.kind, self.n_hint = kind, n
        self.nlist = min(nlist_for(n), MAX_NLIST) if kind == "ivf-sq8" else 0
        c = client(self.uri)
        with calls(self.uri, f"re-indexing collection {self.collection}"):
            c.release_collection(self.collection)
            c.drop_index(self.collection, "vector")
            c.create_index(self.collection, self._index_params())
            c.load_collection(self.collection)

    def undersized(self, n: int) -> bool:
        return self.kind == "ivf-sq8" and self.nlist < min(nlist_for(n), MAX_NLIST) / 4

    # -- contents ------------------------------------------------------------------------------
    def count(self) -> int:
        return len(self.ids())

    def stored_count(self) -> int:
        """The count Milvus reports now, at "Strong" level: also waits until searches anywhere see every write."""
        with calls(self.uri, f"counting collection {self.collection}"):
            rows = client(self.uri).query(self.collection, filter="", output_fields=["count(*)"],
                                          consistency_level="Strong")
        return int(rows[0]["count(*)"])

    def ids(self) -> np.ndarray:
        if self._ids is None:
            found: list[int] = []
            with calls(self.uri, f"listing collection {self.collection}"):
                iterator = client(self.uri).query_iterator(self.collection, batch_size=ID_PAGE, filter="",
                                                           output_fields=["id"])
                try:
                    while batch := iterator.next():
                        found += [row["id"] for row in batch]
                finally:
                    iterator.close()
            self._ids = np.unique(np.array(found, np.int64))
        return self._ids

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        ids, vectors = self._checked(ids, vectors, lambda wanted: _member(self.ids(), wanted))
        if len(ids) == 0:
            return
        step = max(1, INSERT_BYTES // (4 * self.dim))
        c = client(self.uri)
        with calls(self.uri, f"inserting into collection {self.collection}"):
            for start in range(0, len(ids), step):
                rows = [{"id": int(i), "vector": v} for i, v in zip(ids[start:start + step],
                                                                     vectors[start:start + step], strict=True)]
                c.insert(self.collection, rows)
                self._ids = np.union1d(self._ids, ids[start:start + step])
                self._unflushed = True

    def remove(self, ids: np.ndarray) -> bool:
        """Remove ids (Milvus marks them deleted: every kind can); always True."""
        present = np.unique(as_ids(ids))
        present = present[_member(self.ids(), present)]
        c = client(self.uri)
        with calls(self.uri, f"deleting from collection {self.collection}"):
            for start in range(0, len(present), FILTER_CHUNK):
                c.delete(self.collection, ids=present[start:start + FILTER_CHUNK].tolist())
                self._ids = np.setdiff1d(self._ids, present[start:start + FILTER_CHUNK], assume_unique=True)
                self._strong = self._unflushed = True
        return True

    def flush(self, wait: float = INDEX_WAIT) -> None:
        """Seal what was written and wait (up to ``wait`` s) until the index covers it: Milvus indexes sealed
        segments in the background (Lite too, 3.x), and until then scans them (correct, but slower, and
        the answers of an approximate kind change when the index lands)."""
        c = client(self.uri)
        with calls(self.uri, f"flushing collection {self.collection}"):
            c.flush(self.collection)
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                info = c.describe_index(self.collection, index_name="vector")
                if int(info.get("pending_index_rows") or 0) == 0 and \
                        int(info.get("indexed_rows") or 0) >= int(info.get("total_rows") or 0):
                    break
                time.sleep(0.1)
        self._unflushed = False

    def settle(self, timeout: float = 120.0) -> bool:
        """Wait until a server searches every row through the collection's own index: on 2.3.5 a sealed
        segment's index is loaded 10-20 s after its flush, and until then an interim index on the growing
        segment answers (IVF, ~0.99 recall@10 here, whatever the kind). Writers do not wait (the answers
        are right meanwhile); benchmarks and tests of a kind do. Lite has no such lag."""
        if is_lite(self.uri) or self.kind == "flat":  # a growing segment is scanned exactly, as FLAT does
            return True
        c, deadline = client(self.uri), time.monotonic() + timeout
        with calls(self.uri, f"listing segments of collection {self.collection}"):
            while time.monotonic() < deadline:
                segments = c.list_loaded_segments(self.collection)
                if sum(s.num_rows for s in segments if s.index_name) >= self.count():
                    return True
                time.sleep(0.5)
        return False

    def drop(self) -> None:
        with calls(self.uri, f"dropping collection {self.collection}"):
            client(self.uri).drop_collection(self.collection)
        self._ids = np.zeros(0, np.int64)

    # -- search --------------------------------------------------------------------------------
    def search(
        self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """See ``VectorIndex.search`` and the module docstring; k is capped at Milvus's 16384."""
        self._check_query(queries, k)
        kk = min(int(k), self.count(), MAX_TOPK)
        if kk == 0:
            return empty_result(len(queries), 0)
        if allowed is None:
            return self._search(queries, kk)
        wanted = np.unique(as_ids(allowed))
        present = wanted[_member(self.ids(), wanted)]
        m = len(present)
        if m == 0:
            return empty_result(len(queries), kk)
        if m <= FILTER_IN_MAX and not self._walks_badly(m):  # filtered inside: widened by 1 / selectivity
            scores, found = self._search(queries, kk, _in(present), self.count() / m)
        else:
            limit = min(MAX_TOPK, self.count(), math.ceil(OVERFETCH * kk * self.count() / m))
            scores, found = self._search(queries, limit)
            scores, found = _first(scores, found, _member(present, found), kk)
        short = (found[:, : min(kk, m)] < 0).any(axis=1)
        if short.any():  # an approximate kind walked past them (HNSW does, with 90% filtered out), or the
            redo = self._exact if m <= FILTER_IN_MAX else self._chunked  # wider search missed them
            scores[short], found[short] = redo(queries[short], kk, present)
        return scores, found

    def _walks_badly(self, m: int) -> bool:
        """A server's HNSW with a filter that keeps more than ~7% of the rows: Milvus 2.3.5 walks the graph
        past filtered nodes and loses neighbours whatever ef is (recall@10 0.78-0.88 at a 10% filter, 3k x
        784; ef 128 to 3000; one row with 1 result), while under 7% it scans exactly. Then an unfiltered
        walk, wider, filtered here, is right. (Lite's HNSW is FAISS's, which filters well.)"""
        return self.kind == "hnsw" and not is_lite(self.uri) and m >= HNSW_SCAN_BELOW * self.count()

    def _exact(self, queries: np.ndarray, k: int, present: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Score the allowed vectors here: read back by id (at most FILTER_IN_MAX of them)."""
        c, ids, vectors = client(self.uri), [], []
        with calls(self.uri, f"reading vectors from collection {self.collection}"):
            for start in range(0, len(present), ID_PAGE):
                for row in c.query(self.collection, filter=_in(present[start:start + ID_PAGE]),
                                   output_fields=["id", "vector"], limit=ID_PAGE,
                                   consistency_level="Strong" if self._strong else "Session"):
                    ids.append(row["id"])
                    vectors.append(row["vector"])
        ids, scores = np.array(ids, np.int64), queries @ np.array(vectors, np.float32).reshape(len(ids), self.dim).T
        order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        return _first(np.take_along_axis(scores, order, 1), ids[order], np.ones(order.shape, bool), k)

    def _chunked(self, queries: np.ndarray, k: int, present: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Search each chunk of ``present`` with a complete budget (every IVF list, the widest HNSW walk;
        Milvus scans exactly when a filter keeps under 7%, as each chunk of a large collection does)
        and keep the best k."""
        parts = [self._search(queries, k, _in(present[s:s + FILTER_CHUNK]), math.inf)
                 for s in range(0, len(present), FILTER_CHUNK)]
        scores = np.concatenate([p[0] for p in parts], axis=1)
        ids = np.concatenate([p[1] for p in parts], axis=1)
        order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        return np.take_along_axis(scores, order, 1), np.take_along_axis(ids, order, 1)

    def _search(self, queries: np.ndarray, limit: int, expr: str = "",
                widen: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        """One search per batch of queries: (scores, ids) of shape (q, limit), -1 / -inf where none."""
        scores = np.full((len(queries), limit), -np.inf, np.float32)
        ids = np.full((len(queries), limit), -1, np.int64)
        c = client(self.uri)
        params = {"metric_type": "IP", "params": self._search_params(limit, widen)}
        with calls(self.uri, f"search in collection {self.collection}"):
            for start in range(0, len(queries), QUERY_BATCH):
                request = {"data": queries[start:start + QUERY_BATCH], "limit": limit, "filter": expr,
                           "output_fields": ["id"], "search_params": params,
                           "consistency_level": "Strong" if self._strong else "Session"}
                try:
                    result = c.search(self.collection, **request)
                except Exception:  # noqa: BLE001 - a released collection is loaded once; anything else is raised
                    if not self._load(c):
                        raise
                    result = c.search(self.collection, **request)
                for row, hits in enumerate(result, start):
                    n = min(len(hits.ids), limit)
                    ids[row, :n], scores[row, :n] = hits.ids[:n], hits.distances[:n]
        gone = (ids >= 0) & ~_member(self.ids(), ids)  # not (or no longer) in the collection as this handle knows it
        if gone.any():
            scores, ids = _first(scores, ids, ~gone & (ids >= 0), limit)
        return scores, ids

    def _search_params(self, limit: int, widen: float) -> dict:
        """IVF nprobe and HNSW ef as FaissIndex sets them, widened for a filter keeping 1 / ``widen`` of the
        rows (inf: every list, the whole graph): nprobe by sqrt(widen), as FaissIndex does; ef by widen,
        since Milvus's filtered HNSW walk lost more (recall@10 0.895 with sqrt at a 10% filter, 3k x 784)."""
        if self.kind == "ivf-sq8" and self.nlist:
            probes = nprobe_for(self.nlist) * math.sqrt(min(widen, self.nlist**2))
            return {"nprobe": min(self.nlist, math.ceil(probes))}
        if self.kind == "hnsw":  # Milvus wants ef >= k
            most = min(max(self.count(), limit), MAX_TOPK)
            return {"ef": min(most, max(limit, math.ceil(HNSW_EF_SEARCH * min(widen, most))))}
        return {}

    # -- persistence -----------------------------------------------------------------------------
    def save(self, path: Path) -> None:
        """Flush what this handle wrote, then write where the collection is (the vectors stay in Milvus)."""
        if self._unflushed:
            self.flush()
        path = Path(path)
        try:
            with atomic_path(path) as tmp:
                tmp.write_text(json.dumps({"backend": "milvus", "uri": self.uri, "collection": self.collection}))
        except OSError as exc:
            raise FrameFindError(f"{path}: cannot write Milvus pointer ({exc.strerror or exc})") from None

    @classmethod
    def load(cls, path: Path) -> MilvusIndex:
        path = Path(path)
        try:
            pointer = json.loads(path.read_text())
            uri, collection = str(pointer["uri"]), str(pointer["collection"])
        except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not a framefind Milvus pointer"
            raise FrameFindError(f"{path}: not a readable Milvus index ({reason})") from None
        index = cls.existing(uri, collection)
        if index is None:
            raise FrameFindError(f"{path}: Milvus collection {collection} is gone from {uri}")
        return index


def _first(scores: np.ndarray, ids: np.ndarray, keep: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the first k entries where ``keep`` (order kept), padded with -inf / -1."""
    order = np.argsort(~keep, axis=1, kind="stable")[:, :k]
    kept = np.take_along_axis(keep, order, 1)
    out_scores = np.where(kept, np.take_along_axis(scores, order, 1), -np.inf).astype(np.float32)
    out_ids = np.where(kept, np.take_along_axis(ids, order, 1), -1)
    if out_scores.shape[1] < k:  # fewer candidates than k
        pad = k - out_scores.shape[1]
        out_scores = np.pad(out_scores, ((0, 0), (0, pad)), constant_values=-np.inf)
        out_ids = np.pad(out_ids, ((0, 0), (0, pad)), constant_values=-1)
    return out_scores, out_ids


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise FrameFindError(f"index type {kind!r} is not offered by the milvus backend "
                             f"(choose one of: auto, {', '.join(KINDS)})")
