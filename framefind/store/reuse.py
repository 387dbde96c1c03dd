"""The same picture under new bytes (issue #20): a caption, keywords or GPS written into a JPEG or PNG after it
was indexed change its bytes, hence its content hash, but not its picture data. ``contents.scan`` holds a digest
of that data (media.files.content_digests); a new content whose scan digest a content embedded by the model
already has is not decoded nor embedded: it gets copies of that content's rows (items, vectors in every space,
frames, labels, the thumbnail, on-screen text, faces and the people they belong to), in the batch's transaction,
and the model's generation is bumped as for any added vectors, so the index files pick the copies up like new
vectors.

What comes from the file's metadata (capture time, captions, keywords, places) is *not* copied: the new
content has none yet, so the end-of-run passes (store/annotate.py, store/describe.py) read it from the new
bytes, which is the point. The old content goes at the end of the run when no file points at it any more.

Contents written before library format 6 (0.6.0 and earlier) have no scan digest: their old bytes are gone
once a file is edited, so nothing can tell that its picture stayed the same, and such an edit is embedded
again once; the new content carries a digest from then on.
"""

from __future__ import annotations

import time

from framefind.store.catalog import Catalog, texts_changed
from framefind.store.enrich import SOURCE


def embedded_scans(catalog: Catalog, model_id: str) -> set[str]:
    """Scan digests of the contents ``model_id`` has vectors for: read once per run, before any file of it is
    committed, so which files of a run are reused does not depend on how its threads interleave."""
    sql = ("SELECT c.scan FROM contents c JOIN embedded e ON e.hash = c.hash AND e.model = ? "
           "WHERE c.scan IS NOT NULL")
    return {row[0] for row in catalog.db.execute(sql, (model_id,))}


def same_picture(catalog: Catalog, scan: str, model_id: str) -> str | None:
    """A content embedded by ``model_id`` whose picture data has this scan digest (by ``contents_scan``)."""
    row = catalog.db.execute("SELECT c.hash FROM contents c JOIN embedded e ON e.hash = c.hash AND e.model = ? "
                             "WHERE c.scan = ? ORDER BY c.hash LIMIT 1", (model_id, scan)).fetchone()
    return row[0] if row else None


def copy_content(catalog: Catalog, source: str, target: str, scan: str | None) -> int:
    """Give content ``target`` the rows ``source`` has from its pixels, for every model that embedded ``source``
    and not ``target``; inside the caller's transaction. Returns the number of items copied."""
    db = catalog.db
    db.execute("INSERT INTO contents (hash, kind, width, height, duration, scan) "
               "SELECT ?, kind, width, height, duration, ? FROM contents WHERE hash = ? "
               "ON CONFLICT (hash) DO UPDATE SET scan = COALESCE(contents.scan, excluded.scan)",
               (target, scan, source))
    models = [row[0] for row in db.execute(
        "SELECT model FROM embedded WHERE hash = ? AND model NOT IN (SELECT model FROM embedded WHERE hash = ?)",
        (source, target))]
    copied = 0
    for model in models:
        items = db.execute("SELECT id, start, end, frame_time FROM items WHERE hash = ? AND model = ? ORDER BY id",
                           (source, model)).fetchall()
        for item_id, start, end, frame_time in items:
            new = db.execute("INSERT INTO items (hash, model, start, end, frame_time) VALUES (?, ?, ?, ?, ?)",
                             (target, model, start, end, frame_time)).lastrowid
            for table, columns in (("vectors", "space, vec"), ("frames", "time, space, vec"),
                                   ("labels", "label, score")):
                db.execute(f"INSERT INTO {table} (item_id, {columns}) SELECT ?, {columns} FROM {table} "
                           "WHERE item_id = ?", (new, item_id))
        copied += len(items)
        db.execute("INSERT OR REPLACE INTO embedded (hash, model, at) VALUES (?, ?, ?)", (target, model, time.time()))
    db.execute("INSERT OR IGNORE INTO thumbnails (hash, at, jpeg) SELECT ?, at, jpeg FROM thumbnails WHERE hash = ?",
               (target, source))
    _copy_pixel_texts(catalog, source, target)
    _copy_faces(catalog, source, target)
    db.executemany("UPDATE models SET generation = generation + 1 WHERE id = ?", [(m,) for m in models])
    return copied


def _copy_pixel_texts(catalog: Catalog, source: str, target: str) -> None:
    """What the enrichment passes read from the pixels (on-screen text), with its ``enriched`` row, so the OCR
    pass does not read the same picture again. Passes this module does not know are left to run."""
    db = catalog.db
    done = db.execute("SELECT pass, at, note FROM enriched WHERE hash = ? AND pass NOT IN "
                      "(SELECT pass FROM enriched WHERE hash = ?)", (source, target)).fetchall()
    done = [(name, at, note) for name, at, note in done if name in SOURCE]
    for name, at, note in done:
        rows = db.execute("SELECT start, end, text, vec, field FROM texts WHERE hash = ? AND source = ? ORDER BY id",
                          (source, SOURCE[name])).fetchall()
        for start, end, text, vec, field in rows:
            rowid = db.execute("INSERT INTO texts (hash, source, start, end, text, vec, field) "
                               "VALUES (?, ?, ?, ?, ?, ?, ?)", (target, SOURCE[name], start, end, text, vec, field)
                               ).lastrowid
            db.execute("INSERT INTO texts_fts (rowid, text) VALUES (?, ?)", (rowid, text))
        db.execute("INSERT INTO enriched (hash, pass, at, note) VALUES (?, ?, ?, ?)", (target, name, at, note))
    if done:
        texts_changed(db)


def _copy_faces(catalog: Catalog, source: str, target: str) -> None:
    """The faces found in the picture, with the people they belong to (a name given by the user must survive a
    caption written into the file), and the faces pass's ``enriched`` row."""
    db = catalog.db
    done = db.execute("SELECT at, note FROM enriched WHERE hash = ? AND pass = 'faces'", (source,)).fetchone()
    if done is None or db.execute("SELECT 1 FROM enriched WHERE hash = ? AND pass = 'faces'", (target,)).fetchone():
        return
    db.execute("INSERT INTO faces (hash, at, x, y, w, h, score, vec, person) SELECT ?, at, x, y, w, h, score, vec, "
               "person FROM faces WHERE hash = ?", (target, source))
    db.execute("INSERT INTO enriched (hash, pass, at, note) VALUES (?, 'faces', ?, ?)", (target, *done))
