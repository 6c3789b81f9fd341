"""The recommendation ensemble a serving replica answers with, per mode and for an unknown customer, without
Ray; the answers validate against the ingress's response schema."""

from __future__ import annotations

import pandas as pd
import pytest

from cluster.schemas import RecommendResponse
from ensemble.recommendation import (
    FIXED_WEIGHTS,
    FIXED_WEIGHTS_SOURCE,
    NOT_SERVED,
    KnowledgeGraphMember,
    MemberStatus,
    RecommendEnsemble,
    RecommendMode,
    UnknownModeError,
    UnknownUserError,
)
from knowledge_graph import BuildConfig, build_graph
from knowledge_graph.graph import ProductGraph
from tests.cluster.conftest import BASKETS, orders_frame


@pytest.fixture(scope="module")
def graph(tmp_path_factory: pytest.TempPathFactory) -> ProductGraph:
    """The tiny graph of the cluster tests, saved and loaded as a serving replica loads it."""
    directory = tmp_path_factory.mktemp("graph") / "graph"
    build_graph(orders_frame(), BuildConfig(min_support=1, min_category_products=1)).save(directory)
    return ProductGraph.load(directory)


@pytest.fixture(scope="module")
def ensemble(graph: ProductGraph) -> RecommendEnsemble:
    return RecommendEnsemble(graph)


def _statuses(answer: dict[str, object]) -> dict[str, str]:
    members = answer["members"]
    assert isinstance(members, list)
    return {run["name"]: run["status"] for run in members}


def test_graph_mode_keeps_the_graphs_own_answer(graph: ProductGraph, ensemble: RecommendEnsemble) -> None:
    # Prepare
    expected = [r.to_dict() for r in graph.recommend(12001, 2)]

    # Execute
    answer = ensemble.recommend(12001, 2, "graph")

    # Assert
    assert answer["found"] is True
    assert [{k: v for k, v in i.items() if k != "sources"} for i in answer["items"]] == expected
    assert _statuses(answer) == {
        "graph": "ran",
        "item_knn": "idle",
        "popularity": "idle",
        "bpr": "not_served",
        "content": "not_served",
    }
    assert answer["fallback"] is None
    assert answer["weights"] == FIXED_WEIGHTS
    assert answer["weights_source"] == FIXED_WEIGHTS_SOURCE
    RecommendResponse.model_validate({**answer, "latency_ms": 0.0})


def test_parallel_mode_lists_every_member_and_keeps_the_graph_list_as_items(
    graph: ProductGraph, ensemble: RecommendEnsemble
) -> None:
    # Prepare: 12001 bought 85123A and 71053, so the unbought products are 22423 and 84879.
    unbought = {"22423", "84879"}

    # Execute
    answer = ensemble.recommend(12001, 2, "parallel")

    # Assert
    assert set(answer["lists"]) == {"graph", "item_knn", "popularity"}
    assert answer["items"] == answer["lists"]["graph"]
    assert [i["stock_code"] for i in answer["items"]] == [r.stock_code for r in graph.recommend(12001, 2)]
    for name, items in answer["lists"].items():
        assert {i["stock_code"] for i in items} <= unbought, name
        assert all(i["explanation"] for i in items)
        assert [i["sources"] for i in items] == [{name: rank} for rank in range(1, len(items) + 1)]
    # 22423 (12002, 12003) and 84879 (12003, 12004) tie on two buyers; the tie goes to the lower code.
    assert [i["stock_code"] for i in answer["lists"]["popularity"]] == ["22423", "84879"]
    assert _statuses(answer)["item_knn"] == "ran"
    assert _statuses(answer)["popularity"] == "ran"


def test_fusion_mode_ranks_by_weighted_reciprocal_rank(ensemble: RecommendEnsemble) -> None:
    # Execute
    answer = ensemble.recommend(12001, 2, "fusion")

    # Assert: each item's score is sum of weight / (60 + rank) over the members that listed it.
    assert answer["items"]
    for item in answer["items"]:
        expected = sum(FIXED_WEIGHTS[name] / (60 + rank) for name, rank in item["sources"].items())
        assert item["score"] == pytest.approx(expected)
        assert "graph" in item["sources"]
    scores = [i["score"] for i in answer["items"]]
    assert scores == sorted(scores, reverse=True)
    assert "fusion mode" in answer["reason"]
    assert _statuses(answer)["graph"] == "ran"


def test_an_unknown_customer_gets_the_popularity_fallback(ensemble: RecommendEnsemble) -> None:
    # Prepare: distinct buyers per product, counted from the baskets.
    buyers: dict[str, set[int]] = {}
    for customer, baskets in BASKETS.items():
        for basket in baskets:
            for code in basket:
                buyers.setdefault(code, set()).add(customer)
    expected = sorted(buyers, key=lambda code: (-len(buyers[code]), code))[:3]

    for mode in ("graph", "parallel", "fusion"):
        # Execute
        answer = ensemble.recommend(424242, 3, mode)

        # Assert
        assert answer["found"] is True
        assert answer["fallback"] == "popularity"
        assert "424242" in answer["fallback_reason"]
        assert [i["stock_code"] for i in answer["items"]] == expected
        assert [i["score"] for i in answer["items"]] == [float(len(buyers[c])) for c in expected]
        statuses = _statuses(answer)
        assert (statuses["graph"], statuses["popularity"]) == ("failed", "ran")
        RecommendResponse.model_validate({**answer, "latency_ms": 0.0})


def test_status_names_the_members_served_and_not_served(ensemble: RecommendEnsemble) -> None:
    status = ensemble.status()

    assert status["members"] == ["graph", "item_knn", "popularity"]
    assert status["not_served"] == NOT_SERVED
    assert status["skipped"] == {}


def test_an_unknown_mode_is_refused(ensemble: RecommendEnsemble) -> None:
    with pytest.raises(ValueError, match="'serial'"):
        ensemble.recommend(12001, 2, "serial")


def test_the_modes_and_statuses_are_string_enums() -> None:
    assert [str(m) for m in RecommendMode] == ["graph", "parallel", "fusion"]
    assert [str(s) for s in MemberStatus] == ["ran", "failed", "idle", "skipped", "not_served"]


@pytest.mark.parametrize("mode", list(RecommendMode))
def test_a_mode_given_as_its_string_answers_as_the_enum(ensemble: RecommendEnsemble, mode: RecommendMode) -> None:
    # Execute
    by_enum = ensemble.recommend(12002, 3, mode)
    by_value = ensemble.recommend(12002, 3, mode.value)

    # Assert: the same answer apart from timings; the mode and statuses come back as the enums.
    def without_timings(answer: dict[str, object]) -> dict[str, object]:
        members = answer["members"]
        assert isinstance(members, list)
        return {**answer, "members": [{k: v for k, v in run.items() if k != "latency_ms"} for run in members]}

    assert without_timings(by_value) == without_timings(by_enum)
    assert by_value["mode"] is mode
    assert all(isinstance(run["status"], MemberStatus) for run in by_value["members"])


@pytest.mark.parametrize("mode", ["serial", "GRAPH", "", None, 3])
def test_an_unknown_mode_names_the_value_and_the_modes(ensemble: RecommendEnsemble, mode: object) -> None:
    with pytest.raises(UnknownModeError) as caught:
        ensemble.recommend(12001, 2, mode)  # type: ignore[arg-type]

    assert f"unknown recommendation mode {mode!r}; use one of graph, parallel, fusion" in str(caught.value)
    assert caught.value.mode == mode


def test_the_graph_member_over_a_given_graph_is_not_refitted(graph: ProductGraph) -> None:
    # Prepare: interactions that would build a different graph if fit built one.
    member = KnowledgeGraphMember.from_graph(graph)
    other = orders_frame().iloc[:2]

    # Execute
    member.fit(other)
    found = member.recommend_many(["12001", "12003"], 2, explain=True)

    # Assert
    for user, items in zip((12001, 12003), found, strict=True):
        expected = graph.recommend(user, 2)
        assert [(i.item, i.score, i.explanation) for i in items] == [
            (r.stock_code, r.score, r.explanation) for r in expected
        ]
    assert member.recommendations(12001, 2) == graph.recommend(12001, 2)
    with pytest.raises(UnknownUserError, match="424242"):
        member.recommendations(424242, 2)
    with pytest.raises(UnknownUserError, match="'someone'"):
        member.recommend_many(["someone"], 2)


def test_a_graph_without_sales_serves_the_graph_member_alone() -> None:
    # Prepare: the same order lines without customers, so nothing can be fitted from purchases.
    orders = orders_frame().assign(CustomerID=pd.array([pd.NA] * len(orders_frame()), dtype="Int64"))
    ensemble = RecommendEnsemble(build_graph(orders, BuildConfig(min_support=1, min_category_products=1)))

    # Execute
    status = ensemble.status()
    answers = [ensemble.recommend(12001, 2, mode) for mode in RecommendMode]

    # Assert
    assert status["members"] == ["graph"]
    assert set(status["skipped"]) == {"item_knn", "popularity"}
    for answer in answers:
        assert answer["found"] is False
        assert "customer 12001 is not in the product graph and no popularity member is fitted" in answer["error"]
