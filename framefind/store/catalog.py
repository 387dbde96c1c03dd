"""The SQLite catalog: the library's source of truth (files, content, items and their vectors).

- ``files``: one row per path (size, mtime, content hash, status, error).
- ``contents``: one row per distinct content hash that was embedded, with the model that did it.
  Files point at content, so renaming or moving a file re-uses its vectors instead of re-embedding.
- ``items``: the searchable units of a content: one per image, one per video segment (start/end
  seconds). A segment's vector is the mean of its sampled frames; ``frames`` keeps each frame's
  vector and time (to find the best moment inside a segment) and ``thumbnails`` a small JPEG.
- ``vectors``: one float16 vector per item and space. The FAISS files are derived from this table
  (see vectors.py), so the catalog alone decides what exists after any crash. (A rowid table on
  purpose: WITHOUT ROWID trees keep only ~1 KB of a row in-page, so every 2.5 KB vector would take
  an overflow page of its own.)

Every change to vectors bumps ``meta.generation`` in the same transaction; an index file built at
that generation is known to match without comparing contents.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from framefind.errors import FrameFindError
from framefind.media.units import Item, ItemFrames

FORMAT = "framefind-library-1"
DB_NAME = "catalog.sqlite"

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS roots (path TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
    hash TEXT, kind TEXT NOT NULL, status TEXT NOT NULL, error TEXT, indexed_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS files_hash ON files (hash);
CREATE TABLE IF NOT EXISTS contents (
    hash TEXT PRIMARY KEY, kind TEXT NOT NULL, model TEXT NOT NULL,
    width INTEGER, height INTEGER, duration REAL, embedded_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS items (
    id INTEGER PRIMARY KEY AUTOINCREMENT, hash TEXT NOT NULL REFERENCES contents (hash),
    start REAL, end REAL, frame_time REAL);
CREATE INDEX IF NOT EXISTS items_hash ON items (hash);
CREATE TABLE IF NOT EXISTS vectors (item_id INTEGER NOT NULL, space TEXT NOT NULL, vec BLOB NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS vectors_item ON vectors (item_id, space);
CREATE TABLE IF NOT EXISTS frames (
    item_id INTEGER NOT NULL, time REAL NOT NULL, space TEXT NOT NULL, vec BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS frames_item ON frames (item_id, space);
CREATE TABLE IF NOT EXISTS thumbnails (item_id INTEGER PRIMARY KEY, jpeg BLOB NOT NULL);
"""


@dataclass(frozen=True)
class FileRow:
    path: str
    size: int
    mtime_ns: int
    hash: str | None
    status: str
    error: str | None


class Catalog:
    def __init__(self, directory: Path, create: bool = True) -> None:
        self.path = directory / DB_NAME
        if not self.path.exists() and not create:
            raise FrameFindError(f"{directory}: no framefind library here (run 'framefind index' first)")
        try:
            self.db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self._check_or_create()
        except sqlite3.DatabaseError as exc:
            raise FrameFindError(f"{self.path}: not a framefind catalog ({exc})") from None

    def _check_or_create(self) -> None:
        tables = {r[0] for r in self.db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if tables and "meta" not in tables:
            raise FrameFindError(f"{self.path}: not a framefind catalog (unknown SQLite database)")
        if tables and self.meta("format") != FORMAT:
            raise FrameFindError(f"{self.path}: unsupported library format {self.meta('format')!r}")
        if tables:
            return
        with self.transaction():  # executescript() would COMMIT on its own: run statements one by one
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    self.db.execute(statement)
            self._set_meta("format", FORMAT)
            self._set_meta("generation", "0")
            self._set_meta("created", str(time.time()))

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT; rolled back on any exception, so a batch lands whole or not at all."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """A read transaction: every query inside sees the same committed state (WAL snapshot)."""
        self.db.execute("BEGIN")
        try:
            yield
        finally:
            self.db.execute("COMMIT")

    # -- meta ---------------------------------------------------------------------------------
    def meta(self, key: str, default: str | None = None) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def _set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction():
            self._set_meta(key, value)

    @property
    def generation(self) -> int:
        return int(self.meta("generation", "0") or 0)

    def _bump_generation(self) -> None:
        self.db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'")

    # -- roots and files --------------------------------------------------------------------------
    def add_roots(self, roots: Iterable[str]) -> None:
        with self.transaction():
            self.db.executemany("INSERT OR IGNORE INTO roots (path) VALUES (?)", [(r,) for r in roots])

    def roots(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT path FROM roots ORDER BY path")]

    def files_under(self, roots: Iterable[str]) -> dict[str, FileRow]:
        """Known files at or below the given absolute paths."""
        found: dict[str, FileRow] = {}
        sql = "SELECT path, size, mtime_ns, hash, status, error FROM files WHERE path = ? OR path LIKE ? ESCAPE '\\'"
        for root in roots:
            prefix = root.rstrip("/").replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "/%"
            for row in self.db.execute(sql, (root, prefix)):
                found[row[0]] = FileRow(*row)
        return found

    def content_hashes(self, model: str) -> set[str]:
        """Hashes of content already embedded by ``model``: files with these need no model run."""
        return {r[0] for r in self.db.execute("SELECT hash FROM contents WHERE model = ?", (model,))}

    def record_file(self, path: str, size: int, mtime_ns: int, kind: str, content_hash: str | None,
                    error: str | None = None) -> None:
        """Insert or update a file row; call inside a transaction."""
        self.db.execute(
            "INSERT OR REPLACE INTO files (path, size, mtime_ns, hash, kind, status, error, indexed_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (path, size, mtime_ns, content_hash, kind, "failed" if error else "ok", error, time.time()),
        )

    def add_content(self, content_hash: str, kind: str, model: str, size: tuple[int, int] | None,
                    items: list[Item], vectors: dict[str, np.ndarray], duration: float | None = None,
                    frames: list[ItemFrames] | None = None) -> None:
        """Store one content's items and their vectors (one row per item in each array); in a transaction.

        ``frames`` (video): per item, its sampled frames' times, vectors and thumbnail.
        Vectors of an earlier model for the same content are replaced.
        """
        if self.db.execute("SELECT 1 FROM contents WHERE hash = ?", (content_hash,)).fetchone():
            self._drop_contents([content_hash])
        width, height = size if size else (None, None)
        self.db.execute(
            "INSERT INTO contents (hash, kind, model, width, height, duration, embedded_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (content_hash, kind, model, width, height, duration, time.time()),
        )
        for row, item in enumerate(items):
            cursor = self.db.execute(
                "INSERT INTO items (hash, start, end, frame_time) VALUES (?, ?, ?, ?)",
                (content_hash, item.start, item.end, item.frame_time),
            )
            item_id = cursor.lastrowid
            self.db.executemany(
                "INSERT INTO vectors (item_id, space, vec) VALUES (?, ?, ?)",
                [(item_id, space, vecs[row].astype(np.float16).tobytes()) for space, vecs in vectors.items()],
            )
            if frames:
                self._add_frames(item_id, frames[row])
        self._bump_generation()

    def _add_frames(self, item_id: int, frames: ItemFrames) -> None:
        rows = [(item_id, float(t), space, vecs[i].astype(np.float16).tobytes())
                for space, vecs in frames.vectors.items() for i, t in enumerate(frames.times)]
        self.db.executemany("INSERT INTO frames (item_id, time, space, vec) VALUES (?, ?, ?, ?)", rows)
        if frames.thumbnail:
            self.db.execute("INSERT INTO thumbnails (item_id, jpeg) VALUES (?, ?)", (item_id, frames.thumbnail))

    def remove_files(self, paths: Iterable[str]) -> None:
        """Forget files (in a transaction); content no file points at any more is dropped with them."""
        self.db.executemany("DELETE FROM files WHERE path = ?", [(p,) for p in paths])
        orphans = [r[0] for r in self.db.execute(
            "SELECT hash FROM contents WHERE hash NOT IN (SELECT hash FROM files WHERE hash IS NOT NULL)")]
        if orphans:
            self._drop_contents(orphans)
            self._bump_generation()

    def _drop_contents(self, hashes: list[str]) -> None:
        for h in hashes:
            for table in ("vectors", "frames", "thumbnails"):
                self.db.execute(f"DELETE FROM {table} WHERE item_id IN (SELECT id FROM items WHERE hash = ?)", (h,))
            self.db.execute("DELETE FROM items WHERE hash = ?", (h,))
            self.db.execute("DELETE FROM contents WHERE hash = ?", (h,))

    # -- vectors -----------------------------------------------------------------------------------
    def vector_ids(self, space: str) -> np.ndarray:
        rows = self.db.execute("SELECT item_id FROM vectors WHERE space = ?", (space,)).fetchall()
        return np.array([r[0] for r in rows], dtype=np.int64)

    def vectors(self, space: str, ids: Iterable[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(ids, float32 vectors) of a space, all of them or the given ids."""
        if ids is None:
            rows = self.db.execute("SELECT item_id, vec FROM vectors WHERE space = ?", (space,)).fetchall()
        else:
            wanted = [int(i) for i in ids]
            rows = []
            for start in range(0, len(wanted), 500):  # stay under SQLite's bound-parameter limit
                chunk = wanted[start : start + 500]
                sql = f"SELECT item_id, vec FROM vectors WHERE space = ? AND item_id IN ({','.join('?' * len(chunk))})"
                rows += self.db.execute(sql, (space, *chunk)).fetchall()
        if not rows:
            return np.zeros(0, np.int64), np.zeros((0, 0), np.float32)
        return np.array([r[0] for r in rows], dtype=np.int64), _decode_vectors([r[1] for r in rows])

    def frames(self, item_ids: Iterable[int], space: str) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """Item id -> (frame times, float32 frame vectors) for video segments; images have none."""
        out: dict[int, tuple[list[float], list[bytes]]] = {}
        sql = "SELECT time, vec FROM frames WHERE item_id = ? AND space = ? ORDER BY time"
        for item_id in item_ids:
            rows = self.db.execute(sql, (int(item_id), space)).fetchall()
            if rows:
                out[int(item_id)] = ([r[0] for r in rows], [r[1] for r in rows])
        return {i: (np.array(t), _decode_vectors(v)) for i, (t, v) in out.items()}

    def segments_of(self, content_hash: str, space: str) -> tuple[list[dict], np.ndarray]:
        """A video's segments in time order (id, start, end, frame_time) and their vectors."""
        rows = self.db.execute(
            "SELECT i.id, i.start, i.end, i.frame_time, v.vec FROM items i JOIN vectors v ON v.item_id = i.id "
            "WHERE i.hash = ? AND v.space = ? ORDER BY i.start", (content_hash, space)).fetchall()
        meta = [{"item_id": r[0], "start": r[1], "end": r[2], "frame_time": r[3]} for r in rows]
        return meta, _decode_vectors([r[4] for r in rows])

    def thumbnail(self, item_id: int) -> bytes | None:
        row = self.db.execute("SELECT jpeg FROM thumbnails WHERE item_id = ?", (int(item_id),)).fetchone()
        return row[0] if row else None

    # -- results and stats -------------------------------------------------------------------------
    def describe(self, item_ids: list[int]) -> dict[int, dict]:
        """Item id -> kind, paths (first is the canonical one), start/end, size: what a result shows."""
        out: dict[int, dict] = {}
        sql = (
            "SELECT i.id, c.kind, i.start, i.end, i.frame_time, c.width, c.height, i.hash, f.path FROM items i "
            "JOIN contents c ON c.hash = i.hash JOIN files f ON f.hash = i.hash AND f.status = 'ok' "
            "WHERE i.id = ? ORDER BY f.path"
        )
        for item_id in item_ids:
            for row in self.db.execute(sql, (int(item_id),)):
                iid, kind, start, end, frame_time, width, height, content, path = row
                entry = out.setdefault(iid, {
                    "kind": kind, "start": start, "end": end, "frame_time": frame_time,
                    "width": width, "height": height, "content": content, "paths": [],
                })
                entry["paths"].append(path)
        return out

    def stats(self) -> dict[str, int]:
        one = lambda sql: self.db.execute(sql).fetchone()[0]  # noqa: E731
        return {
            "files": one("SELECT COUNT(*) FROM files WHERE status = 'ok'"),
            "failed": one("SELECT COUNT(*) FROM files WHERE status = 'failed'"),
            "contents": one("SELECT COUNT(*) FROM contents"),
            "items": one("SELECT COUNT(*) FROM items"),
            "images": one("SELECT COUNT(*) FROM contents WHERE kind = 'image'"),
            "videos": one("SELECT COUNT(*) FROM contents WHERE kind = 'video'"),
            "video_seconds": round(one("SELECT COALESCE(SUM(duration), 0) FROM contents WHERE kind = 'video'"), 1),
        }

    def failures(self, limit: int = 20) -> list[tuple[str, str]]:
        sql = "SELECT path, error FROM files WHERE status = 'failed' ORDER BY indexed_at DESC LIMIT ?"
        return [(r[0], r[1]) for r in self.db.execute(sql, (limit,))]


def _decode_vectors(blobs: list[bytes]) -> np.ndarray:
    """float16 blobs (as stored) -> one float32 matrix."""
    if not blobs:
        return np.zeros((0, 0), np.float32)
    return np.frombuffer(b"".join(blobs), dtype=np.float16).reshape(len(blobs), -1).astype(np.float32)
