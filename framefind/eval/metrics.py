"""Retrieval metrics over one ranked result list, as pure numpy functions.

Every function takes ``rel``: the relevance (bool/0-1) of the results of one query, best first,
and where needed ``n_relevant``: how many relevant items the gallery holds for that query (found or
not). Results missing from a short list count as misses (``precision_at_k`` divides by ``k``).
When ``n_relevant`` is 0 the recall-type metrics are undefined and return NaN: evaluation leaves such
queries out (a class with a single item has nothing to find in leave-one-out).

Two definitions come from the Towhee reverse-video-search notebook, whose numbers the issue quotes:

- its *mHR* is hits in the top-k / relevant count, i.e. ``recall_at_k``; framefind's ``mhr@k`` is
  ``hit_ratio`` = hits / min(k, relevant), which reaches 1.0 when the top-k is all relevant even if a
  class holds more than k items;
- its *mAP* averages precision@i over **every** rank i = 1..k, hit or not: ``towhee_average_precision``
  (key ``map_towhee@k``). Standard AP@k (key ``map@k``) averages precision only at the ranks of hits,
  divided by min(k, relevant): ``average_precision``.
"""

from __future__ import annotations

import math

import numpy as np

DEFINITIONS = {
    "map": "mean over queries of standard AP@k: sum of precision@i at the ranks i<=k of hits / min(k, relevant)",
    "map_towhee": "mean over queries of the Towhee notebook's AP: mean of precision@i over every rank i=1..k",
    "mhr": "mean hit ratio: hits in the top-k / min(k, relevant)",
    "recall": "hits in the top-k / relevant (the Towhee notebook's 'mHR')",
    "precision": "hits in the top-k / k",
    "ndcg": "binary-gain nDCG@k: DCG of the ranking / DCG of the ideal ranking (min(k, relevant) hits first)",
    "mrr": "mean reciprocal rank of the first hit within the top-k (0 when there is none)",
}


def _top(rel, k: int) -> np.ndarray:
    if k < 1:
        raise ValueError(f"k must be at least 1 (got {k})")
    return np.asarray(rel, dtype=bool)[:k]


def hits_at_k(rel, k: int) -> int:
    return int(_top(rel, k).sum())


def precision_at_k(rel, k: int) -> float:
    return hits_at_k(rel, k) / k


def recall_at_k(rel, n_relevant: int, k: int) -> float:
    return hits_at_k(rel, k) / n_relevant if n_relevant else math.nan


def hit_ratio(rel, n_relevant: int, k: int) -> float:
    """Hits in the top-k / min(k, relevant): 1.0 means the top-k holds as many hits as it could."""
    return hits_at_k(rel, k) / min(k, n_relevant) if n_relevant else math.nan


def average_precision(rel, n_relevant: int, k: int) -> float:
    """Standard AP@k: sum of precision@i at each hit rank i <= k, divided by min(k, relevant)."""
    if not n_relevant:
        return math.nan
    top = _top(rel, k)
    ranks = np.flatnonzero(top) + 1
    return float((np.arange(1, len(ranks) + 1) / ranks).sum() / min(k, n_relevant))


def towhee_average_precision(rel, k: int) -> float:
    """The Towhee notebook's AP: the mean of precision@i over every rank i of the returned top-k."""
    top = _top(rel, k)
    if not len(top):
        return 0.0
    return float((np.cumsum(top) / np.arange(1, len(top) + 1)).mean())


def reciprocal_rank(rel, k: int) -> float:
    hits = np.flatnonzero(_top(rel, k))
    return 1.0 / (hits[0] + 1) if len(hits) else 0.0


def ndcg_at_k(rel, n_relevant: int, k: int) -> float:
    """Binary-gain nDCG@k (gain 1/log2(rank+1)); the ideal ranking puts min(k, relevant) hits first."""
    if not n_relevant:
        return math.nan
    top = _top(rel, k)
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    return float(discounts[: len(top)][top].sum() / discounts[: min(k, n_relevant)].sum())


def query_metrics(rel, n_relevant: int, k: int) -> dict[str, float]:
    """Every metric of one query, keyed ``NAME@k`` (e.g. ``map@10``)."""
    values = {
        "map": average_precision(rel, n_relevant, k),
        "map_towhee": towhee_average_precision(rel, k),
        "mhr": hit_ratio(rel, n_relevant, k),
        "recall": recall_at_k(rel, n_relevant, k),
        "precision": precision_at_k(rel, k),
        "ndcg": ndcg_at_k(rel, n_relevant, k),
        "mrr": reciprocal_rank(rel, k),
    }
    return {f"{name}@{k}": value for name, value in values.items()}


def mean_metrics(rows: list[dict[str, float]]) -> dict[str, float]:
    """Mean of each key over queries (NaN, i.e. undefined, entries left out)."""
    if not rows:
        return {}
    out = {}
    for key in rows[0]:
        values = [r[key] for r in rows if not math.isnan(r[key])]
        out[key] = float(np.mean(values)) if values else math.nan
    return out


def precision_recall_curve(rels: list[np.ndarray], n_relevant: list[int], depth: int) -> tuple[list, list]:
    """Mean precision@r and mean recall@r over queries, for cut-offs r = 1..depth."""
    precision = np.zeros(depth)
    recall = np.zeros(depth)
    for rel, n in zip(rels, n_relevant, strict=True):
        hits = np.zeros(depth)
        top = np.asarray(rel, dtype=bool)[:depth]
        hits[: len(top)] = np.cumsum(top)
        hits[len(top):] = hits[len(top) - 1] if len(top) else 0
        precision += hits / np.arange(1, depth + 1)
        recall += hits / n
    count = max(len(rels), 1)
    return (precision / count).tolist(), (recall / count).tolist()


def bootstrap_ci(values, resamples: int = 2000, confidence: float = 0.95, seed: int = 0) -> tuple[float, float, float]:
    """(mean, low, high): the mean of per-query ``values`` and its percentile bootstrap confidence interval.

    Queries are resampled with replacement ``resamples`` times (a fixed ``seed``: the same input gives the
    same interval); NaN (undefined) values are left out first. No values give NaN for all three.
    """
    if resamples < 1 or not 0 < confidence < 1:
        raise ValueError(f"need resamples >= 1 and 0 < confidence < 1 (got {resamples}, {confidence})")
    x = np.asarray(values, dtype=np.float64).ravel()
    x = x[~np.isnan(x)]
    if not len(x):
        return math.nan, math.nan, math.nan
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, len(x), size=(resamples, len(x)))].mean(axis=1)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(x.mean()), float(low), float(high)
