"""The ``face`` signal: a query picture showing a face finds that person's pictures and video moments.

An example image (or a library result, "more like this") is searched by what it shows (visual); a library that
looks for faces (``index --faces``) also asks who is in it. The query's faces are found as the faces pass finds
them (dlib, media/faces.py; a library result's stored faces need no detection), and every stored face is judged
by its distance to the nearest query face. A face that belongs to a person is judged by the person's nearest face
instead, when that is nearer: a query photo close to one photo of Anne finds all of Anne's, including those whose
faces alone are a little further (another age, light, angle), which is what people grouping is for.

The distance becomes a probability, "the same person", by a logistic curve fitted on the labelled real faces of
benchmarks/bench_faces.py (``FACE`` in relevance.py), and is fused with the pictures' own score by noisy-OR
(hybrid.py), so a photo of the same person in another setting ranks with the ones that look alike. Each match
says who ("Barack", "person 3", or "a face like the query's") and how close.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from framefind.errors import FrameFindError, MediaError
from framefind.search.query import FACE
from framefind.search.relevance import face_probability
from framefind.search.results import ResultKey
from framefind.store.catalog import Catalog, decode
from framefind.store.faces_pass import FACE_EVERY, FACE_SIDE
from framefind.store.texts import TextHit

REACH = 0.7  # descriptor distance beyond which a face is no evidence at all (the curve gives < 1 % there)
QUERY_FACES = 8  # the largest faces of a query picture that are looked for (a crowd asks for nobody in particular)
_cache_lock = threading.Lock()
_query_faces: dict[tuple[str, int, int], np.ndarray] = {}  # (path, size, mtime) -> (n, 128): uploads repeat


def library_has_faces(catalog: Catalog) -> bool:
    return catalog.db.execute("SELECT 1 FROM faces LIMIT 1").fetchone() is not None


def picture_faces(catalog: Catalog, path: str | Path) -> np.ndarray:
    """(n, 128) vectors of the faces in an example picture, largest first (none: an empty array): the stored ones
    when the library holds the same bytes and has looked at them, else detected as the faces pass does (the same
    working size), once per file version; a picture that cannot be read has no faces here (the visual search
    names the problem)."""
    from framefind.media.faces import available, faces_in
    from framefind.media.files import content_hash
    from framefind.media.images import load_upright

    try:
        content = content_hash(path)  # ~1 ms a MB, against ~0.3 s to detect
        stat = Path(path).stat()
    except OSError:
        return np.zeros((0, 128), np.float32)  # unreadable: the visual search says why
    if catalog.db.execute("SELECT 1 FROM enriched WHERE hash = ? AND pass = 'faces'", (content,)).fetchone():
        return stored_faces(catalog, content)
    if available() is not None:
        return np.zeros((0, 128), np.float32)  # no faces extra: the pictures alone answer
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    with _cache_lock:
        if key in _query_faces:
            return _query_faces[key]
    try:
        found = faces_in(load_upright(str(path), FACE_SIDE))
    except (MediaError, FrameFindError, OSError, ValueError):
        found = []
    found = sorted(found, key=lambda face: -face.box[2] * face.box[3])[:QUERY_FACES]
    vectors = np.stack([face.vector for face in found]).astype(np.float32) if found else np.zeros((0, 128), np.float32)
    with _cache_lock:
        if len(_query_faces) > 64:
            _query_faces.clear()
        _query_faces[key] = vectors
    return vectors


def stored_faces(catalog: Catalog, key: str) -> np.ndarray:
    """(n, 128) vectors of the faces a library result shows: an image's, or those seen within a video moment."""
    result = ResultKey.parse(key)
    sql, params = "SELECT vec FROM faces WHERE hash = ?", [result.content]
    if result.start is not None:
        sql += " AND (at IS NULL OR (at >= ? AND at < ?))"
        params += [result.start, result.end]
    rows = [r[0] for r in catalog.db.execute(sql + " ORDER BY w * h DESC LIMIT ?", (*params, QUERY_FACES))]
    return decode(rows) if rows else np.zeros((0, 128), np.float32)


def face_hits(catalog: Catalog, wanted: np.ndarray, allowed: set[str] | None = None) -> list[TextHit]:
    """The library's faces like the ``wanted`` (n, 128) ones, nearest first: one hit per image and per video
    frame looked at, within ``allowed`` contents (None: all). A hit's ``score`` is the distance (lower is
    nearer), its ``relevance`` the probability that it is the same person. Every face is read on each search
    (512 bytes a face; not measured beyond the benchmark's 55: a vector index of faces would bound it)."""
    if not len(wanted):
        return []
    rows = catalog.db.execute(
        "SELECT fa.hash, fa.at, fa.vec, fa.person, p.name FROM faces fa LEFT JOIN people p ON p.id = fa.person"
    ).fetchall()
    if not rows:
        return []
    vectors = decode([r[2] for r in rows])
    squared = (vectors ** 2).sum(1)[:, None] + (wanted ** 2).sum(1)[None, :] - 2 * vectors @ wanted.T
    own = np.sqrt(np.maximum(squared, 0.0)).min(axis=1)  # each stored face's distance to the nearest query face
    nearest: dict[int, float] = {}  # person -> the distance of their nearest face
    for (_, _, _, person, _), distance in zip(rows, own, strict=True):
        if person is not None:
            nearest[person] = min(nearest.get(person, 9.0), float(distance))
    best: dict[tuple[str, float | None], TextHit] = {}
    for (content, at, _, person, name), distance in zip(rows, own, strict=True):
        evidence = min(float(distance), nearest.get(person, 9.0))
        if evidence > REACH or (allowed is not None and content not in allowed):
            continue
        spot = (content, at)
        if spot in best and best[spot].score <= evidence:
            continue
        who = name or (f"person {person}" if person is not None else None)
        text = f"{who or 'a face like the query’s'} ({evidence:.2f} apart)"
        best[spot] = TextHit(content, FACE, at, None if at is None else at + FACE_EVERY, text, round(evidence, 4),
                             relevance=face_probability(evidence))
    return sorted(best.values(), key=lambda hit: (hit.score, hit.hash, hit.start or 0.0))
