from __future__ import annotations

import json

import pytest

from knowledge_graph import (
    KnowledgeGraphError,
    ProductGraph,
    UnknownCustomerError,
    UnknownOrderError,
    UnknownProductError,
)


def test_facts_of_known_product(graph: ProductGraph) -> None:
    facts = graph.facts("85123A")
    assert facts.description == "WHITE HANGING HEART T-LIGHT HOLDER"
    assert (facts.price_min, facts.price_max) == (2.55, 2.95)
    assert facts.countries == ("France", "United Kingdom")
    assert facts.n_orders == 4
    assert facts.category == "T-LIGHT HOLDER"
    data = facts.to_dict()
    assert json.loads(json.dumps(data))["stock_code"] == "85123A"


def test_unknown_product_message_names_the_code(graph: ProductGraph) -> None:
    with pytest.raises(UnknownProductError, match="99999Z") as info:
        graph.facts("99999Z")
    assert isinstance(info.value, KnowledgeGraphError)


def test_order_lines_and_total(graph: ProductGraph) -> None:
    order = graph.order("536365")
    assert order.customer_id == 17850 and order.country == "United Kingdom"
    assert order.date == "2010-12-01 08:26:00"
    assert [line.stock_code for line in order.lines] == ["20725", "22423", "85123A"]
    assert order.total == pytest.approx(6 * 2.55 + 10 * 1.65 + 2 * 12.75)


def test_cancelled_order_has_negative_lines(graph: ProductGraph) -> None:
    order = graph.order("C536370")
    assert order.cancelled
    assert [(line.stock_code, line.quantity) for line in order.lines] == [("22423", -1)]
    assert order.total == pytest.approx(-12.75)


def test_unknown_order(graph: ProductGraph) -> None:
    with pytest.raises(UnknownOrderError, match="123456"):
        graph.order("123456")


def test_customer_history(graph: ProductGraph) -> None:
    history = graph.customer_history(17850)
    assert history.invoices == ("536365", "536371", "C536370")
    assert {p.stock_code for p in history.purchases} == {"85123A", "20725", "22423", "84029E"}
    assert history.purchases[0].last_date == "2010-12-07"
    assert [r.stock_code for r in history.returns] == ["22423"]
    assert history.n_orders == 2


def test_unknown_customer(graph: ProductGraph) -> None:
    with pytest.raises(UnknownCustomerError, match="4242"):
        graph.customer_history(4242)
