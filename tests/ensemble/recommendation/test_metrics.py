"""Ranking metrics against values computed by hand on toy rankings."""

from __future__ import annotations

import math

import pytest

from ensemble.recommendation import coverage, hit_rate, ndcg, ranking_metrics, recall

RANKINGS = [["a", "b", "c", "d"], ["e", "f", "g", "h"]]
RELEVANT = [{"b", "d", "z"}, {"x"}]


def test_hit_rate_counts_users_with_any_hit_in_top_k() -> None:
    # Prepare / Execute / Assert: user 1 hits at rank 2 (within k=2), user 2 never hits.
    assert hit_rate(RANKINGS, RELEVANT, 2) == pytest.approx(0.5)
    assert hit_rate(RANKINGS, RELEVANT, 1) == pytest.approx(0.0)


def test_ndcg_uses_log2_discounts_and_ideal_of_min_relevant_k() -> None:
    # user 1: hits at ranks 2 and 4 -> DCG = 1/log2(3) + 1/log2(5); 3 relevant, k=4 -> IDCG = 1 + 1/log2(3) + 1/2.
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    idcg = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    expected = (dcg / idcg + 0.0) / 2

    assert ndcg(RANKINGS, RELEVANT, 4) == pytest.approx(expected)


def test_ndcg_is_one_for_a_perfect_ranking() -> None:
    assert ndcg([["a", "b", "c"]], [{"a", "b"}], 10) == pytest.approx(1.0)


def test_recall_divides_hits_by_all_relevant_items() -> None:
    # user 1: 2 of 3 relevant found in top 4; user 2: 0 of 1.
    assert recall(RANKINGS, RELEVANT, 4) == pytest.approx((2 / 3 + 0.0) / 2)
    assert recall(RANKINGS, RELEVANT, 2) == pytest.approx((1 / 3) / 2)


def test_coverage_counts_distinct_items_in_top_k_over_catalogue() -> None:
    assert coverage([["a", "b", "c"], ["a", "d", "e"]], 10, 2) == pytest.approx(3 / 10)


def test_ranking_metrics_reports_the_four_keys() -> None:
    result = ranking_metrics(RANKINGS, RELEVANT, 8)

    assert set(result) == {"hr@10", "ndcg@10", "recall@20", "coverage"}
    assert result["coverage"] == pytest.approx(1.0)
    assert result["recall@20"] == pytest.approx((2 / 3) / 2)


def test_mismatched_lengths_raise() -> None:
    with pytest.raises(ValueError, match="one per user"):
        hit_rate(RANKINGS, RELEVANT[:1], 10)
