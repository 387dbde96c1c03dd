"""Evaluation datasets for ``framefind eval``, and mapping a library's items back to their labels.

Three formats:

- a folder of class subfolders (Caltech101 / Kinetics layout): ``DIR/CLASS/...`` media files;
- a CSV with the columns ``path`` and ``label`` (and usually ``id``), the Kinetics-subset format;
  relative paths are relative to the CSV's folder;
- a golden-query JSON file for text queries::

      {"a cup of coffee": ["coffee.png"], "a rocket": ["rocket.jpg"]}
      {"root": "photos", "gallery": ["photos"],
       "queries": [{"text": "a cup of coffee", "relevant": ["coffee.png", "clips/cafe.mp4#12-18"]}]}

  ``root`` (default: the file's folder) anchors relative paths; ``gallery`` (default: ``[root]``) is
  what gets indexed and searched. A relevant entry is a path, ``PATH#START-END`` (seconds: a video
  moment, matched by overlap once video segments are indexed) or ``class:LABEL`` (every gallery item
  of that class, when the gallery is a class dataset given as DATASET and the JSON as ``--queries``).

``framefind feedback --export F`` (and ``Library.golden_queries``) writes the thumbs up users gave in
this format: each query with the results liked for it, ``root`` "/" and the library's folders as gallery.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from framefind.errors import FrameFindError
from framefind.linalg import l2_normalize
from framefind.media.files import media_kind, scan
from framefind.search.results import split_moment
from framefind.store.catalog import Catalog


@dataclass(frozen=True)
class Unit:
    """One gallery or query element: a file (images; a whole video), or a video segment."""

    key: str  # the path, or PATH#START-END for a segment
    paths: tuple[str, ...]  # every file with this content (the first is the canonical one)
    label: str | None = None
    start: float | None = None
    end: float | None = None


@dataclass(frozen=True)
class Target:
    """What a golden query counts as relevant: a file, a moment of a video, or a whole class."""

    path: str | None = None
    start: float | None = None
    end: float | None = None
    label: str | None = None

    def matches(self, unit: Unit) -> bool:
        if self.label is not None:
            return unit.label == self.label
        if self.path not in unit.paths:
            return False
        if self.start is None or unit.start is None or unit.end is None:
            return True
        return unit.start < self.end and self.start < unit.end  # the time ranges overlap


@dataclass
class TextQuery:
    text: str
    targets: list[Target]


@dataclass
class Dataset:
    source: str
    kind: str  # "classes" (labelled files) or "golden" (text queries)
    roots: list[str]  # what to index
    entries: list[tuple[str, str]] = field(default_factory=list)  # (resolved path, label), classes only
    queries: list[TextQuery] = field(default_factory=list)  # golden only
    notes: list[str] = field(default_factory=list)  # skipped input, one line each


def load_dataset(path: str | Path) -> Dataset:
    """Read a dataset in any of the three formats (chosen by what ``path`` is), or fail in one line."""
    path = Path(path).expanduser()
    if not path.exists():
        raise FrameFindError(f"{path}: no such file or directory")
    if path.is_dir():
        return _load_folder(path)
    if path.suffix.lower() == ".csv":
        return _load_csv(path)
    if path.suffix.lower() == ".json":
        return _load_golden(path)
    raise FrameFindError(f"{path}: unknown dataset format (give a folder of class subfolders, "
                         "a .csv with id,path,label columns, or a .json golden-query file)")


def _load_folder(path: Path) -> Dataset:
    classes = sorted(d for d in path.iterdir() if d.is_dir() and not d.name.startswith("."))
    data = Dataset(str(path), "classes", [])
    for folder in classes:
        files = [stat.path for stat in scan([folder])]
        if files:
            data.roots.append(str(folder.resolve()))
            data.entries += [(file, folder.name) for file in files]
    if not data.entries:
        raise FrameFindError(f"{path}: no class subfolders with images in them (expected {path}/CLASS/IMAGE)")
    loose = [p.name for p in path.iterdir() if p.is_file() and media_kind(p)]
    if loose:
        data.notes.append(f"{len(loose)} file(s) directly in {path} belong to no class and are left out")
    return data


def _load_csv(path: Path) -> Dataset:
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.DictReader(fh))
            columns = set(rows[0]) if rows else set()
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise FrameFindError(f"{path}: cannot read CSV ({exc})") from None
    if not {"path", "label"} <= columns:
        raise FrameFindError(f"{path}: a dataset CSV needs a header with path and label columns (id,path,label); "
                             f"found {', '.join(sorted(c for c in columns if c)) or 'no rows'}")
    data = Dataset(str(path), "classes", [])
    seen = set()
    for line, row in enumerate(rows, 2):
        file, label = (row.get("path") or "").strip(), (row.get("label") or "").strip()
        if not file or not label:
            data.notes.append(f"skipped {path}:{line}: empty path or label")
            continue
        full = (path.parent / file).expanduser()
        if not full.is_file():
            data.notes.append(f"skipped {file} ({path.name} line {line}): no such file")
            continue
        resolved = str(full.resolve())
        if resolved in seen:
            data.notes.append(f"skipped {file} ({path.name} line {line}): listed twice")
            continue
        seen.add(resolved)
        data.entries.append((resolved, label))
        data.roots.append(resolved)
    if not data.entries:
        raise FrameFindError(f"{path}: none of the files it lists exist")
    return data


def _load_golden(path: Path) -> Dataset:
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FrameFindError(f"{path}: not a readable golden-query JSON file ({exc})") from None
    if not isinstance(spec, dict):
        raise FrameFindError(f"{path}: a golden-query file is a JSON object (query -> list of relevant paths)")
    queries = spec.get("queries", spec)
    if isinstance(queries, dict):
        queries = [{"text": text, "relevant": relevant} for text, relevant in queries.items()]
    root = (path.parent / str(spec.get("root", "."))).expanduser() if "queries" in spec else path.parent
    data = Dataset(str(path), "golden", [])
    for number, query in enumerate(queries if isinstance(queries, list) else [None], 1):
        text = query.get("text") if isinstance(query, dict) else None
        relevant = query.get("relevant") if isinstance(query, dict) else None
        if not isinstance(text, str) or not text.strip() or not isinstance(relevant, list) or not relevant \
                or not all(isinstance(r, str) and r.strip() for r in relevant):
            raise FrameFindError(f"{path}: query {number} needs a non-empty text and a non-empty list of "
                                 "relevant paths (\"a cup of coffee\": [\"coffee.png\"])")
        data.queries.append(TextQuery(text.strip(), [parse_target(r.strip(), root) for r in relevant]))
    if not data.queries:
        raise FrameFindError(f"{path}: no queries in the golden-query file")
    gallery = spec.get("gallery", [str(root)]) if "queries" in spec else [str(root)]
    for entry in gallery if isinstance(gallery, list) else [gallery]:
        full = (root / str(entry)).expanduser()
        if not full.exists():
            raise FrameFindError(f"{path}: gallery {entry} does not exist")
        data.roots.append(str(full.resolve()))
    for query in data.queries:
        for target in query.targets:
            if target.path is not None and not Path(target.path).is_file():
                data.notes.append(f"query {query.text!r}: relevant file {target.path} does not exist")
    return data


def parse_target(text: str, root: Path) -> Target:
    """``class:LABEL``, ``PATH#START-END`` (seconds) or ``PATH``, relative to ``root``."""
    if text.startswith("class:"):
        return Target(label=text.removeprefix("class:"))
    path, start, end = split_moment(text)
    full = (root / path).expanduser()
    return Target(path=str(full.resolve() if full.exists() else full), start=start, end=end)


# -- library items -> units -------------------------------------------------------------------------
ItemRow = tuple[int, float | None, float | None]  # (item id, start, end)


def item_rows(catalog: Catalog, model_id: str, paths: list[str]) -> dict[str, list[ItemRow]]:
    """Path -> [(item id, start, end)] of one model, for the indexed files among ``paths`` (via content hash)."""
    found: dict[str, list] = {}
    sql = ("SELECT f.path, i.id, i.start, i.end FROM files f JOIN items i ON i.hash = f.hash AND i.model = ? "
           "WHERE f.status = 'ok' AND f.path IN ({}) ORDER BY f.path, i.id")
    for path, item_id, start, end in catalog.rows_in(sql, (model_id,), paths):
        found.setdefault(path, []).append((item_id, start, end))
    return found


def labelled_units(catalog: Catalog, model_id: str, space: str, entries: list[tuple[str, str]],
                   notes: list[str]) -> tuple[list[Unit], np.ndarray]:
    """One unit per labelled file with its vector (a video: the normalised mean of its segments)."""
    rows = item_rows(catalog, model_id, [path for path, _ in entries])
    ids = sorted({item for items in rows.values() for item, _, _ in items})
    got_ids, vecs = catalog.vectors(model_id, space, ids)
    by_id = {int(i): row for i, row in zip(got_ids, vecs, strict=True)}
    units, means = [], []
    for path, label in entries:
        items = [by_id[item] for item, _, _ in rows.get(path, []) if item in by_id]
        if not items:
            notes.append(f"skipped {path}: not indexed")
            continue
        units.append(Unit(path, (path,), label))
        means.append(np.mean(items, axis=0))
    return units, l2_normalize(np.array(means, dtype=np.float32).reshape(len(means), -1))


def item_units(catalog: Catalog, model_id: str, space: str, roots: list[str]) -> tuple[list[Unit], np.ndarray]:
    """One unit per library item under ``roots`` (an image, or a video segment), with its vector."""
    paths = sorted(path for path, row in catalog.files_under(roots).items() if row.status == "ok")
    by_item: dict[int, tuple[list[str], float | None, float | None]] = {}
    for path, items in item_rows(catalog, model_id, paths).items():
        for item_id, start, end in items:
            by_item.setdefault(item_id, ([], start, end))[0].append(path)
    ids, vecs = catalog.vectors(model_id, space, sorted(by_item))
    units = []
    for item_id in ids:
        item_paths, start, end = by_item[int(item_id)]
        key = item_paths[0] if start is None else f"{item_paths[0]}#{start:g}-{end:g}"
        units.append(Unit(key, tuple(item_paths), None, start, end))
    return units, vecs


# -- a model's evaluation task from an indexed library ------------------------------------------------
def library_task(library, dataset: Dataset, queries: Dataset | None):
    """(Task, gallery units) for ``dataset`` (+ an explicit query set) from a library that indexed them."""
    from framefind.eval.runner import leave_one_out, query_set, text_queries

    model, catalog, model_id = library.model, library.catalog, library.model_id
    notes: list[str] = []
    golden = dataset if dataset.kind == "golden" else queries if queries and queries.kind == "golden" else None
    if golden is not None:
        if dataset.kind == "golden":
            units, vectors = item_units(catalog, model_id, model.words_space, dataset.roots)
        else:
            units, vectors = labelled_units(catalog, model_id, model.words_space, dataset.entries, notes)
        relevant = [np.array([row for row, unit in enumerate(units) if any(t.matches(unit) for t in q.targets)],
                             dtype=np.int64) for q in golden.queries]
        texts = [q.text for q in golden.queries]
        task = text_queries(vectors, relevant, model.embed_texts(texts) if texts else vectors[:0], texts)
    elif queries is not None:
        units, vectors = labelled_units(catalog, model_id, model.image_space, dataset.entries, notes)
        q_units, q_vectors = labelled_units(catalog, model_id, model.image_space, queries.entries, notes)
        task = query_set(vectors, [u.label for u in units], [u.key for u in units], q_vectors,
                         [u.label for u in q_units], [u.key for u in q_units])
    else:
        units, vectors = labelled_units(catalog, model_id, model.image_space, dataset.entries, notes)
        task = leave_one_out(vectors, [u.label for u in units], [u.key for u in units])
    task.notes[:0] = notes
    return task, units
