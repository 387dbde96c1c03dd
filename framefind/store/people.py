"""People from faces, incrementally, and what the user says about them (issue #20).

What peers' users complain about, and what this does instead:
- a re-run turns every face into its own person (Immich #4929): assignments are kept; a run only places the faces
  not placed yet;
- faces left over are never looked at again (#13217): every run re-clusters the faces still unplaced, so a person
  seen once starts a group when seen again;
- siblings merged into one person (#4439): a new face joins a person only when it is within ``JOIN`` of one of that
  person's faces (dlib's "same person" radius is 0.6; 0.5 keeps look-alikes apart), and two groups are never merged
  by clustering;
- a named person is the user's: clustering adds new faces to them, never merges or splits them; merging, renaming
  and forgetting are the user's own acts (``name``, ``merge``, ``forget``).

A group needs ``MIN_FACES`` faces within ``JOIN`` of each other (DBSCAN's core rule on the unplaced faces); a face
alone waits ("unsorted") until a second photo of the same person arrives.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import faiss
import numpy as np

from framefind.errors import FrameFindError
from framefind.store.catalog import Catalog, decode

JOIN = 0.5  # euclidean distance between dlib descriptors: the same person
MIN_FACES = 2  # faces that start a person


@dataclass(frozen=True)
class Person:
    id: int
    name: str | None
    faces: int
    paths: list[str]  # the files where the person appears, best (largest face) first
    face: int  # the id of the face shown for them (the largest)


def cluster(catalog: Catalog) -> tuple[int, int]:
    """Place the faces not placed yet: into the person of the nearest placed face within ``JOIN``, else into new
    people grown from groups of at least ``MIN_FACES`` unplaced faces. Returns (faces placed, people started)."""
    rows = catalog.db.execute("SELECT id, vec, person FROM faces").fetchall()
    if not rows:
        return 0, 0
    ids = np.array([r[0] for r in rows])
    vectors = decode([r[1] for r in rows])
    person = np.array([r[2] if r[2] is not None else -1 for r in rows])
    _join_known(vectors, person)
    started = 0
    loose = np.flatnonzero(person < 0)
    for group in _groups(vectors[loose]):
        started += 1
        person[loose[group]] = -2 - started  # a new person, numbered below
    with catalog.transaction() as db:
        new_ids = {}
        for mark in sorted({int(p) for p in person if p <= -2}):
            new_ids[mark] = db.execute("INSERT INTO people (name, created) VALUES (NULL, ?)", (time.time(),)).lastrowid
        changed = [(int(new_ids.get(int(p), p)), int(face)) for face, p, was in zip(ids, person, [r[2] for r in rows],
                                                                                      strict=True)
                   if p != -1 and was is None]
        db.executemany("UPDATE faces SET person = ? WHERE id = ?", changed)
    return len(changed), started


def _join_known(vectors: np.ndarray, person: np.ndarray) -> int:
    """Unplaced faces join the person of their nearest placed face within JOIN (in place; returns how many)."""
    known, loose = np.flatnonzero(person >= 0), np.flatnonzero(person < 0)
    if not len(known) or not len(loose):
        return 0
    index = faiss.IndexFlatL2(vectors.shape[1])
    index.add(vectors[known])
    squared, nearest = index.search(vectors[loose], 1)
    close = squared[:, 0] < JOIN**2
    person[loose[close]] = person[known[nearest[close, 0]]]
    return int(close.sum())


def _groups(vectors: np.ndarray) -> list[np.ndarray]:
    """DBSCAN on the unplaced faces: a face with MIN_FACES - 1 others within JOIN is a core; cores within JOIN of
    each other, and the faces within JOIN of a core, make one group (FAISS range search: no n x n matrix)."""
    if len(vectors) < MIN_FACES:
        return []
    index = faiss.IndexFlatL2(vectors.shape[1])
    index.add(vectors)
    limits, _, found = index.range_search(vectors, JOIN**2)
    near = [found[limits[i]: limits[i + 1]] for i in range(len(vectors))]  # each face's neighbours, itself too
    core = np.array([len(n) >= MIN_FACES for n in near])
    label = np.full(len(vectors), -1)
    groups = []
    for seed in np.flatnonzero(core):
        if label[seed] >= 0:
            continue
        members, frontier = [], [seed]
        label[seed] = len(groups)
        while frontier:
            face = frontier.pop()
            members.append(face)
            if not core[face]:
                continue
            for other in near[face]:
                if label[other] < 0:
                    label[other] = len(groups)
                    frontier.append(other)
        groups.append(np.array(sorted(members)))
    return groups


def people(catalog: Catalog) -> list[Person]:
    """Everyone found, named first, then by how many faces."""
    sql = ("SELECT p.id, p.name, COUNT(fa.id) FROM people p JOIN faces fa ON fa.person = p.id GROUP BY p.id "
           "ORDER BY p.name IS NULL, COUNT(fa.id) DESC, p.id")
    out = []
    for person_id, name, count in catalog.db.execute(sql).fetchall():
        rows = catalog.db.execute(
            "SELECT fa.id, f.path FROM faces fa JOIN files f ON f.hash = fa.hash AND f.status = 'ok' "
            "WHERE fa.person = ? ORDER BY fa.w * fa.h DESC, f.path", (person_id,)).fetchall()
        if rows:
            out.append(Person(person_id, name, count, list(dict.fromkeys(path for _, path in rows)), rows[0][0]))
    return out


def unsorted_faces(catalog: Catalog) -> int:
    return catalog.db.execute("SELECT COUNT(*) FROM faces WHERE person IS NULL").fetchone()[0]


def name(catalog: Catalog, person_id: int, new_name: str) -> None:
    """Give a person a name (the name then works in searches: "Anna at the beach", --person Anna)."""
    new_name = " ".join(new_name.split())
    if not new_name:
        raise FrameFindError("a person's name cannot be empty")
    _check(catalog, person_id)
    taken = catalog.db.execute("SELECT id FROM people WHERE name = ? COLLATE NOCASE AND id != ?",
                               (new_name, person_id)).fetchone()
    if taken:
        raise FrameFindError(f"{new_name!r} already names person {taken[0]} (merge them: people merge {taken[0]} "
                             f"{person_id})")
    with catalog.transaction() as db:
        db.execute("UPDATE people SET name = ? WHERE id = ?", (new_name, person_id))


def merge(catalog: Catalog, keep: int, other: int) -> None:
    """``other``'s faces become ``keep``'s (the user says they are one person); ``keep`` keeps its name, or takes
    ``other``'s when it has none."""
    if keep == other:
        raise FrameFindError(f"person {keep}: cannot be merged with itself")
    kept, gone = _check(catalog, keep), _check(catalog, other)
    with catalog.transaction() as db:
        db.execute("UPDATE faces SET person = ? WHERE person = ?", (keep, other))
        db.execute("DELETE FROM people WHERE id = ?", (other,))
        if kept is None and gone is not None:
            db.execute("UPDATE people SET name = ? WHERE id = ?", (gone, keep))


def forget(catalog: Catalog, person_id: int) -> int:
    """Remove a person and their face data (descriptors and boxes); their photos stay in the library and are not
    looked at for faces again. Returns how many faces were removed."""
    _check(catalog, person_id)
    with catalog.transaction() as db:
        removed = db.execute("DELETE FROM faces WHERE person = ?", (person_id,)).rowcount
        db.execute("DELETE FROM people WHERE id = ?", (person_id,))
    return removed


def person_named(catalog: Catalog, words: str) -> int | None:
    """The id of the person a name (any case) belongs to."""
    row = catalog.db.execute("SELECT id FROM people WHERE name = ? COLLATE NOCASE", (words.strip(),)).fetchone()
    return row[0] if row else None


def _check(catalog: Catalog, person_id: int) -> str | None:
    row = catalog.db.execute("SELECT name FROM people WHERE id = ?", (person_id,)).fetchone()
    if row is None:
        raise FrameFindError(f"person {person_id}: no such person in this library (framefind people lists them)")
    return row[0]


class People:
    """``Library.people``: who is in the pictures, and what the user says about them (the CLI, the REST API and
    the web app call these)."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def list(self) -> list[Person]:
        return people(self.catalog)

    def unsorted(self) -> int:
        """Faces not in any person yet (seen once; they start a person when seen again)."""
        return unsorted_faces(self.catalog)

    def name(self, person_id: int, new_name: str) -> None:
        name(self.catalog, person_id, new_name)

    def merge(self, keep: int, other: int) -> None:
        merge(self.catalog, keep, other)

    def forget(self, person_id: int) -> int:
        return forget(self.catalog, person_id)

    def face(self, face_id: int) -> tuple[str, str, float | None, tuple[float, float, float, float]]:
        """(path, kind, time in a video or None, box as fractions) of a face, for its crop."""
        row = self.catalog.db.execute(
            "SELECT f.path, c.kind, fa.at, fa.x, fa.y, fa.w, fa.h FROM faces fa JOIN contents c ON c.hash = fa.hash "
            "JOIN files f ON f.hash = fa.hash AND f.status = 'ok' WHERE fa.id = ? ORDER BY f.path LIMIT 1",
            (face_id,)).fetchone()
        if row is None:
            raise FrameFindError(f"face {face_id}: no such face in this library")
        return row[0], row[1], row[2], tuple(row[3:])
