"""The recommendation ensemble the graph deployment serves, per mode and for an unknown customer, without Ray."""

from __future__ import annotations

from pathlib import Path

import pytest

from cluster.recommenders import FIXED_WEIGHTS, FIXED_WEIGHTS_SOURCE, NOT_SERVED, RecommendEnsemble
from cluster.schemas import RecommendResponse
from knowledge_graph.graph import ProductGraph
from tests.cluster.conftest import BASKETS


@pytest.fixture(scope="module")
def graph(graph_dir: Path) -> ProductGraph:
    return ProductGraph.load(graph_dir)


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
