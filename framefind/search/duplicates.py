"""Near-duplicate groups: resized, recompressed or cropped copies of an image; re-encoded or trimmed
copies of a video. Nothing is ever deleted; this only reports.

Images are compared by their image-space vectors (EfficientNet-Lite0 features for the default model).
Measured on scikit-image photos and Debian wallpapers with half-size, 80 % crop and JPEG q30 copies:
copy-to-original cosine 0.85-0.99 (crops lowest), distinct pictures at most 0.70, so the default
threshold is 0.85. Videos are judged on several segments, aligned in order (as reverse video search
aligns them): two videos that only share a black first frame are not duplicates, since the mean
similarity along the alignment, not the best single segment, must pass the threshold.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from framefind.search.moments import Hit, align, on_disk
from framefind.search.results import NearDuplicate, key_of
from framefind.store.catalog import Catalog, ItemInfo
from framefind.store.filtering import Filters, item_ids_where
from framefind.store.vectorstore import VectorStore

THRESHOLD = 0.85
NEIGHBOURS = 10
SLACK = 1e-4  # far above what summing 1,280 float32 products in another order can change

VectorsOf = Callable[[str, str, list[int]], tuple[np.ndarray, np.ndarray]]  # (model id, space, ids) -> (ids, vectors)


def find_duplicates(catalog: Catalog, store: VectorStore, space: str, threshold: float = THRESHOLD,
                    kinds: tuple[str, ...] = ("image", "video")) -> list[list[ItemInfo]]:
    """Groups of two or more contents (each with every path it has) that are near-duplicates."""
    groups = _UnionFind()
    infos: dict[str, ItemInfo] = {}
    if "image" in kinds:
        for a, b in _image_pairs(catalog, store, space, threshold, infos):
            groups.join(a, b)
    if "video" in kinds:
        for a, b in _video_pairs(catalog, store, space, threshold, infos):
            groups.join(a, b)
    out = [sorted((infos[c] for c in members), key=lambda info: info.paths[0]) for members in groups.sets()]
    # Identical bytes under several paths are one content: a group of their own.
    out += [[info] for content, info in infos.items() if len(info.paths) > 1 and not groups.has(content)]
    return sorted(out, key=lambda group: group[0].paths[0])


def as_rows(groups: list[list[ItemInfo]]) -> list[list[dict]]:
    """Groups as the CLI's --json and the REST API print them: one row per file, keyed by its content
    (a whole file: a video's key has no time range)."""
    return [[{"path": path, "kind": info.kind, "key": info.content, "same_bytes": i > 0}
             for info in group for i, path in enumerate(info.paths)] for group in groups]


def _neighbours(catalog: Catalog, store: VectorStore, space: str, kind: str,
                threshold: float) -> tuple[dict[int, ItemInfo], list[tuple[int, int]]]:
    """Live items of ``kind`` and the pairs of them at or above ``threshold`` (one batched search)."""
    allowed = item_ids_where(catalog, store.model_id, Filters(kinds=(kind,)))
    by_id = on_disk(catalog.item_infos(allowed.tolist()))
    ids, vectors = catalog.vectors(store.model_id, space, sorted(by_id))
    if len(ids) < 2:
        return by_id, []
    scores, found = store.search(space, vectors, NEIGHBOURS + 1, ids)
    pairs = [(int(a), int(b)) for a, row_s, row_i in zip(ids, scores, found, strict=True)
             for s, b in zip(row_s, row_i, strict=True) if b >= 0 and b != a and s >= threshold]
    return by_id, pairs


Pairs = list[tuple[str, str]]  # content hashes


def _image_pairs(catalog: Catalog, store: VectorStore, space: str, threshold: float,
                 infos: dict[str, ItemInfo]) -> Pairs:
    by_id, pairs = _neighbours(catalog, store, space, "image", threshold)
    for info in by_id.values():
        infos[info.content] = info
    return [(by_id[a].content, by_id[b].content) for a, b in pairs if a in by_id and b in by_id]


def _video_pairs(catalog: Catalog, store: VectorStore, space: str, threshold: float,
                 infos: dict[str, ItemInfo]) -> Pairs:
    """Videos whose segments, aligned in time order, match on average at ``threshold`` or more."""
    by_id, pairs = _neighbours(catalog, store, space, "video", threshold)
    candidates = {tuple(sorted((by_id[a].content, by_id[b].content))) for a, b in pairs
                  if a in by_id and b in by_id and by_id[a].content != by_id[b].content}
    segments: dict = {}
    for info in by_id.values():
        infos.setdefault(info.content, info)
    return [(a, b) for a, b in sorted(candidates)
            if videos_match(catalog, store.model_id, space, a, b, threshold, segments)]


def videos_match(catalog: Catalog, model_id: str, space: str, a: str, b: str, threshold: float = THRESHOLD,
                 cache: dict | None = None) -> bool:
    """Two videos (content hashes) are near-duplicates: their segments, aligned in order, match on
    average at ``threshold`` or more, on at least two segments when either has two."""
    segments = cache if cache is not None else {}
    for content in (a, b):
        if content not in segments:
            segments[content] = catalog.segments_of(content, model_id, space)[1]
    short, long = sorted((segments[a], segments[b]), key=len)
    if not len(short) or (len(short) < 2 and len(long) >= 2):
        return False  # one segment cannot show that two videos match on several
    return align(short @ long.T)[0] >= threshold


def fold_near_duplicates(catalog: Catalog, model_id: str, space: str, shown: list[tuple[Hit, bool]],
                         threshold: float = THRESHOLD, vectors_of: VectorsOf | None = None,
                         ) -> list[tuple[Hit, bool, list[NearDuplicate]]]:
    """Results that look nearly the same as a better one above them are listed under it instead of
    taking a place of their own (a resized copy, a screenshot, a re-encode). Images are compared by
    their vectors; moments of two videos only when the whole videos are near-duplicates.
    ``vectors_of``: where the vectors come from (default ``catalog.vectors``; a searcher's cache).

    Every pair is first judged at once by one matrix product; only pairs within ``SLACK`` of the
    threshold are judged again by their own dot product, exactly as one pair at a time did (a
    matrix product may sum in another order: the last bits may differ, the decisions may not)."""
    ids, vectors = (vectors_of or catalog.vectors)(model_id, space, [hit[1].item_id for hit, _ in shown])
    row_of = {item_id: row for row, item_id in enumerate(ids.tolist())}
    none = len(ids)  # the row of an item without a vector: close to nothing
    close = np.zeros((none + 1, none + 1), bool)
    if none:
        close[:none, :none] = vectors @ vectors.T >= threshold - SLACK
    rows = [row_of.get(hit[1].item_id, none) for hit, _ in shown]
    # a hit close to no hit above it is kept without looking further (most are)
    alone = ~np.tril(close[np.ix_(rows, rows)], -1).any(axis=1) if rows else []
    kept: list[tuple[Hit, bool, list[NearDuplicate]]] = []
    kept_rows: list[int] = []
    segments: dict = {}
    for (hit, pinned), row, lonely in zip(shown, rows, alone, strict=True):
        info = hit[1]
        for (home, _, near), other in ([] if lonely else zip(kept, kept_rows, strict=True)):
            if (not close[row, other] or home[1].kind != info.kind or home[1].content == info.content
                    or float(vectors[row] @ vectors[other]) < threshold):
                continue
            if info.kind == "image" or videos_match(catalog, model_id, space, home[1].content, info.content,
                                                    threshold, segments):
                near.append(NearDuplicate(str(key_of(info)), info.paths[0], round(hit[0], 4)))
                break
        else:
            kept.append((hit, pinned, []))
            kept_rows.append(row)
    return kept


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def join(self, a: str, b: str) -> None:
        self.parent[self.find(a)] = self.find(b)

    def has(self, x: str) -> bool:
        return x in self.parent

    def sets(self) -> list[list[str]]:
        out: dict[str, list[str]] = {}
        for x in list(self.parent):
            out.setdefault(self.find(x), []).append(x)
        return [members for members in out.values() if len(members) > 1]

