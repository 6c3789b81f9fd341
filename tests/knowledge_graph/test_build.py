from __future__ import annotations

import math

import pandas as pd
import pytest

from knowledge_graph import BuildConfig, EdgeKind, InvalidOrdersError, NodeKind, ProductGraph, build_graph
from knowledge_graph.schema import customer_id, invoice_id, product_id


def test_counts_per_kind(graph: ProductGraph) -> None:
    # Prepare: 6 products, 3 customers, 7 invoices, 2 countries in the fixture.
    # Execute
    stats = graph.stats()
    # Assert
    assert stats.nodes[NodeKind.PRODUCT] == 6
    assert stats.nodes[NodeKind.CUSTOMER] == 3
    assert stats.nodes[NodeKind.INVOICE] == 7
    assert stats.nodes[NodeKind.COUNTRY] == 2
    # Customer 17850 bought 85123A, 20725, 22423, 84029E; 13047: 85123A, 20725, 21733;
    # 12583: 21733, 85123A, POST.
    assert stats.edges[EdgeKind.PURCHASED] == 10
    assert stats.edges[EdgeKind.RETURNED] == 2  # invoice C536370 → 22423 and customer 17850 → 22423


def test_every_product_is_sold_by_online_retail(graph: ProductGraph) -> None:
    # Prepare / Execute
    g = graph.nx_graph
    products = [n for n, kind in g.nodes(data="kind") if kind == NodeKind.PRODUCT]
    # Assert: one merchant node, one sold_by edge per product, the name is the description.
    assert graph.stats().nodes[NodeKind.MERCHANT] == 1
    assert g.nodes["merchant:online-retail"] == {
        "kind": NodeKind.MERCHANT,
        "key": "online-retail",
        "name": "Online Retail",
    }
    assert graph.stats().edges[EdgeKind.SOLD_BY] == len(products) == 6
    for node in products:
        assert g.has_edge(node, "merchant:online-retail", EdgeKind.SOLD_BY)
        assert g.nodes[node]["merchant"] == "online-retail"
        assert g.nodes[node]["name"] == g.nodes[node]["description"]
        assert g.nodes[node]["department"] is None and g.nodes[node]["iconic_image"] is None


def test_cancellation_is_a_return_not_a_purchase(graph: ProductGraph) -> None:
    g = graph.nx_graph
    purchase = g.edges[customer_id(17850), product_id("22423"), EdgeKind.PURCHASED]
    returned = g.edges[customer_id(17850), product_id("22423"), EdgeKind.RETURNED]
    assert purchase["quantity"] == 2 and purchase["n_orders"] == 1
    assert returned["quantity"] == 1
    assert not g.has_edge(invoice_id("C536370"), product_id("22423"), EdgeKind.CONTAINS)
    assert g.nodes[invoice_id("C536370")]["cancelled"] is True


def test_lines_without_customer_feed_products_and_copurchases(graph: ProductGraph) -> None:
    g = graph.nx_graph
    assert g.nodes[invoice_id("536368")]["customer_id"] is None
    assert g.has_edge(invoice_id("536368"), product_id("22423"), EdgeKind.CONTAINS)
    # 20725 & 22423 share invoices 536365 and 536368 (the latter anonymous).
    assert g.edges[product_id("20725"), product_id("22423"), EdgeKind.CO_PURCHASED]["support"] == 2


def test_price_statistics_and_description(orders: pd.DataFrame, small_config: BuildConfig) -> None:
    graph = build_graph(orders, small_config)
    facts = graph.facts("20725")
    prices = [1.65, 1.65, 1.85, 1.65]
    assert facts.price_min == min(prices) and facts.price_max == max(prices)
    assert facts.price_median == pytest.approx(1.65)
    assert facts.price_mean == pytest.approx(sum(prices) / 4)
    assert facts.n_lines == 4 and facts.n_orders == 4
    assert facts.description == "LUNCH BAG RED RETROSPOT"  # 3 of 4 lines, not the double-space variant
    assert facts.category == "LUNCH BAG"
    assert facts.attributes == ("colour:red",)


def test_copurchase_weight_is_npmi(graph: ProductGraph) -> None:
    # 20725 in invoices {536365, 536366, 536368, 536369}; 22423 in {536365, 536368}; both in 2.
    # Sale invoices with merchandise: 536365..536369 and 536371 = 6.
    n, c_i, c_j, c_ij = 6, 4, 2, 2
    expected = math.log((c_ij / n) / ((c_i / n) * (c_j / n))) / -math.log(c_ij / n)
    edge = graph.nx_graph.edges[product_id("20725"), product_id("22423"), EdgeKind.CO_PURCHASED]
    assert edge["weight"] == pytest.approx(expected)
    assert edge["lift"] == pytest.approx((c_ij / n) / ((c_i / n) * (c_j / n)))
    # 85123A and 20725 share 2 of 6 invoices with 4 each: negative PMI, so no edge.
    assert not graph.nx_graph.has_edge(product_id("85123A"), product_id("20725"), EdgeKind.CO_PURCHASED)


def test_service_codes_get_no_copurchase(graph: ProductGraph) -> None:
    g = graph.nx_graph
    assert not any(k == EdgeKind.CO_PURCHASED for _, _, k in g.edges(product_id("POST"), keys=True))
    assert graph.facts("POST").merchandise is False


def test_missing_column_is_rejected(orders: pd.DataFrame) -> None:
    frame = orders.drop(columns=["Country"])
    with pytest.raises(InvalidOrdersError, match="Country"):
        build_graph(frame)


def test_string_dates_are_rejected(orders: pd.DataFrame) -> None:
    frame = orders.copy()
    frame["InvoiceDate"] = frame["InvoiceDate"].astype(str)
    with pytest.raises(InvalidOrdersError, match="InvoiceDate"):
        build_graph(frame)


def test_empty_copurchase_when_min_support_too_high(orders: pd.DataFrame) -> None:
    graph = build_graph(orders, BuildConfig(min_support=50))
    assert graph.stats().edges[EdgeKind.CO_PURCHASED] == 0
