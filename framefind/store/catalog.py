"""The SQLite catalog: the library's source of truth (files, content, models, items and their vectors).

- ``files``: one row per path (size, mtime, content hash, status, error).
- ``contents``: one row per distinct content hash (kind, size, duration). Files point at content, so
  renaming or moving a file re-uses its vectors instead of re-embedding.
- ``models``: every model whose vectors the library holds (see schema.py); ``embedded`` records
  which model embedded which content. ``meta.active_model`` is the one searches use.
- ``items``: the searchable units of a (content, model): one per image, one per video segment
  (start/end seconds). ``vectors`` keeps one float16 vector per item and space, ``frames`` each
  sampled frame of a segment; ``thumbnails`` a small JPEG per (content, time).

The FAISS files are derived from this table (see indexfiles.py): every change to a model's vectors
bumps ``models.generation`` in the same transaction, and an index file built at a generation is known
to match without comparing contents.

Every thread gets its own connection (SQLite connections must not be shared across threads); WAL
lets any number of readers run beside the one writer.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from framefind.errors import FrameFindError
from framefind.media.units import Item, ItemFrames
from framefind.store import schema

DB_NAME = "catalog.sqlite"
_CHUNK = 500  # ids per IN (...) list: stays under SQLite's bound-parameter limit


@dataclass(frozen=True)
class FileRow:
    path: str
    size: int
    mtime_ns: int
    hash: str | None
    status: str
    error: str | None


@dataclass(frozen=True)
class ModelRow:
    id: str
    name: str
    options: dict
    spec: dict
    generation: int


@dataclass
class ItemInfo:
    """What a search hit shows, read in one query for all hits: the item and the live files with its content."""

    item_id: int
    content: str
    kind: str
    start: float | None
    end: float | None
    frame_time: float | None
    width: int | None
    height: int | None
    paths: list[str]  # every live file with this content; the first is the canonical one


class Catalog:
    def __init__(self, directory: Path, create: bool = True, legacy_model: schema.LegacyModel | None = None) -> None:
        self.path = directory / DB_NAME
        if not self.path.exists() and not create:
            raise FrameFindError(f"{directory}: no framefind library here (run 'framefind index' first)")
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        try:
            self.upgrades = schema.ensure_version(self.db, self.path, legacy_model or _no_legacy_models)
        except sqlite3.DatabaseError as exc:
            self.close()
            raise FrameFindError(f"{self.path}: not a framefind catalog ({exc})") from None
        except BaseException:
            self.close()
            raise

    @property
    def db(self) -> sqlite3.Connection:
        """This thread's connection (opened on first use)."""
        db = getattr(self._local, "db", None)
        if db is None:
            # check_same_thread=False only so that close() may close every thread's connection.
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            self._local.db = db
            with self._lock:
                self._connections.append(db)
        return db

    def close(self) -> None:
        with self._lock:
            for db in self._connections:
                db.close()
            self._connections.clear()
        self._local = threading.local()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT; rolled back on any exception, so a batch lands whole or not at all."""
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    @contextmanager
    def snapshot(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: every query inside sees the same committed state (WAL snapshot)."""
        db = self.db
        db.execute("BEGIN")
        try:
            yield db
        finally:
            db.execute("COMMIT")

    # -- meta ---------------------------------------------------------------------------------
    def meta(self, key: str, default: str | None = None) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # -- models -----------------------------------------------------------------------------------
    def register_model(self, model_id: str, name: str, options: dict, spec: dict) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR IGNORE INTO models (id, name, options, spec, generation, created) VALUES "
                       "(?, ?, ?, ?, 0, ?)", (model_id, name, json.dumps(options), json.dumps(spec), time.time()))

    def model_row(self, model_id: str) -> ModelRow | None:
        row = self.db.execute("SELECT id, name, options, spec, generation FROM models WHERE id = ?",
                              (model_id,)).fetchone()
        return ModelRow(row[0], row[1], json.loads(row[2]), json.loads(row[3]), row[4]) if row else None

    def models(self) -> list[tuple[ModelRow, int]]:
        """Every model with vectors here (or registered), with the number of contents it embedded."""
        rows = self.db.execute(
            "SELECT m.id, m.name, m.options, m.spec, m.generation, (SELECT COUNT(*) FROM embedded e "
            "WHERE e.model = m.id) FROM models m ORDER BY m.created").fetchall()
        return [(ModelRow(r[0], r[1], json.loads(r[2]), json.loads(r[3]), r[4]), r[5]) for r in rows]

    def generation(self, model_id: str) -> int:
        row = self.db.execute("SELECT generation FROM models WHERE id = ?", (model_id,)).fetchone()
        return int(row[0]) if row else 0

    def _bump(self, model_ids: Iterable[str]) -> None:
        self.db.executemany("UPDATE models SET generation = generation + 1 WHERE id = ?", [(m,) for m in model_ids])

    def drop_model(self, model_id: str) -> int:
        """Delete one model's items and vectors (in a transaction); returns how many contents it had."""
        with self.transaction() as db:
            count = db.execute("SELECT COUNT(*) FROM embedded WHERE model = ?", (model_id,)).fetchone()[0]
            self._delete_items("i.model = ?", (model_id,))
            db.execute("DELETE FROM embedded WHERE model = ?", (model_id,))
            db.execute("DELETE FROM models WHERE id = ?", (model_id,))
        return count

    # -- roots and files --------------------------------------------------------------------------
    def add_roots(self, roots: Iterable[str]) -> None:
        with self.transaction() as db:
            db.executemany("INSERT OR IGNORE INTO roots (path) VALUES (?)", [(r,) for r in roots])

    def roots(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT path FROM roots ORDER BY path")]

    def files_under(self, roots: Iterable[str]) -> dict[str, FileRow]:
        """Known files at or below the given absolute paths."""
        found: dict[str, FileRow] = {}
        sql = "SELECT path, size, mtime_ns, hash, status, error FROM files WHERE path = ? OR path LIKE ? ESCAPE '\\'"
        for root in roots:
            for row in self.db.execute(sql, (root, like_prefix(root))):
                found[row[0]] = FileRow(*row)
        return found

    def has_files_under(self, root: str) -> bool:
        """Whether any file at or below ``root`` is known (one index lookup, however many there are)."""
        sql = "SELECT 1 FROM files WHERE path = ? OR path LIKE ? ESCAPE '\\' LIMIT 1"
        return self.db.execute(sql, (root, like_prefix(root))).fetchone() is not None

    def embedded_hashes(self, model_id: str) -> set[str]:
        """Hashes of content already embedded by ``model_id``: files with these need no model run."""
        return {r[0] for r in self.db.execute("SELECT hash FROM embedded WHERE model = ?", (model_id,))}

    def record_file(self, path: str, size: int, mtime_ns: int, kind: str, content_hash: str | None,
                    error: str | None = None) -> None:
        """Insert or update a file row; call inside a transaction."""
        self.db.execute(
            "INSERT OR REPLACE INTO files (path, size, mtime_ns, hash, kind, status, error, indexed_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (path, size, mtime_ns, content_hash, kind, "failed" if error else "ok", error, time.time()),
        )

    def add_content(self, content_hash: str, kind: str, model_id: str, size: tuple[int, int] | None,
                    items: list[Item], vectors: dict[str, np.ndarray], duration: float | None = None,
                    frames: list[ItemFrames] | None = None, thumbnail: bytes | None = None,
                    scan: str | None = None) -> None:
        """Store one content's items and vectors for one model (one row per item in each array); in a transaction.

        ``frames`` (video): per item, its sampled frames' times, vectors and thumbnail; ``thumbnail``
        (image): a small JPEG; ``scan``: the picture's scan digest (media.files.content_digests, store/reuse.py).
        Vectors the same model made earlier for this content are replaced.
        """
        db = self.db
        width, height = size if size else (None, None)
        db.execute("INSERT INTO contents (hash, kind, width, height, duration, scan) VALUES (?, ?, ?, ?, ?, ?) "
                   "ON CONFLICT (hash) DO UPDATE SET kind = excluded.kind, width = excluded.width, height = "
                   "excluded.height, duration = excluded.duration, scan = COALESCE(excluded.scan, contents.scan)",
                   (content_hash, kind, width, height, duration, scan))  # keeps its capture time
        self._delete_items("i.hash = ? AND i.model = ?", (content_hash, model_id))
        db.execute("INSERT OR REPLACE INTO embedded (hash, model, at) VALUES (?, ?, ?)",
                   (content_hash, model_id, time.time()))
        for row, item in enumerate(items):
            cursor = db.execute("INSERT INTO items (hash, model, start, end, frame_time) VALUES (?, ?, ?, ?, ?)",
                                (content_hash, model_id, item.start, item.end, item.frame_time))
            item_id = cursor.lastrowid
            db.executemany("INSERT INTO vectors (item_id, space, vec) VALUES (?, ?, ?)",
                           [(item_id, space, encode(vecs[row])) for space, vecs in vectors.items()])
            if frames:
                self._add_frames(content_hash, item_id, item, frames[row])
        if thumbnail:
            self.put_thumbnail(content_hash, 0.0, thumbnail)
        self._bump([model_id])

    def _add_frames(self, content_hash: str, item_id: int, item: Item, frames: ItemFrames) -> None:
        rows = [(item_id, float(t), space, encode(vecs[i]))
                for space, vecs in frames.vectors.items() for i, t in enumerate(frames.times)]
        self.db.executemany("INSERT INTO frames (item_id, time, space, vec) VALUES (?, ?, ?, ?)", rows)
        for t, jpeg in zip(frames.times, frames.thumbnails or [], strict=False):
            self.put_thumbnail(content_hash, t, jpeg)

    def put_thumbnail(self, content_hash: str, at: float, jpeg: bytes) -> None:
        self.db.execute("INSERT OR IGNORE INTO thumbnails (hash, at, jpeg) VALUES (?, ?, ?)",
                        (content_hash, round(float(at), 3), jpeg))

    def remove_files(self, paths: Iterable[str]) -> None:
        """Forget files (in a transaction); content no file points at any more is dropped with them."""
        db = self.db
        db.executemany("DELETE FROM files WHERE path = ?", [(p,) for p in paths])
        # The orphans are found once (a scan of contents), then every table deletes by that list.
        db.execute("CREATE TEMP TABLE IF NOT EXISTS orphans (hash TEXT PRIMARY KEY)")
        db.execute("DELETE FROM temp.orphans")
        found = db.execute("INSERT INTO temp.orphans SELECT hash FROM contents "
                           "WHERE hash NOT IN (SELECT hash FROM files WHERE hash IS NOT NULL)").rowcount
        if not found:
            return
        orphan = "SELECT hash FROM temp.orphans"
        models = [r[0] for r in db.execute(f"SELECT DISTINCT model FROM embedded WHERE hash IN ({orphan})")]
        self._delete_items(f"i.hash IN ({orphan})", ())
        db.execute(f"DELETE FROM texts_fts WHERE rowid IN (SELECT id FROM texts WHERE hash IN ({orphan}))")
        texts_changed(db)
        for table in ("embedded", "thumbnails", "texts", "enriched", "described", "places", "place_names", "faces",
                      "contents"):
            db.execute(f"DELETE FROM {table} WHERE hash IN ({orphan})")
        self._bump(models)

    def _delete_items(self, where: str, params: Sequence) -> None:
        ids = f"SELECT i.id FROM items i WHERE {where}"
        for table in ("vectors", "frames", "labels"):
            self.db.execute(f"DELETE FROM {table} WHERE item_id IN ({ids})", params)
        self.db.execute(f"DELETE FROM items WHERE id IN ({ids})", params)

    # -- vectors -----------------------------------------------------------------------------------
    def vector_ids(self, model_id: str, space: str) -> np.ndarray:
        rows = self.db.execute("SELECT v.item_id FROM items i JOIN vectors v ON v.item_id = i.id "
                               "WHERE i.model = ? AND v.space = ?", (model_id, space)).fetchall()
        return np.array([r[0] for r in rows], dtype=np.int64)

    def vectors(self, model_id: str, space: str, ids: Iterable[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(ids, float32 vectors) of a model's space, all of them or the given ids."""
        if ids is None:
            rows = self.db.execute("SELECT v.item_id, v.vec FROM items i JOIN vectors v ON v.item_id = i.id "
                                   "WHERE i.model = ? AND v.space = ?", (model_id, space)).fetchall()
        else:
            rows = self.rows_in("SELECT item_id, vec FROM vectors WHERE space = ? AND item_id IN ({})", (space,), ids)
        if not rows:
            return np.zeros(0, np.int64), np.zeros((0, 0), np.float32)
        return np.array([r[0] for r in rows], dtype=np.int64), decode([r[1] for r in rows])

    def rows_in(self, sql: str, params: tuple, ids: Iterable) -> list[tuple]:
        """Run ``sql`` (with one ``{}`` for an IN list) over ``ids`` in chunks: one query per 500 ids."""
        wanted = list(ids)
        rows: list[tuple] = []
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            rows += self.db.execute(sql.format(",".join("?" * len(chunk))), (*params, *chunk)).fetchall()
        return rows

    def frames(self, item_ids: Iterable[int], space: str) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """Item id -> (frame times, float32 frame vectors) for video segments; images have none."""
        grouped: dict[int, tuple[list[float], list[bytes]]] = {}
        sql = "SELECT item_id, time, vec FROM frames WHERE space = ? AND item_id IN ({}) ORDER BY item_id, time"
        for item_id, t, vec in self.rows_in(sql, (space,), [int(i) for i in item_ids]):
            times, vecs = grouped.setdefault(item_id, ([], []))
            times.append(t)
            vecs.append(vec)
        return {i: (np.array(t), decode(v)) for i, (t, v) in grouped.items()}

    def segments_of(self, content_hash: str, model_id: str, space: str) -> tuple[list[ItemInfo], np.ndarray]:
        """A video's segments for one model in time order, and their vectors."""
        rows = self.db.execute(
            "SELECT i.id, i.start, i.end, i.frame_time, v.vec FROM items i JOIN vectors v ON v.item_id = i.id "
            "WHERE i.hash = ? AND i.model = ? AND v.space = ? ORDER BY i.start",
            (content_hash, model_id, space)).fetchall()
        infos = [ItemInfo(r[0], content_hash, "video", r[1], r[2], r[3], None, None, []) for r in rows]
        return infos, decode([r[4] for r in rows])

    def thumbnail(self, content_hash: str, at: float, start: float | None = None,
                  end: float | None = None) -> bytes | None:
        """The stored thumbnail of a content nearest to ``at`` seconds (an image's is at 0), preferring
        frames inside [start, end] when given (a moment's thumbnail must show that moment)."""
        ranged = start is not None and end is not None
        order = "(at < ? OR at > ?), ABS(at - ?)" if ranged else "ABS(at - ?)"
        params = (start, end, float(at)) if ranged else (float(at),)
        row = self.db.execute(f"SELECT jpeg FROM thumbnails WHERE hash = ? ORDER BY {order} LIMIT 1",
                              (content_hash, *params)).fetchone()
        return row[0] if row else None

    # -- feedback -----------------------------------------------------------------------------------
    def set_feedback(self, query: str, key: str, vote: int) -> float:
        """Thumbs up (1) or down (-1) on a result for a query; the latest vote counts. Returns its time."""
        at = time.time()
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO feedback (query, key, vote, at) VALUES (?, ?, ?, ?)",
                       (query, key, vote, at))
        return at

    def feedback(self, query: str | None = None) -> list[tuple[str, str, int, float]]:
        """(query, key, vote, at), newest first; all of them, or one query's."""
        sql = "SELECT query, key, vote, at FROM feedback" + (" WHERE query = ?" if query is not None else "")
        return self.db.execute(sql + " ORDER BY at DESC", () if query is None else (query,)).fetchall()

    # -- results, filters and stats ---------------------------------------------------------------
    def item_infos(self, ids: Iterable[int]) -> dict[int, ItemInfo]:
        """Item id -> what a result shows; items whose content has no live file are left out."""
        out: dict[int, ItemInfo] = {}
        sql = ("SELECT i.id, i.hash, c.kind, i.start, i.end, i.frame_time, c.width, c.height, f.path FROM items i "
               "JOIN contents c ON c.hash = i.hash JOIN files f ON f.hash = i.hash AND f.status = 'ok' "
               "WHERE i.id IN ({}) ORDER BY f.path")
        for iid, content, kind, start, end, frame_time, width, height, path in self.rows_in(sql, (), map(int, ids)):
            if iid not in out:
                out[iid] = ItemInfo(iid, content, kind, start, end, frame_time, width, height, [])
            out[iid].paths.append(path)
        return out

    def content_of(self, path: str) -> str | None:
        """The content hash of a live file, by its absolute path."""
        row = self.db.execute("SELECT hash FROM files WHERE path = ? AND status = 'ok'", (path,)).fetchone()
        return row[0] if row else None

    def duration(self, content_hash: str) -> float | None:
        row = self.db.execute("SELECT duration FROM contents WHERE hash = ?", (content_hash,)).fetchone()
        return row[0] if row else None

    def content_items(self, content_hash: str, model_id: str) -> list[ItemInfo]:
        """The items of one content for one model, as results show them (for resolving a stable result key)."""
        ids = [r[0] for r in self.db.execute("SELECT id FROM items WHERE hash = ? AND model = ? ORDER BY start",
                                             (content_hash, model_id))]
        infos = self.item_infos(ids)
        return [infos[i] for i in ids if i in infos]

    def stats(self, model_id: str) -> dict[str, int]:
        one = lambda sql, *p: self.db.execute(sql, p).fetchone()[0]  # noqa: E731
        return {
            "files": one("SELECT COUNT(*) FROM files WHERE status = 'ok'"),
            "failed": one("SELECT COUNT(*) FROM files WHERE status = 'failed'"),
            "contents": one("SELECT COUNT(*) FROM contents"),
            "items": one("SELECT COUNT(*) FROM items WHERE model = ?", model_id),
            "images": one("SELECT COUNT(*) FROM contents WHERE kind = 'image'"),
            "videos": one("SELECT COUNT(*) FROM contents WHERE kind = 'video'"),
            "video_seconds": round(one("SELECT COALESCE(SUM(duration), 0) FROM contents WHERE kind = 'video'"), 1),
            "passages": one("SELECT COUNT(*) FROM texts WHERE source != 'metadata'"),  # phrases said, texts written
            "placed": one("SELECT COUNT(*) FROM places"),  # contents whose GPS names a place
        }

    def failures(self, limit: int = 20) -> list[tuple[str, str]]:
        sql = "SELECT path, error FROM files WHERE status = 'failed' ORDER BY indexed_at DESC LIMIT ?"
        return [(r[0], r[1]) for r in self.db.execute(sql, (limit,))]


TEXTS_CHANGED = "texts_changed"  # meta key: a counter every write of texts bumps (searches' cached scans follow it)


def texts_changed(db: sqlite3.Connection) -> None:
    """Mark the stored texts changed (inside the writer's transaction): searches re-read them (store/texts.py)."""
    db.execute("INSERT INTO meta (key, value) VALUES (?, '1') ON CONFLICT(key) DO UPDATE SET "
               "value = CAST(value AS INTEGER) + 1", (TEXTS_CHANGED,))


def like_prefix(root: str) -> str:
    """A LIKE pattern (ESCAPE '\\') for every path strictly below ``root``."""
    return root.rstrip("/").replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "/%"


def encode(vector: np.ndarray) -> bytes:
    """Vectors are stored as float16: half the disk, and cosine scores change by < 1e-3."""
    return np.asarray(vector, dtype=np.float16).tobytes()


def decode(blobs: list[bytes]) -> np.ndarray:
    """float16 blobs (as stored) -> one float32 matrix."""
    if not blobs:
        return np.zeros((0, 0), np.float32)
    return np.frombuffer(b"".join(blobs), dtype=np.float16).reshape(len(blobs), -1).astype(np.float32)


def _no_legacy_models(name: str, options: dict) -> tuple[str, str, dict, dict]:
    raise FrameFindError(f"cannot upgrade a library of model {name!r} without the model registry")
