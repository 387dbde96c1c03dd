"""What filters and grids need beyond vectors, filled in at the end of an index run: capture times,
labels, and the thumbnails of images indexed by 0.1.0 (which stored none).

All come from what is already there (a file's metadata headers, the stored vectors, the file), so a
library from an earlier release gets them from its next ``index`` without re-embedding anything; the
writer does it, since readers never write. One transaction per batch, like indexing itself: an
interrupted run resumes where it stopped.
"""

from __future__ import annotations

from collections.abc import Callable

from framefind.errors import MediaError
from framefind.media.capture import capture_time
from framefind.models.base import Model
from framefind.store.catalog import Catalog
from framefind.store.filtering import LABEL_RANK

BATCH = 500
_NO_THUMBNAIL = "c.kind = 'image' AND NOT EXISTS (SELECT 1 FROM thumbnails t WHERE t.hash = c.hash)"


def annotate(catalog: Catalog, model: Model,
             progress: Callable[[int, int], None] = lambda done, total: None) -> tuple[int, int]:
    """Capture times of content not yet looked at, labels of ``model``'s unlabelled items, thumbnails of images
    without one: (dated, labelled). ``progress`` hears (done, total) after each batch (an upgraded library
    of 100k files takes ~30 s)."""
    total = pending(catalog, model)
    done = [0]

    def step(n: int) -> None:
        done[0] += n
        progress(done[0], total)

    dated, labelled = _date_contents(catalog, step), _label_items(catalog, model, step)
    _thumbnail_images(catalog, model.image_size, step)
    return dated, labelled


def pending(catalog: Catalog, model: Model) -> int:
    """Contents without a looked-up capture time plus items without labels."""
    undated = catalog.db.execute("SELECT COUNT(*) FROM contents WHERE dated = 0").fetchone()[0]
    undated += catalog.db.execute(f"SELECT COUNT(*) FROM contents c WHERE {_NO_THUMBNAIL}").fetchone()[0]
    if not model.has_labels:
        return undated
    sql = ("SELECT COUNT(*) FROM items i WHERE i.model = ? "
           "AND NOT EXISTS (SELECT 1 FROM labels l WHERE l.item_id = i.id)")
    return undated + catalog.db.execute(sql, (model.id,)).fetchone()[0]


def _date_contents(catalog: Catalog, progress: Callable[[int], None]) -> int:
    """EXIF / video metadata of one live file per content; ``dated`` marks it looked at, found or not."""
    done = 0
    while True:
        rows = catalog.db.execute(
            "SELECT c.hash, c.kind, MIN(f.path) FROM contents c JOIN files f ON f.hash = c.hash AND f.status = 'ok' "
            "WHERE c.dated = 0 GROUP BY c.hash LIMIT ?", (BATCH,)).fetchall()
        if not rows:
            return done
        found = [(capture_time(path, kind), content) for content, kind, path in rows]
        with catalog.transaction() as db:
            db.executemany("UPDATE contents SET taken = ?, dated = 1 WHERE hash = ?", found)
        done += len(rows)
        progress(len(rows))


def _label_items(catalog: Catalog, model: Model, progress: Callable[[int], None]) -> int:
    """The classifier's top labels of each item, from its stored text-space vector."""
    if not model.has_labels:
        return 0
    done = 0
    while True:
        ids = [r[0] for r in catalog.db.execute(
            "SELECT i.id FROM items i WHERE i.model = ? AND NOT EXISTS (SELECT 1 FROM labels l WHERE l.item_id = i.id) "
            "LIMIT ?", (model.id, BATCH))]
        if not ids:
            return done
        ids_found, vectors = catalog.vectors(model.id, model.words_space, ids)
        rows = [(int(item_id), name, score) for item_id, labels in zip(ids_found, model.labels(vectors, LABEL_RANK),
                                                                          strict=True) for name, score in labels]
        with catalog.transaction() as db:
            db.executemany("INSERT OR REPLACE INTO labels (item_id, label, score) VALUES (?, ?, ?)", rows)
        if len(ids_found) < len(ids):  # items without a vector in that space can never be labelled
            return done + len(ids_found)
        done += len(ids)
        progress(len(ids))



def _thumbnail_images(catalog: Catalog, size: int, progress: Callable[[int], None]) -> int:
    """A thumbnail for each image content without one, from one of its live files (0.1.0 stored none);
    an unreadable file leaves its content without one (the grid shows it from the file, as before)."""
    from framefind.media.images import load_image

    done, after = 0, ""
    while True:
        rows = catalog.db.execute(
            "SELECT c.hash, MIN(f.path) FROM contents c JOIN files f ON f.hash = c.hash AND f.status = 'ok' "
            f"WHERE {_NO_THUMBNAIL} AND c.hash > ? GROUP BY c.hash ORDER BY c.hash LIMIT ?", (after, BATCH)).fetchall()
        if not rows:
            return done
        made = []
        for content, path in rows:
            try:
                made.append((content, load_image(path, size, thumbnail=True)[2]))
            except MediaError:
                continue
        with catalog.transaction():
            for content, jpeg in made:
                catalog.put_thumbnail(content, 0.0, jpeg)
        done, after = done + len(made), rows[-1][0]
        progress(len(rows))
