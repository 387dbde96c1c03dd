"""The catalog's schema and its step-by-step upgrades (rclip's ``db.py`` ``ensure_version`` pattern).

``meta.schema_version`` says which schema a catalog has. Opening a catalog made by an earlier release
runs every step from its version to ``VERSION`` inside one exclusive transaction: another process
that opens it at the same moment waits, then finds it upgraded; a crash leaves the old version whole.
A catalog from a newer release is refused with one line. Each step is frozen: it describes what
that old release wrote, never what today's code would write.

Version 2 keys vectors by model: ``models`` describes every model whose vectors the
library holds (id = digest of everything that shapes a vector), ``items`` belong to one (content,
model), ``embedded`` says which model embedded which content, thumbnails are stored once per
(content, time) for images and video frames alike. Version 3 adds ``feedback``: thumbs up/down.
Version 4 adds what filters need: ``contents.taken`` (capture time from EXIF or the video's own
metadata; ``dated`` says it was looked for) and ``labels``, the classifier's top labels per item.
Version 5 adds ``texts`` (+ ``texts_fts``, ``enriched``): what is said in videos and written in pictures.
Version 6 adds what the files already say: ``described`` (per content: the captions, keywords and GPS its own
bytes carry, read once, and what its ``metadata`` texts were last built from), ``texts.field`` (which part of the
file a text came from: folder, name, caption, ...), ``places`` (where a content was taken, reverse-geocoded
offline), ``place_names`` (every name a user may type for that place, lower case) and ``contents.scan`` (a
digest of a picture's compressed image data: a caption written into a file later reuses its vectors), ``faces``
and ``people`` (who is in the pictures).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable

from framefind.errors import FrameFindError

VERSION = 6
FORMAT = "framefind-library"

SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE roots (path TEXT PRIMARY KEY);
CREATE TABLE files (
    path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
    hash TEXT, kind TEXT NOT NULL, status TEXT NOT NULL, error TEXT, indexed_at REAL NOT NULL);
CREATE INDEX files_hash ON files (hash);
CREATE TABLE contents (
    hash TEXT PRIMARY KEY, kind TEXT NOT NULL, width INTEGER, height INTEGER, duration REAL,
    taken REAL, dated INTEGER NOT NULL DEFAULT 0);
CREATE TABLE models (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, options TEXT NOT NULL, spec TEXT NOT NULL,
    generation INTEGER NOT NULL DEFAULT 0, created REAL NOT NULL);
CREATE TABLE embedded (
    hash TEXT NOT NULL, model TEXT NOT NULL, at REAL NOT NULL, PRIMARY KEY (hash, model)) WITHOUT ROWID;
CREATE INDEX embedded_model ON embedded (model);
CREATE TABLE items (
    id INTEGER PRIMARY KEY AUTOINCREMENT, hash TEXT NOT NULL, model TEXT NOT NULL,
    start REAL, end REAL, frame_time REAL);
CREATE INDEX items_hash ON items (hash, model);
CREATE INDEX items_model ON items (model);
CREATE TABLE vectors (item_id INTEGER NOT NULL, space TEXT NOT NULL, vec BLOB NOT NULL);
CREATE UNIQUE INDEX vectors_item ON vectors (item_id, space);
CREATE TABLE frames (item_id INTEGER NOT NULL, time REAL NOT NULL, space TEXT NOT NULL, vec BLOB NOT NULL);
CREATE INDEX frames_item ON frames (item_id, space);
CREATE TABLE thumbnails (hash TEXT NOT NULL, at REAL NOT NULL, jpeg BLOB NOT NULL, PRIMARY KEY (hash, at));
"""
# Thumbs up/down by query and stable result key: survives re-indexing, moves and model changes.
FEEDBACK = ("CREATE TABLE feedback (query TEXT NOT NULL, key TEXT NOT NULL, vote INTEGER NOT NULL, "
            "at REAL NOT NULL, PRIMARY KEY (query, key))")
SCHEMA += FEEDBACK + ";"
# The classifier's top labels per item (filter or boost by label); filled from the stored vectors.
LABELS = ("CREATE TABLE labels (item_id INTEGER NOT NULL, label TEXT NOT NULL, score REAL NOT NULL, "
          "PRIMARY KEY (item_id, label)) WITHOUT ROWID", "CREATE INDEX labels_label ON labels (label)")
SCHEMA += ";".join(LABELS) + ";"
# What is said and what is written: phrases with times, by content (no model needed), a full-text index
# over them (BM25, phrases, prefixes) and a MiniLM vector each; ``enriched`` records which content each
# pass (speech, ocr) has done, so the passes resume where they stopped.
TEXTS = ("CREATE TABLE texts (id INTEGER PRIMARY KEY, hash TEXT NOT NULL, source TEXT NOT NULL, start REAL, "
         "end REAL, text TEXT NOT NULL, vec BLOB)",
         "CREATE INDEX texts_hash ON texts (hash, source)",
         "CREATE VIRTUAL TABLE texts_fts USING fts5(text, tokenize = 'porter unicode61')",
         "CREATE TABLE enriched (hash TEXT NOT NULL, pass TEXT NOT NULL, at REAL NOT NULL, note TEXT, "
         "PRIMARY KEY (hash, pass)) WITHOUT ROWID")
SCHEMA += ";".join(TEXTS) + ";"
# What the files say about themselves (#20): ``described.fields`` is the JSON list of [field, text] pairs the
# content's own bytes carry (EXIF, IPTC, XMP, video tags), ``lat``/``lon`` its GPS; ``built`` is the signature
# (live paths, sidecars' sizes and times) its ``metadata`` texts and place were last made from, so a renamed
# folder or an edited sidecar is read again by the next index and nothing else is.
DESCRIBED = ("CREATE TABLE described (hash TEXT PRIMARY KEY, fields TEXT NOT NULL, lat REAL, lon REAL, "
             "built TEXT) WITHOUT ROWID",
             "CREATE TABLE places (hash TEXT PRIMARY KEY, city TEXT NOT NULL, region TEXT NOT NULL, "
             "county TEXT NOT NULL, country TEXT NOT NULL, code TEXT NOT NULL, km REAL NOT NULL, "
             "lat REAL NOT NULL, lon REAL NOT NULL) WITHOUT ROWID",
             "CREATE TABLE place_names (name TEXT NOT NULL, hash TEXT NOT NULL, level TEXT NOT NULL, "
             "PRIMARY KEY (name, hash)) WITHOUT ROWID",
             "CREATE INDEX place_names_hash ON place_names (hash)",
             "CREATE INDEX texts_source ON texts (source)")
TEXT_FIELD = "ALTER TABLE texts ADD COLUMN field TEXT"
# A digest of a picture's compressed image data alone (JPEG: its scans; PNG: its IDAT chunks): a caption or keyword
# written into the file later changes the bytes (a new content) but not this, so its vectors are reused.
SCAN = ("ALTER TABLE contents ADD COLUMN scan TEXT", "CREATE INDEX contents_scan ON contents (scan)")
SCHEMA += ";".join(DESCRIBED) + ";" + TEXT_FIELD + ";" + ";".join(SCAN) + ";"
# People (#20): every face found (its content, its time in a video, its box as fractions of the picture, dlib's
# 128-d descriptor) and the person it belongs to; ``people.named`` marks a person the user named, whom clustering
# never merges nor splits. ``enriched`` (pass 'faces') records which contents were looked at.
FACES = ("CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT, created REAL NOT NULL)",
         "CREATE UNIQUE INDEX people_name ON people (name COLLATE NOCASE) WHERE name IS NOT NULL",
         "CREATE TABLE faces (id INTEGER PRIMARY KEY, hash TEXT NOT NULL, at REAL, x REAL NOT NULL, y REAL NOT NULL, "
         "w REAL NOT NULL, h REAL NOT NULL, score REAL NOT NULL, vec BLOB NOT NULL, person INTEGER)",
         "CREATE INDEX faces_hash ON faces (hash)", "CREATE INDEX faces_person ON faces (person)")
SCHEMA += ";".join(FACES) + ";"

# What release 0.1.0 and the first release did (frozen here: later defaults must not change history).
# The first release had no ``frames`` table (no video) and mixed each image's top-10 ImageNet classes;
# 0.1.0 mixed the top 20. Video sampling was the same in both.
_V1_VIDEO = {"max_gap": 2.0, "window": 8.0, "min_shot": 0.5, "cut_threshold": 0.10, "cut_ratio": 3.0}

# (old model name, options of the release that wrote it) -> (id, name, options, spec) in today's terms
LegacyModel = Callable[[str, dict], tuple[str, str, dict, dict]]


def statements(script: str) -> list[str]:
    """One statement at a time: ``executescript`` would COMMIT the caller's transaction on its own."""
    return [s.strip() for s in script.split(";") if s.strip()]


def create(db: sqlite3.Connection) -> None:
    """A new, empty catalog at ``VERSION`` (inside the caller's transaction)."""
    for statement in statements(SCHEMA):
        db.execute(statement)
    _set(db, "format", FORMAT)
    _set(db, "schema_version", str(VERSION))
    _set(db, "created", str(time.time()))


def version(db: sqlite3.Connection, where: object) -> int | None:
    """The catalog's schema version; None for an empty database; an error for a foreign one."""
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if not tables:
        return None
    if "meta" not in tables:
        raise FrameFindError(f"{where}: not a framefind catalog (unknown SQLite database)")
    meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
    if meta.get("format") == "framefind-library-1" and "schema_version" not in meta:
        return 1
    if meta.get("format") != FORMAT or not str(meta.get("schema_version", "")).isdigit():
        raise FrameFindError(f"{where}: unsupported library format {meta.get('format')!r}")
    return int(meta["schema_version"])


def ensure_version(db: sqlite3.Connection, where: object, legacy_model: LegacyModel) -> list[str]:
    """Create or upgrade the catalog to ``VERSION``; returns one line per step taken (for the user)."""
    db.execute("BEGIN EXCLUSIVE")  # re-read under the lock: another process may have just upgraded it
    try:
        found = version(db, where)
        done = []
        if found is None:
            create(db)
        elif found > VERSION:
            raise FrameFindError(f"{where}: made by a newer framefind (library format {found}; this release reads "
                                 f"up to {VERSION}): upgrade framefind to use it")
        else:
            for step in range(found, VERSION):
                UPGRADES[step](db, legacy_model)
                _set(db, "schema_version", str(step + 1))
                done.append(f"upgraded library format {step} -> {step + 1}")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
    return done


def _set(db: sqlite3.Connection, key: str, value: str) -> None:
    db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))


def _columns(db: sqlite3.Connection, table: str) -> set[str]:
    return {r[1] for r in db.execute(f"PRAGMA table_info({table})")}


def _upgrade_1_to_2(db: sqlite3.Connection, legacy_model: LegacyModel) -> None:
    """Release 0.1.0 (and the first release) -> 2: vectors keyed by model id, thumbnails per content.

    Nothing is re-embedded: each old model name is mapped to the id of the recipe that wrote it.
    """
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    had_video = "frames" in tables
    options = {"top_t": 20 if had_video else 10, "video": _V1_VIDEO}
    names = [r[0] for r in db.execute("SELECT DISTINCT model FROM contents")]
    active = db.execute("SELECT value FROM meta WHERE key = 'model'").fetchone()
    names += [active[0]] if active and active[0] not in names else []
    generation = int((db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone() or ["0"])[0])
    ids = {}
    db.execute("CREATE TABLE models (id TEXT PRIMARY KEY, name TEXT NOT NULL, options TEXT NOT NULL, "
               "spec TEXT NOT NULL, generation INTEGER NOT NULL DEFAULT 0, created REAL NOT NULL)")
    for name in names:
        model_id, new_name, model_options, spec = legacy_model(name, options if name == "effnet-conse" else {})
        ids[name] = model_id
        db.execute("INSERT OR IGNORE INTO models (id, name, options, spec, generation, created) VALUES (?,?,?,?,?,?)",
                   (model_id, new_name, json.dumps(model_options), json.dumps(spec), generation, time.time()))
    db.execute("CREATE TABLE embedded (hash TEXT NOT NULL, model TEXT NOT NULL, at REAL NOT NULL, "
               "PRIMARY KEY (hash, model)) WITHOUT ROWID")
    db.execute("CREATE INDEX embedded_model ON embedded (model)")
    if "model" not in _columns(db, "items"):
        db.execute("ALTER TABLE items ADD COLUMN model TEXT NOT NULL DEFAULT ''")
    for name, model_id in ids.items():
        db.execute("INSERT INTO embedded (hash, model, at) SELECT hash, ?, embedded_at FROM contents WHERE model = ?",
                   (model_id, name))
        db.execute("UPDATE items SET model = ? WHERE hash IN (SELECT hash FROM contents WHERE model = ?)",
                   (model_id, name))
    _rebuild_contents(db)
    _rebuild_vectors(db)
    _rebuild_thumbnails(db, "thumbnails" in tables)
    if not had_video:
        db.execute("CREATE TABLE frames (item_id INTEGER NOT NULL, time REAL NOT NULL, space TEXT NOT NULL, "
                   "vec BLOB NOT NULL)")
        db.execute("CREATE INDEX frames_item ON frames (item_id, space)")
    db.execute("DROP INDEX IF EXISTS items_hash")
    db.execute("CREATE INDEX items_hash ON items (hash, model)")
    db.execute("CREATE INDEX items_model ON items (model)")
    if active:
        _set(db, "active_model", ids[active[0]])
        # What the user chose: the next index embeds with this name and this release's defaults.
        _set(db, "model_choice", json.dumps({"name": active[0], "options": {}}))
    index_type = (db.execute("SELECT value FROM meta WHERE key = 'index'").fetchone() or ["flat"])[0]
    # 0.1.0 wrote "flat" whether or not the user chose it; "auto" is exact (flat) at every size 0.1.0 handled.
    _set(db, "index_type", "auto" if index_type == "flat" else index_type)
    db.execute("DELETE FROM meta WHERE key IN ('model', 'index', 'generation')")
    _set(db, "format", FORMAT)


def _rebuild_contents(db: sqlite3.Connection) -> None:
    """contents loses its model columns (models live in ``embedded``): SQLite's copy-and-rename recipe."""
    db.execute("CREATE TABLE contents_v2 (hash TEXT PRIMARY KEY, kind TEXT NOT NULL, width INTEGER, "
               "height INTEGER, duration REAL)")
    duration = "duration" if "duration" in _columns(db, "contents") else "NULL"
    db.execute(f"INSERT INTO contents_v2 SELECT hash, kind, width, height, {duration} FROM contents")
    db.execute("DROP TABLE contents")
    db.execute("ALTER TABLE contents_v2 RENAME TO contents")


def _rebuild_vectors(db: sqlite3.Connection) -> None:
    """The first release kept vectors in a WITHOUT ROWID table (an overflow page per vector): copy them
    into the rowid layout 0.1.0 introduced, whatever layout they are in."""
    db.execute("CREATE TABLE vectors_v2 (item_id INTEGER NOT NULL, space TEXT NOT NULL, vec BLOB NOT NULL)")
    db.execute("INSERT INTO vectors_v2 (item_id, space, vec) SELECT item_id, space, vec FROM vectors")
    db.execute("DROP TABLE vectors")
    db.execute("ALTER TABLE vectors_v2 RENAME TO vectors")
    db.execute("CREATE UNIQUE INDEX vectors_item ON vectors (item_id, space)")


def _rebuild_thumbnails(db: sqlite3.Connection, existed: bool) -> None:
    """Thumbnails were per item (video segments only); now per (content, time), so every model shares them."""
    db.execute("CREATE TABLE thumbnails_v2 (hash TEXT NOT NULL, at REAL NOT NULL, jpeg BLOB NOT NULL, "
               "PRIMARY KEY (hash, at))")
    if existed:
        db.execute("INSERT OR IGNORE INTO thumbnails_v2 (hash, at, jpeg) SELECT i.hash, COALESCE(i.frame_time, 0), "
                   "t.jpeg FROM thumbnails t JOIN items i ON i.id = t.item_id")
        db.execute("DROP TABLE thumbnails")
    db.execute("ALTER TABLE thumbnails_v2 RENAME TO thumbnails")


def _upgrade_2_to_3(db: sqlite3.Connection, legacy_model: LegacyModel) -> None:
    """2 -> 3: thumbs up/down on results, by query and stable result key."""
    db.execute(FEEDBACK)


def _upgrade_3_to_4(db: sqlite3.Connection, legacy_model: LegacyModel) -> None:
    """3 -> 4: capture times and labels, both empty: the next ``index`` fills them without re-embedding
    (reading EXIF headers of a big library takes minutes: not inside an upgrade's lock)."""
    db.execute("ALTER TABLE contents ADD COLUMN taken REAL")
    db.execute("ALTER TABLE contents ADD COLUMN dated INTEGER NOT NULL DEFAULT 0")
    for statement in LABELS:
        db.execute(statement)


def _upgrade_4_to_5(db: sqlite3.Connection, legacy_model: LegacyModel) -> None:
    """4 -> 5: empty tables for transcripts and on-screen text (``index --transcribe --ocr`` fills them)."""
    for statement in TEXTS:
        db.execute(statement)


def _upgrade_5_to_6(db: sqlite3.Connection, legacy_model: LegacyModel) -> None:
    """5 -> 6: empty tables for what the files say and where they were taken; the next ``index`` reads the
    files' headers and sidecars (no re-embedding: minutes for a big library, not inside an upgrade's lock)."""
    for statement in (*DESCRIBED, TEXT_FIELD, *SCAN, *FACES):
        db.execute(statement)


UPGRADES: dict[int, Callable[[sqlite3.Connection, LegacyModel], None]] = {
    1: _upgrade_1_to_2, 2: _upgrade_2_to_3, 3: _upgrade_3_to_4, 4: _upgrade_4_to_5, 5: _upgrade_5_to_6}
