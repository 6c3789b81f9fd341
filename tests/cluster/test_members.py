"""The member services behind the deployments, without Ray."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from cluster.graph_deployment import GraphService
from cluster.intent_deployment import IntentRunner
from cluster.outcomes import OutcomeStatus
from ensemble.datasets import load_grocery_catalogue
from ensemble.datasets.grocery import bundled_grocery_dir
from ensemble.errors import VersionNotFoundError
from ensemble.members.intent import predict
from ensemble.members.intent_artifact import load_intent
from ensemble.registry import Registry
from knowledge_graph import BuildConfig, build_graph
from knowledge_graph.graph import ProductGraph
from tests.cluster.conftest import orders_frame


def test_lookup_returns_facts_of_the_products_a_message_names(graph_dir: Path) -> None:
    # Prepare
    service = GraphService.load(graph_dir)
    expected = ProductGraph.load(graph_dir).facts("22423").to_dict()

    # Execute
    result = service.lookup("Where is my regency cakestand 3 tier?", order_id="999999", customer_id=12001)

    # Assert
    assert result["products"] == [expected]
    assert result["order"] is None
    assert "999999" in result["order_error"]
    assert result["customer_known"] is True


def test_facts_report_misses_as_values_and_recommend_falls_back_to_popularity(graph_dir: Path) -> None:
    service = GraphService.load(graph_dir)

    assert service.facts("22423").unwrap("graph")["description"] == "REGENCY CAKESTAND 3 TIER"
    unknown = service.facts("00000")
    assert (unknown.status, unknown.what, unknown.value) == (OutcomeStatus.NOT_FOUND, "stock_code", "00000")
    assert "00000" in unknown.error
    missing = service.recommend(424242, 3)
    assert missing.status is OutcomeStatus.OK
    assert missing.unwrap("graph")["fallback"] == "popularity"
    assert "424242" in missing.unwrap("graph")["fallback_reason"]
    found = service.recommend(12001, 3).unwrap("graph")
    assert found["fallback"] is None
    assert "found" not in found
    assert {item["stock_code"] for item in found["items"]} <= {"22423", "84879"}
    assert all(item["explanation"] for item in found["items"])


def test_product_context_of_a_grocery_product_and_of_unknown_ids() -> None:
    # Prepare: the small shop's orders with the bundled 9-class Grocery Store catalogue.
    graph = build_graph(orders_frame(), BuildConfig(min_support=1, min_category_products=1))
    graph.add_catalogue(load_grocery_catalogue(bundled_grocery_dir() / "products.csv"))
    service = GraphService(graph, "in memory")

    # Execute
    context = service.product_context("product:gs-1", k=2)

    # Assert: JSON-ready, the facts of Granny Smith, then the other apple and a fruit of another class.
    assert json.loads(json.dumps(context)) == context
    facts = {(f["predicate"], f["object"]) for f in context["facts"]}
    assert {("name", "Granny Smith"), ("in_category", "Apple"), ("in_department", "Fruit")} <= facts
    assert ("sold_by", "grocery-store") in facts
    assert [(r["stock_code"], r["relation"]) for r in context["related"]] == [
        ("gs-0", "same_category"),
        (context["related"][1]["stock_code"], "same_department"),
    ]
    assert context["related"][1]["department"] == "Fruit"
    assert service.product_context("gs-1", k=2) == context
    for unknown in ("product:gs-999", "product:", "", "category:Apple"):
        assert service.product_context(unknown, k=5) == {"facts": [], "related": []}
    assert service.product_context("product:gs-1", k=0)["related"] == []


def test_runner_classifies_like_the_model_in_process(registry: Registry) -> None:
    # Prepare
    runner = IntentRunner(registry)
    model, artifact = load_intent(registry)
    texts = ["where is my parcel", "cancel it now please"]

    # Execute
    outputs = runner.classify(texts)

    # Assert
    expected = predict(model, texts)
    assert [o["intent"] for o in outputs] == [p.intent for p in expected]
    assert [o["confidence"] for o in outputs] == pytest.approx([p.confidence for p in expected])
    assert {o["version"] for o in outputs} == {artifact.version.id}


def test_runner_switches_versions_and_keeps_serving_after_a_bad_one(
    tmp_path: Path, publish_intent: Callable[[Registry, int], str]
) -> None:
    # Prepare
    registry = Registry(tmp_path)
    first = publish_intent(registry, 0)
    runner = IntentRunner(registry)
    second = publish_intent(registry, 1)

    # Execute / Assert
    assert runner.switch(None) is True
    assert runner.current.version_id == second
    assert runner.switch(second) is False
    with pytest.raises(VersionNotFoundError):
        runner.switch("v0099")
    assert runner.current.version_id == second
    assert "v0099" in (runner.status()["last_reload_error"] or "")
    assert runner.switch(first) is True
    assert runner.classify(["hello"])[0]["version"] == first


def test_ground_and_verify_answer_the_chain_from_the_graph(graph_dir: Path) -> None:
    # Prepare: invoice 536365 is customer 12001's first basket (85123A, 71053); 71053 sells at £3.39.
    service = GraphService.load(graph_dir)

    # Execute
    grounded = service.ground("is order 536365 with the white metal lantern shipped?", None, 12001)
    true_price = service.verify("The white metal lantern is £3.39.", 12001, "536365", ["71053"])
    false_price = service.verify("The white metal lantern is £9.99.", 12001, "536365", ["71053"])

    # Assert
    assert grounded["invoice_no"] == "536365"
    assert grounded["slot_values"]["Order Number"] == "536365"
    assert grounded["stock_codes"] == ["71053"]
    assert grounded["customer"]["known"] is True
    assert true_price["grounded"] is True
    assert false_price["grounded"] is False
    assert [c["text"] for c in false_price["claims"] if not c["supported"]] == ["£9.99"]


def test_runner_decides_per_mode_with_the_head_member(registry: Registry) -> None:
    runner = IntentRunner(registry)
    texts = ["where is my parcel", "cancel it now please"]

    decisions = runner.decide([(texts[0], "serial"), (texts[1], "fusion"), (texts[0], "parallel")])

    expected = runner.classify(texts)
    assert [d["intent"] for d in decisions] == [expected[0]["intent"], expected[1]["intent"], expected[0]["intent"]]
    assert [d["mode"] for d in decisions] == ["serial", "fusion", "parallel"]
    assert all(d["out_of_scope"] is False for d in decisions)
    assert all(d["members"][0]["name"] == "intent_head" for d in decisions)
