"""Video moments: frame-level scoring of segment hits, merging adjacent segments, reverse video search.

A segment is found through its pooled vector; its score is then the best of its sampled frames
(so a short action inside an 8 s window is not averaged away) and that frame's time is the moment's
``frame_time``. Adjacent segments of one video that match about as well merge into one moment.

Reverse video search samples the query video like an indexed one and aligns its segments with each
candidate video's segments in time order (a monotone alignment, like DTW without the stretching
cost): a video with the same shots in another order scores lower than one in the same order, which
the whole-video average vector cannot tell apart.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import numpy as np

from framefind.linalg import l2_normalize
from framefind.models.base import Model
from framefind.store.catalog import Catalog, ItemInfo
from framefind.store.filtering import Filters, item_ids_where
from framefind.store.vectorstore import VectorStore

MERGE_MARGIN = 0.05  # neighbours within this score of a moment's best join it
CANDIDATES_PER_SEGMENT = 50


Hit = tuple[float, ItemInfo]  # (score, what was found): video moments carry their own start/end/frame_time


def keep_existing(info: ItemInfo) -> bool:
    """Drop the item's paths that no longer exist; False when none is left. A file deleted since the
    last index run is never a result (a few ``stat`` calls, cheaper than a result nobody can open)."""
    info.paths = [path for path in info.paths if os.path.exists(path)]
    return bool(info.paths)


def on_disk(infos: dict[int, ItemInfo]) -> dict[int, ItemInfo]:
    """The items that still have a file on disk."""
    return {item_id: info for item_id, info in infos.items() if keep_existing(info)}


def score_hits(catalog: Catalog, space: str, query: np.ndarray, hits: list[tuple[float, int]],
               infos: dict[int, ItemInfo]) -> list[Hit]:
    """Each live hit with its score; video segments are re-scored by their best frame (one query for all)."""
    frames = catalog.frames([i for _, i in hits if i in infos and infos[i].kind == "video"], space)
    out = []
    for score, item_id in hits:
        info = infos.get(item_id)
        if info is None:  # no live file any more (deleted since the index was written)
            continue
        if item_id in frames:
            times, vectors = frames[item_id]
            frame_scores = vectors @ query
            best = int(np.argmax(frame_scores))
            score = max(score, float(frame_scores[best]))
            info = replace(info, frame_time=round(float(times[best]), 3))
        out.append((score, info))
    return out


def merge_adjacent(scored: list[Hit]) -> list[Hit]:
    """Join touching segments of the same video whose scores are close into one moment."""
    by_video: dict[str, list[Hit]] = {}
    merged = []
    for hit in scored:
        if hit[1].kind == "video":
            by_video.setdefault(hit[1].content, []).append(hit)
        else:
            merged.append(hit)
    for hits in by_video.values():
        hits.sort(key=lambda h: h[1].start)
        run = [hits[0]]
        for hit in hits[1:]:
            best = max(h[0] for h in run)
            touching = abs(hit[1].start - run[-1][1].end) < 1e-3
            if touching and hit[0] >= best - MERGE_MARGIN and run[-1][0] >= max(best, hit[0]) - MERGE_MARGIN:
                run.append(hit)
            else:
                merged.append(_join(run))
                run = [hit]
        merged.append(_join(run))
    return sorted(merged, key=lambda h: -h[0])


def _join(run: list[Hit]) -> Hit:
    score, info = max(run, key=lambda h: h[0])
    return score, replace(info, start=run[0][1].start, end=run[-1][1].end)


def align(similarity: np.ndarray) -> tuple[float, list[int]]:
    """Best monotone alignment of query segments (rows) to video segments (columns).

    Each query segment picks one video segment, never earlier than the previous pick. Returns the
    mean similarity along the alignment and the chosen column of every row.
    """
    n_query, n_video = similarity.shape
    total = similarity[0].copy()
    back = np.zeros((n_query, n_video), dtype=np.int64)
    for i in range(1, n_query):
        best_before = np.maximum.accumulate(total)  # best alignment of rows < i ending at a column <= j
        arg_before = _running_argmax(total)
        total = similarity[i] + best_before
        back[i] = arg_before
    columns = [int(np.argmax(total))]
    for i in range(n_query - 1, 0, -1):
        columns.append(int(back[i][columns[-1]]))
    return float(total.max()) / n_query, columns[::-1]


def _running_argmax(values: np.ndarray) -> np.ndarray:
    best = np.maximum.accumulate(values)
    is_new_best = np.r_[True, values[1:] >= best[:-1]] & (values == best)
    return np.maximum.accumulate(np.where(is_new_best, np.arange(len(values)), 0))


def video_query_vectors(model: Model, path: str | Path) -> np.ndarray:
    """Pooled ``image_space`` vectors of a query video's segments, sampled as the library's videos were."""
    from framefind.media.video import pool_segments, scan_video

    scan = scan_video(path, model.image_size, model.embed_images, model.sampling, fit=model.preprocess.fit)
    return pool_segments(scan, model.sampling.window)[2][model.image_space]


def rank_videos(catalog: Catalog, store: VectorStore, space: str, query: np.ndarray, k: int,
                method: str = "aligned", allowed: np.ndarray | None = None) -> list[Hit]:
    """Library videos most like the query segments: (score, best segment with the matched span).

    ``method``: ``aligned`` (order-aware, default) or ``average`` (cosine of the mean vectors, the
    whole-video baseline). ``allowed``: the video items that may match (default: every video).
    """
    if allowed is None:
        allowed = item_ids_where(catalog, store.model_id, Filters(kinds=("video",)))
    _, ids = store.search(space, query, CANDIDATES_PER_SEGMENT, allowed)
    infos = on_disk(catalog.item_infos(sorted({int(i) for i in ids.ravel() if i >= 0})))
    contents = {info.content: info for info in infos.values()}
    ranked = []
    for content, info in contents.items():
        segments, vectors = catalog.segments_of(content, store.model_id, space)
        similarity = query @ vectors.T  # query segments x video segments
        if method == "average":
            means = l2_normalize(np.stack([query.mean(axis=0), vectors.mean(axis=0)]))
            score, columns = float(means[0] @ means[1]), list(range(len(segments)))
        else:
            score, columns = align(similarity)
        best = segments[max(columns, key=lambda j: float(similarity[:, j].max()))]
        span = replace(info, item_id=best.item_id, start=segments[min(columns)].start,
                       end=segments[max(columns)].end, frame_time=best.frame_time)
        ranked.append((score, span))
    return sorted(ranked, key=lambda h: -h[0])[:k]
