"""Which items a search may return: every filter becomes part of one SQL query for an allowed-id set.

The set goes into the vector search itself (FAISS's id selector), so a selective filter still
returns k results instead of k minus whatever the filter would have thrown away afterwards.

Dates are the capture time a file carries (EXIF, the video's own ``creation_time``), else the
file's modification time: a photo copied from a camera last week still counts as taken in 2019.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from framefind.store.catalog import Catalog, like_prefix

LABEL_RANK = 3  # an item "is" a label when it is among its classifier's top 3 (stored per item)
WHEN = "COALESCE(fc.taken, f.mtime_ns / 1e9)"  # epoch seconds


class DateSpan(Protocol):
    """A date filter (``search.dates.DateFilter``): [start, end) in epoch seconds and/or months of any year."""

    start: float | None
    end: float | None
    months: tuple[int, ...]


@dataclass(frozen=True)
class Filters:
    kinds: tuple[str, ...] = ()  # "image" and/or "video"; empty: both
    under: tuple[str, ...] = ()  # only files at or below these paths; empty: everywhere
    dates: DateSpan | None = None  # taken within this span
    min_duration: float | None = None  # seconds; a duration bound keeps videos only
    max_duration: float | None = None
    labels: tuple[str, ...] = ()  # words naming the classifier's labels ("dog": every dog breed); any of them
    places: tuple[str, ...] = ()  # place names (any case); all of them: taken there, or the file's own words name it
    people: tuple[str, ...] = ()  # people's names (any case); all of them in the picture (in a video: in the moment)

    @classmethod
    def of(cls, kinds: Iterable[str] = (), under: Iterable[str | Path] = (), **more) -> Filters:
        """Folders as the catalog records paths: absolute, links resolved."""
        return cls(tuple(kinds), tuple(str(Path(p).expanduser().resolve()) for p in under), **more)

    @property
    def active(self) -> bool:
        return bool(self.kinds or self.under or self.dates or self.labels or self.places or self.people
                    or self.min_duration is not None or self.max_duration is not None)


def item_ids_where(catalog: Catalog, model_id: str, filters: Filters,
                   label_names: Callable[[str], set[str]] = lambda word: {word}) -> np.ndarray:
    """Items of a model that pass every filter (``label_names``: a word -> the model's labels it names)."""
    sql = "SELECT i.id FROM items i JOIN contents c ON c.hash = i.hash WHERE i.model = ?"
    params: list = [model_id]
    kinds = list(filters.kinds)
    if filters.min_duration is not None or filters.max_duration is not None:
        kinds = [k for k in kinds or ["video"] if k == "video"]
        sql += " AND c.duration >= ? AND c.duration <= ?"
        params += [filters.min_duration or 0.0, filters.max_duration if filters.max_duration is not None else 1e18]
    if kinds:
        sql += f" AND c.kind IN ({','.join('?' * len(kinds))})"
        params += kinds
    files, file_params = _file_conditions(filters.under, filters.dates)
    if files:
        # Contents with a matching live file, found once (IN): 3.7x faster than EXISTS per item at 100k.
        sql += (" AND i.hash IN (SELECT f.hash FROM files f JOIN contents fc ON fc.hash = f.hash "
                f"WHERE f.status = 'ok' AND {files})")
        params += file_params
    if filters.labels:
        names = sorted(set().union(*(label_names(word) for word in filters.labels)))
        if not names:
            return np.zeros(0, np.int64)
        sql += (f" AND i.id IN (SELECT item_id FROM labels WHERE label IN ({','.join('?' * len(names))}))")
        params += names
    for name in filters.places:
        sql += f" AND i.hash IN ({PLACED})"
        params += [name.lower(), name.lower(), '"' + " ".join(re.findall(r"\w+", name)) + '"']
    for name in filters.people:
        sql += f" AND EXISTS ({PICTURED})"
        params.append(name)
    return np.array([r[0] for r in catalog.db.execute(sql, params)], dtype=np.int64)


# A named person's face in the item: in the picture, or within the moment of a video.
PICTURED = ("SELECT 1 FROM faces fa JOIN people p ON p.id = fa.person WHERE fa.hash = i.hash AND p.name = ? "
            "COLLATE NOCASE AND (fa.at IS NULL OR i.start IS NULL OR (fa.at >= i.start AND fa.at < i.end))")


# Contents taken at a place, named at its most precise level in this library ("Lisbon": the city, not every town of
# the Lisbon district; "Portugal": the country), or, when they have no GPS, whose own words (folder, name, caption,
# keywords) say it: a photo of the "Lisbon trip" folder whose GPS says Sintra is not in Lisbon.
PLACED = ("SELECT hash FROM place_names WHERE name = ? AND level = (SELECT level FROM place_names WHERE name = ? "
          "ORDER BY CASE level WHEN 'city' THEN 0 WHEN 'county' THEN 1 WHEN 'region' THEN 2 ELSE 3 END LIMIT 1) "
          "UNION SELECT t.hash FROM texts_fts JOIN texts t ON t.id = texts_fts.rowid WHERE texts_fts MATCH ? "
          "AND t.source = 'metadata' AND t.hash NOT IN (SELECT hash FROM places)")


def _file_conditions(under: Sequence[str], dates: DateSpan | None) -> tuple[str, list]:
    """SQL on a live file (``f``, its content ``fc``): below a folder, taken within the dates."""
    parts, params = [], []
    if under:
        parts.append("(" + " OR ".join("f.path = ? OR f.path LIKE ? ESCAPE '\\'" for _ in under) + ")")
        params += [p for root in under for p in (root, like_prefix(root))]
    if dates is not None and dates.start is not None:
        parts.append(f"{WHEN} >= ?")
        params.append(dates.start)
    if dates is not None and dates.end is not None:
        parts.append(f"{WHEN} < ?")
        params.append(dates.end)
    if dates is not None and dates.months:
        month = f"CAST(strftime('%m', {WHEN}, 'unixepoch', 'localtime') AS INTEGER)"
        parts.append(f"{month} IN ({','.join('?' * len(dates.months))})")
        params += list(dates.months)
    return " AND ".join(parts), params


def label_counts(catalog: Catalog, model_id: str) -> list[tuple[str, int]]:
    """The labels of a model's items, with how many items carry each, most first."""
    sql = ("SELECT l.label, COUNT(*) FROM labels l JOIN items i ON i.id = l.item_id WHERE i.model = ? "
           "GROUP BY l.label ORDER BY COUNT(*) DESC, l.label")
    return [(label, count) for label, count in catalog.db.execute(sql, (model_id,))]
