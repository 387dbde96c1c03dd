"""What the files already say, and where they were taken (issue #20): every content's ``metadata`` texts
(folder and file names, captions, titles, keywords, comments; embedded or in XMP sidecars) and its place.

Two steps at the end of each index run, both from what is already there (no pixel is decoded, nothing
re-embedded), so a library from an earlier release gets them from its next ``index``:

1. **read**: the headers of one live file of each content not read yet (``described``): what its own bytes
   say and its GPS. Bytes never change under a content hash, so this happens once per content.
2. **build**: a content's texts and place depend on more than its bytes: its paths (folders, names) and the
   sidecars beside them. Each content records the signature it was built from (``described.built``);
   when a file is moved, a folder renamed or a sidecar written or edited, the signature changes and
   that content alone is built again. The signature costs one folder listing per folder, not a read.

Texts are embedded with MiniLM like transcripts, each distinct text once per run (a folder's words are
shared by every photo in it). One transaction per batch: an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from framefind.store.catalog import Catalog
from framefind.store.enrich import TextEncoder
from framefind.store.roots import root_of
from framefind.store.texts import METADATA, put_texts_many

if TYPE_CHECKING:
    from framefind.media.places import Place

BATCH = 200
SIDECAR = ".xmp"
# Part of every signature: raise it when the rules that turn paths and headers into words change, and the next
# index rebuilds every content's words (their headers are not read again).
WORDS_RULES = 2
CACHED_TEXTS = 20_000  # distinct texts' vectors kept within a run (a folder's words recur across batches)


@dataclass
class DescribeReport:
    read: int = 0  # contents whose headers were read in this run
    built: int = 0  # contents whose texts and place were (re)built
    located: int = 0  # of those, how many have a place


class TextModelWarmUp:
    """Loads the text model in a thread once a run has files to embed, while the pictures are embedded: on a library
    whose files carry few words of their own (folders, no captions), loading MiniLM (~0.5 s) was most of this pass.
    A run with nothing to embed loads nothing (describe then has nothing to build either). The thread is not a
    daemon: a process that ends while it loads waits for it (a native library torn down mid-load aborts)."""

    def __init__(self, encoder: TextEncoder) -> None:
        self.encoder = encoder
        self.thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def on_progress(self, inner: Callable[[float, int], None]) -> Callable[[float, int], None]:
        """``inner`` (the indexer's progress: files done, files in all), starting the load at the first file."""
        def progress(done: float, total: int) -> None:
            if self.thread is None and total:
                with self._lock:
                    if self.thread is None:
                        self.thread = threading.Thread(target=self._load, name="framefind-text-model")
                        self.thread.start()
            inner(done, total)

        return progress

    def _load(self) -> None:
        with contextlib.suppress(Exception):  # describe() meets the same error in the foreground and says it
            self.encoder.embed(["warm"])


def describe(catalog: Catalog, encoder: TextEncoder, *,
             progress: Callable[[int, int], None] = lambda done, total: None,
             on_note: Callable[[str, str], None] = lambda path, note: None,
             only: Iterable[str] | None = None) -> DescribeReport:
    """Read the headers of new contents, then (re)build the texts and places of contents whose paths or
    sidecars changed; ``on_note`` hears (path, one line) for unreadable metadata (the file stays indexed).
    ``only``: look at these contents' paths and sidecars alone (a watcher's batch knows which it touched:
    not every content of the library, 0.34 s at 10k items)."""
    report = DescribeReport()
    report.read = _read_headers(catalog, progress, on_note)
    listings = _Listings()
    stale = _stale(catalog, listings, None if only is None else set(only))
    vectors: dict[str, np.ndarray] = {}
    for start in range(0, len(stale), BATCH):
        batch = stale[start: start + BATCH]
        report.located += _build(catalog, batch, encoder, vectors, on_note, listings)
        report.built += len(batch)
        progress(report.built, len(stale))
    return report


def _read_headers(catalog: Catalog, progress: Callable[[int, int], None],
                  on_note: Callable[[str, str], None]) -> int:
    from framefind.media.metadata import read_embedded

    sql = ("SELECT c.hash, c.kind, MIN(f.path) FROM contents c JOIN files f ON f.hash = c.hash AND f.status = 'ok' "
           "WHERE NOT EXISTS (SELECT 1 FROM described d WHERE d.hash = c.hash) GROUP BY c.hash LIMIT ?")
    total = catalog.db.execute("SELECT COUNT(*) FROM contents c WHERE NOT EXISTS "
                               "(SELECT 1 FROM described d WHERE d.hash = c.hash)").fetchone()[0]
    done = 0
    while rows := catalog.db.execute(sql, (BATCH,)).fetchall():
        found = []
        for content, kind, path in rows:
            said = read_embedded(path, kind)
            for note in said.notes:
                on_note(path, note)
            lat, lon = said.gps or (None, None)
            found.append((content, json.dumps(said.fields()), lat, lon))
        with catalog.transaction() as db:
            db.executemany("INSERT OR REPLACE INTO described (hash, fields, lat, lon, built) VALUES (?, ?, ?, ?, NULL)",
                           found)
        done += len(rows)
        progress(done, total)
    return done


@dataclass(frozen=True)
class Stale:
    content: str
    paths: tuple[tuple[str, str | None], ...]  # (live path, the root it was indexed under)
    signature: str


def _stale(catalog: Catalog, listings: _Listings, only: set[str] | None = None) -> list[Stale]:
    """Contents (of ``only``, if given) whose live paths or sidecars differ from what their texts were built from
    (``listings``: the folders' sidecars, listed once here and read again by the build)."""
    roots = catalog.roots()
    if only is None:
        built = dict(catalog.db.execute("SELECT hash, built FROM described"))
        rows = catalog.db.execute("SELECT hash, path FROM files WHERE status = 'ok' ORDER BY hash, path")
    else:  # in hash order chunk by chunk: each content's paths stay together and in order
        built = dict(catalog.rows_in("SELECT hash, built FROM described WHERE hash IN ({})", (), sorted(only)))
        rows = catalog.rows_in("SELECT hash, path FROM files WHERE status = 'ok' AND hash IN ({}) ORDER BY hash, path",
                               (), sorted(built))
    paths: dict[str, list[str]] = defaultdict(list)
    for content, path in rows:
        if content in built:
            paths[content].append(path)
    out = []
    for content, found in paths.items():
        rooted = tuple((path, root_of(path, roots)) for path in found)
        signature = _signature(rooted, listings)
        if built[content] != signature:
            out.append(Stale(content, rooted, signature))
    return out


class _Listings:
    """Each folder's sidecars, listed once: name (lower case) -> (size, mtime_ns)."""

    def __init__(self) -> None:
        self.folders: dict[str, dict[str, tuple[int, int]]] = {}

    def sidecars(self, path: str) -> list[tuple[str, int, int]]:
        folder, name = os.path.split(path)
        listing = self.folders.get(folder)
        if listing is None:
            listing = self.folders[folder] = _list_sidecars(folder)
        wanted = (os.path.splitext(name)[0] + SIDECAR).lower(), (name + SIDECAR).lower()
        return [(key, *listing[key]) for key in wanted if key in listing]


def _list_sidecars(folder: str) -> dict[str, tuple[int, int]]:
    found = {}
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.name.lower().endswith(SIDECAR) and entry.is_file():
                    stat = entry.stat()
                    found[entry.name.lower()] = (stat.st_size, stat.st_mtime_ns)
    except OSError:
        return {}
    return found


def _signature(paths: Iterable[tuple[str, str | None]], listings: _Listings) -> str:
    parts = [WORDS_RULES, *([path, root, listings.sidecars(path)] for path, root in paths)]
    return hashlib.blake2b(json.dumps(parts).encode(), digest_size=16).hexdigest()


def _build(catalog: Catalog, batch: list[Stale], encoder: TextEncoder, cache: dict[str, np.ndarray],
           on_note: Callable[[str, str], None], listings: _Listings) -> int:
    """Texts and places of one batch of contents, committed together; returns how many got a place."""
    from framefind.media.places import locate

    rows = catalog.rows_in("SELECT hash, fields, lat, lon FROM described WHERE hash IN ({})", (),
                           [item.content for item in batch])
    stored = {content: fields for content, fields, _, _ in rows}
    gps = {content: (lat, lon) for content, _, lat, lon in rows if lat is not None and lon is not None}
    spans = {}
    for item in batch:
        fields, sidecar_gps = _fields(item, json.loads(stored.get(item.content) or "[]"), on_note, listings)
        spans[item.content] = fields
        if sidecar_gps is not None:  # a sidecar is where people correct a camera's position
            gps[item.content] = sidecar_gps
    _embed_missing(encoder, cache, {text for fields in spans.values() for _, text in fields})
    located = dict(zip(gps, locate(list(gps.values())), strict=True))
    contents = [item.content for item in batch]
    with catalog.transaction() as db:
        for table in ("places", "place_names"):  # the batch's old places, at once
            catalog.rows_in(f"DELETE FROM {table} WHERE hash IN ({{}})", (), contents)
        put_texts_many(catalog, METADATA, [
            (content, [(None, None, text) for _, text in fields],
             np.stack([cache[text] for _, text in fields]) if fields else None,
             [name for name, _ in fields]) for content, fields in spans.items()])
        for item in batch:
            _put_place(db, item.content, located.get(item.content), gps.get(item.content))
        db.executemany("UPDATE described SET built = ? WHERE hash = ?", [(item.signature, item.content)
                                                                          for item in batch])
    return sum(place is not None for place in located.values())


def _fields(item: Stale, embedded: list[list[str]], on_note: Callable[[str, str], None], listings: _Listings
            ) -> tuple[list[tuple[str, str]], tuple[float, float] | None]:
    """(field, text) pairs of one content, each distinct text once (case aside), and a sidecar's GPS if any."""
    from framefind.media.metadata import Described, path_words, read_sidecars

    pairs: list[tuple[str, str]] = [(name, text) for name, text in embedded]
    gps = None
    for path, root in item.paths:
        folder, name = path_words(path, root)
        pairs += [("folder", folder), ("name", name)]
        sidecar = read_sidecars(path) if listings.sidecars(path) else Described()  # listed: no stat per file
        for note in sidecar.notes:
            on_note(path, note)
        pairs = list(sidecar.fields()) + pairs  # a sidecar is the newer word: its caption first
        gps = gps or sidecar.gps
    seen: set[str] = set()
    out = []
    for name, text in pairs:
        text = " ".join(text.split())
        if text and text.lower() not in seen:
            seen.add(text.lower())
            out.append((name, text))
    return out, gps


def _embed_missing(encoder: TextEncoder, cache: dict[str, np.ndarray], texts: set[str]) -> None:
    if len(cache) > CACHED_TEXTS:  # bounded memory on a library of unique captions
        cache.clear()
    missing = sorted(texts - cache.keys())
    if missing:  # at once: the encoder batches them by length (little padding)
        cache.update(zip(missing, encoder.embed(missing), strict=True))


def _put_place(db: sqlite3.Connection, content: str, place: Place | None, gps: tuple[float, float] | None) -> None:
    """A content's place and its names (lower case: typed names are matched without case); its old ones are
    deleted by the caller."""
    if place is None or gps is None:
        return
    db.execute("INSERT INTO places (hash, city, region, county, country, code, km, lat, lon) "
               "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
               (content, place.city, place.region, place.county, place.country, place.code, place.km, *gps))
    names = {name.lower(): level for level, name in reversed(place.names())}  # the first level named wins
    db.executemany("INSERT OR IGNORE INTO place_names (name, hash, level) VALUES (?, ?, ?)",
                   [(name, content, level) for name, level in names.items()])


def place_labels(catalog: Catalog, contents: Iterable[str]) -> dict[str, str]:
    """content -> where it was taken, as results show it ("Lisbon, Portugal")."""
    from framefind.media.places import Place

    rows = catalog.rows_in("SELECT hash, city, region, county, country, code, km FROM places WHERE hash IN ({})",
                           (), list(contents))
    return {row[0]: Place(*row[1:]).label() for row in rows}


def library_places(catalog: Catalog) -> list[dict]:
    """The places of the library, most photos first: [{"name", "country", "count"}] by city."""
    sql = ("SELECT p.city, p.region, p.country, COUNT(DISTINCT p.hash) FROM places p JOIN files f ON f.hash = p.hash "
           "AND f.status = 'ok' GROUP BY p.city, p.region, p.country ORDER BY COUNT(DISTINCT p.hash) DESC, p.city")
    return [{"city": city, "region": region, "country": country, "count": count}
            for city, region, country, count in catalog.db.execute(sql)]
