"""Fusion by weighted reciprocal ranks, weight fitting, and the windows the evaluation reads."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import pytest

from ensemble.recommendation import (
    TIME,
    FusionRecommender,
    ItemKNNMember,
    Member,
    PopularityMember,
    RecommendedItem,
    evaluate_recommenders,
    fit_fusion_weights,
    fuse_rankings,
    plan_split,
)
from tests.ensemble.recommendation.conftest import interactions_frame


def _lists(*rankings: Sequence[str]) -> list[list[RecommendedItem]]:
    return [[RecommendedItem(item=i, score=0.0) for i in row] for row in rankings]


def test_fuse_rankings_sums_weighted_reciprocal_ranks() -> None:
    lists = {"m1": _lists(["a", "b", "c"]), "m2": _lists(["c", "b"])}

    fused = fuse_rankings(lists, {"m1": 1.0, "m2": 2.0}, k=3, constant=1.0)[0]

    # a: 1/2 = 0.5; b: 1/3 + 2/3 = 1.0; c: 1/4 + 2/2 = 1.25.
    assert [r.item for r in fused] == ["c", "b", "a"]
    assert [r.score for r in fused] == pytest.approx([1.25, 1.0, 0.5])
    assert fused[0].sources == {"m2": 1, "m1": 3}


def test_fuse_rankings_ignores_zero_weights_and_keeps_explanations() -> None:
    lists = {
        "m1": [[RecommendedItem("a", 1.0, "because of x")]],
        "m2": [[RecommendedItem("b", 1.0, None)]],
    }

    fused = fuse_rankings(lists, {"m1": 1.0, "m2": 0.0}, k=5)[0]

    assert [(r.item, r.explanation) for r in fused] == [("a", "because of x")]


def test_fit_fusion_weights_prefers_the_member_that_finds_the_targets() -> None:
    good = _lists(["x1", "n1"], ["x2", "n2"])
    bad = _lists(["n3", "n4"], ["n5", "n6"])

    lists = {"good": good, "bad": bad}

    weights = fit_fusion_weights(lists, [{"x1"}, {"x2"}])

    assert weights["good"] > weights["bad"]
    assert [row[0].item for row in fuse_rankings(lists, weights, 1)] == ["x1", "x2"]


class _Spy(Member):
    """Records the time range of every fit and recommends popular items."""

    name = "spy"

    def __init__(self) -> None:
        self.fits: list[tuple[pd.Timestamp, pd.Timestamp]] = []
        self._inner = PopularityMember()

    def fit(self, train: pd.DataFrame, catalog: pd.DataFrame | None = None) -> None:
        self.fits.append((train[TIME].min(), train[TIME].max()))
        self._inner.fit(train, catalog)

    def recommend_many(
        self, users: Sequence[str], k: int, exclude_bought: bool = True, explain: bool = False
    ) -> list[list[RecommendedItem]]:
        return self._inner.recommend_many(users, k, exclude_bought, explain)


def _history() -> pd.DataFrame:
    rows = []
    for day in range(60):
        for user in range(6):
            rows.append((f"u{user}", f"i{(day + 7 * user) % 70}"))
    frame = interactions_frame(rows)
    frame[TIME] = pd.Timestamp("2021-01-01") + pd.to_timedelta([i // 6 for i in range(len(rows))], unit="D")
    return frame


def test_weight_fitting_never_reads_the_test_window() -> None:
    interactions = _history()
    split = plan_split(interactions, test_from="2021-02-15", validation_fraction=0.25)
    spy = _Spy()

    report = evaluate_recommenders(interactions, split, members=lambda: [spy, ItemKNNMember()])

    test_from = pd.Timestamp("2021-02-15")
    (_, first_hi), (_, second_hi) = spy.fits
    assert first_hi < split.validation_from < test_from  # weight-fitting members saw only pre-validation data
    assert second_hi < test_from  # the final fit saw only the training period
    window = report.weight_fitting
    assert window.fit_last < split.validation_from <= window.window_first
    assert window.window_last < test_from
    assert report.test.window_first >= test_from
    assert set(report.fusion["weights"]) == {"spy", "item_knn"}


def test_fusion_recommender_parallel_and_fused(two_groups: pd.DataFrame) -> None:
    ensemble = FusionRecommender([PopularityMember(), ItemKNNMember()], weights={"popularity": 0.0, "item_knn": 1.0})
    ensemble.fit(two_groups)

    parallel = ensemble.parallel("q", 2)
    fused = ensemble.fusion("q", 1)

    assert set(parallel) == {"popularity", "item_knn"}
    assert parallel["popularity"][0].item == "b1"
    assert fused[0].item == "a3"
    assert fused[0].explanation is not None
    assert fused[0].sources["item_knn"] == 1
