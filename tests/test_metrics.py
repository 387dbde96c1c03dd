"""Metric functions against hand-computed cases, including the Towhee notebook's mHR and mAP."""

from __future__ import annotations

import math

import numpy as np
import pytest

from framefind.eval.metrics import (
    average_precision,
    bootstrap_ci,
    hit_ratio,
    mean_metrics,
    ndcg_at_k,
    precision_at_k,
    precision_recall_curve,
    query_metrics,
    recall_at_k,
    reciprocal_rank,
    towhee_average_precision,
)

# Hits at ranks 1, 3 and 6 of 10; the gallery holds 4 relevant items.
REL = [1, 0, 1, 0, 0, 1, 0, 0, 0, 0]


def test_counting_metrics_by_hand():
    assert precision_at_k(REL, 10) == pytest.approx(3 / 10)
    assert precision_at_k(REL, 3) == pytest.approx(2 / 3)
    assert recall_at_k(REL, 4, 10) == pytest.approx(3 / 4)
    assert hit_ratio(REL, 4, 10) == pytest.approx(3 / 4)  # min(k, relevant) = 4
    assert reciprocal_rank(REL, 10) == 1.0
    assert reciprocal_rank([0, 0, 1], 10) == pytest.approx(1 / 3)
    assert reciprocal_rank([0, 0, 1], 2) == 0.0  # the first hit is below the cut-off


def test_standard_average_precision_by_hand():
    # precision at the hit ranks: 1/1, 2/3, 3/6; divided by min(k, relevant) = 4
    assert average_precision(REL, 4, 10) == pytest.approx((1 + 2 / 3 + 3 / 6) / 4)
    # k = 3 keeps the first two hits; min(3, 4) = 3
    assert average_precision(REL, 4, 3) == pytest.approx((1 + 2 / 3) / 3)
    assert average_precision([1, 1, 1], 3, 3) == 1.0


def test_ndcg_by_hand():
    dcg = 1 / math.log2(2) + 1 / math.log2(4) + 1 / math.log2(7)
    ideal = sum(1 / math.log2(i + 1) for i in range(1, 5))
    assert ndcg_at_k(REL, 4, 10) == pytest.approx(dcg / ideal)
    assert ndcg_at_k([1, 1, 0], 2, 3) == pytest.approx(1.0)


def test_towhee_notebook_map_averages_precision_over_every_rank():
    # The notebook: precisions.append(hit / (idx + 1)) at every rank, then their mean.
    expected = np.mean([1 / 1, 1 / 2, 2 / 3, 2 / 4, 2 / 5, 3 / 6, 3 / 7, 3 / 8, 3 / 9, 3 / 10])
    assert towhee_average_precision(REL, 10) == pytest.approx(expected)
    # Towhee's own doctest case: act = [1, 2, 3, 4, 5], pred = [1, 6, 2, 7, 8, 3, 9, 10, 4, 5]
    pred, act = [1, 6, 2, 7, 8, 3, 9, 10, 4, 5], {1, 2, 3, 4, 5}
    rel = [p in act for p in pred]
    hits = np.cumsum(rel)
    assert towhee_average_precision(rel, 10) == pytest.approx(np.mean(hits / np.arange(1, 11)))
    # ... and its mHR (hits / relevant count) is our recall@k: all 5 found
    assert recall_at_k(rel, 5, 10) == 1.0
    assert hit_ratio(rel, 5, 10) == 1.0


def test_issue_mhr_caps_the_denominator_at_k_but_notebook_mhr_does_not():
    rel = [1, 1, 1, 0, 1]
    assert hit_ratio(rel, 20, 5) == pytest.approx(4 / 5)  # the issue's mHR: hits / min(k, relevant)
    assert recall_at_k(rel, 20, 5) == pytest.approx(4 / 20)  # the notebook's mHR: hits / relevant


def test_no_relevant_items_is_undefined_not_zero():
    rel = [0, 0, 0]
    for value in (recall_at_k(rel, 0, 3), hit_ratio(rel, 0, 3), average_precision(rel, 0, 3), ndcg_at_k(rel, 0, 3)):
        assert math.isnan(value)
    assert precision_at_k(rel, 3) == 0.0
    assert reciprocal_rank(rel, 3) == 0.0
    assert towhee_average_precision(rel, 3) == 0.0
    assert towhee_average_precision([], 3) == 0.0


def test_k_larger_than_the_ranked_list():
    rel = [1, 0]  # only two results came back, k = 5, one relevant item exists
    assert precision_at_k(rel, 5) == pytest.approx(1 / 5)  # missing results are misses
    assert hit_ratio(rel, 1, 5) == 1.0
    assert average_precision(rel, 1, 5) == 1.0
    assert ndcg_at_k(rel, 1, 5) == 1.0
    assert towhee_average_precision(rel, 5) == pytest.approx((1 + 1 / 2) / 2)  # over the ranks returned
    with pytest.raises(ValueError):
        precision_at_k(rel, 0)


def test_query_metrics_keys_and_mean_skips_undefined():
    row = query_metrics(REL, 4, 10)
    assert set(row) == {"map@10", "map_towhee@10", "mhr@10", "recall@10", "precision@10", "ndcg@10", "mrr@10"}
    undefined = query_metrics([0, 0], 0, 10)
    mean = mean_metrics([row, undefined])
    assert mean["mhr@10"] == pytest.approx(0.75)  # NaN left out, not averaged as 0
    assert mean["precision@10"] == pytest.approx(0.15)  # defined for both


def test_precision_recall_curve_by_hand():
    precision, recall = precision_recall_curve([np.array([1, 0]), np.array([0])], [1, 2], depth=2)
    # query 1: P@1 = 1, P@2 = 1/2, R = 1, 1; query 2 (one result, a miss): P = 0, 0, R = 0, 0
    assert precision == pytest.approx([0.5, 0.25])
    assert recall == pytest.approx([0.5, 0.5])


def test_bootstrap_ci_brackets_the_mean_and_is_reproducible():
    hits = [1.0] * 30 + [0.0] * 70  # R@k of 100 queries: 0.30
    mean, low, high = bootstrap_ci(hits, resamples=2000, seed=0)
    assert mean == pytest.approx(0.30)
    assert low < mean < high
    # the normal approximation: 0.30 +- 1.96 * sqrt(0.3 * 0.7 / 100) = 0.21 .. 0.39
    assert low == pytest.approx(0.21, abs=0.02) and high == pytest.approx(0.39, abs=0.02)
    assert bootstrap_ci(hits, seed=0) == (mean, low, high)  # fixed seed: the same interval
    assert bootstrap_ci([0.5, math.nan, 0.5])[0:3] == (0.5, 0.5, 0.5)  # NaN left out; no spread, no width
    assert all(math.isnan(v) for v in bootstrap_ci([]))
    with pytest.raises(ValueError):
        bootstrap_ci(hits, confidence=1.0)
