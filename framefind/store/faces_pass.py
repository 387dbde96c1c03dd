"""The faces pass (``index --faces``): every face in every picture and in the frames of videos, then people.

Like the speech and OCR passes (enrich.py) it runs after embedding, one content per transaction (its faces and an
``enriched`` row saying it was looked at), so Ctrl-C or kill -9 loses at most the content in flight and the next
run resumes; searches use whatever is done. At the end, when it found new faces, the faces not placed yet are
clustered into people
(people.py): earlier assignments, and everything the user said, stay as they are.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from framefind.errors import FrameFindError, MediaError
from framefind.store.catalog import Catalog, encode
from framefind.store.enrich import Reader, pending
from framefind.store.people import cluster

FACE_SIDE = 1600  # px the detector looks at: 40 px faces in a group photo stay findable
FACE_EVERY = 2.0  # seconds between video frames looked at for faces


@dataclass
class FacesReport:
    contents: int = 0  # contents looked at in this run
    faces: int = 0  # faces found in them
    placed: int = 0  # faces placed into people (new and earlier ones)
    people: int = 0  # people started
    interrupted: bool = False


def find_faces(catalog: Catalog, *, stopped: Callable[[], bool] = lambda: False,
               progress: Callable[[str, int, int], None] = lambda name, done, total: None,
               on_note: Callable[[str, str], None] = lambda path, note: None,
               read: Reader | None = None) -> FacesReport:
    """Look for faces in the contents not looked at yet, then group the unplaced faces into people. ``read``:
    where the files are looked at (default: here; store/ray_index.py: on a Ray cluster)."""
    from framefind.media.faces import available

    missing = available()
    if missing is not None:
        raise FrameFindError(missing)
    report = FacesReport()
    todo = pending(catalog, "faces")
    read = read or (lambda name, todo: (_faces_of(path, kind, stopped) for _, kind, path in todo))
    try:
        for number, ((content, _, path), (found, note)) in enumerate(zip(todo, read("faces", todo), strict=True)):
            progress("faces", number, len(todo))
            if stopped():
                raise KeyboardInterrupt
            with catalog.transaction() as db:
                db.execute("DELETE FROM faces WHERE hash = ?", (content,))
                db.executemany("INSERT INTO faces (hash, at, x, y, w, h, score, vec) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                               [(content, at, *face.box, face.score, encode(face.vector)) for at, face in found])
                db.execute("INSERT OR REPLACE INTO enriched (hash, pass, at, note) VALUES (?, 'faces', ?, ?)",
                           (content, time.time(), note))
            report.contents, report.faces = report.contents + 1, report.faces + len(found)
            if note:
                on_note(path, note)
        progress("faces", len(todo), len(todo))
    except KeyboardInterrupt:
        report.interrupted = True
    if report.faces:  # only new faces can join a person or make a waiting face a pair: nothing else re-clusters
        report.placed, report.people = cluster(catalog)
    return report


def _faces_of(path: str, kind: str, stopped: Callable[[], bool]) -> tuple[list, str | None]:
    """(time or None, Face) of every face in a picture, or in a video's frames every FACE_EVERY seconds."""
    from framefind.media.faces import faces_in
    from framefind.media.images import load_upright
    from framefind.media.video import sample_frames

    try:
        if kind == "video":
            return [(at, face) for at, frame in sample_frames(path, FACE_EVERY, FACE_SIDE, stopped)
                    for face in faces_in(frame)], None
        return [(None, face) for face in faces_in(load_upright(path, FACE_SIDE))], None
    except MediaError as exc:
        return [], exc.reason
    except Exception as exc:  # noqa: BLE001 - a decoder's error on one file must not stop the pass
        return [], f"could not look for faces ({type(exc).__name__}: {exc})"
