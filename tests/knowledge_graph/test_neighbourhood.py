from __future__ import annotations

import networkx as nx
import pytest

from knowledge_graph import ProductGraph
from knowledge_graph.neighbourhood import GraphFact, node_context


def _shop() -> nx.MultiDiGraph:
    """Three grocery products in one category, two of them co-purchased, and a customer who bought one."""
    graph = nx.MultiDiGraph()
    graph.add_node("product:gs-7", kind="product", key="gs-7", description="Granny Smith", colours=("green",))
    graph.add_node("product:gs-8", kind="product", key="gs-8", description="Pink Lady")
    graph.add_node("product:gs-9", kind="product", key="gs-9", description="Golden Delicious")
    graph.add_node("product:gs-1", kind="product", key="gs-1", description="Banana")
    graph.add_node("category:Apple", kind="category", key="Apple", name="Apple")
    graph.add_node("customer:1", kind="customer", key="1")
    for code in ("gs-7", "gs-8", "gs-9"):
        graph.add_edge(f"product:{code}", "category:Apple", key="in_category")
    graph.add_edge("product:gs-7", "product:gs-1", key="co_purchased", weight=0.5)
    graph.add_edge("product:gs-1", "product:gs-7", key="co_purchased", weight=0.5)
    graph.add_edge("customer:1", "product:gs-7", key="purchased", n_orders=1)
    return graph


def test_facts_are_attributes_and_edges_to_non_products_and_neighbours_come_by_weight_then_category() -> None:
    # Execute
    facts, related = node_context(_shop(), "product:gs-7")

    # Assert: attributes (sorted by name, tuples joined), then the category edge; the customer is no fact
    assert facts == [
        GraphFact("colours", "green"),
        GraphFact("description", "Granny Smith"),
        GraphFact("in_category", "Apple"),
    ]
    assert [(n.key, n.relation, n.weight) for n in related] == [
        ("gs-1", "co_purchased", 0.5),  # the direct edge first
        ("gs-9", "in_category: Apple", None),  # then category peers by name: Golden Delicious < Pink Lady
        ("gs-8", "in_category: Apple", None),
    ]


def test_limit_bounds_the_neighbours() -> None:
    _, related = node_context(_shop(), "product:gs-7", limit=2)
    assert [n.key for n in related] == ["gs-1", "gs-9"]


def test_a_node_the_graph_does_not_hold_has_no_context() -> None:
    assert node_context(_shop(), "product:gs-99") == ([], [])


def test_a_limit_below_one_is_refused_with_the_value() -> None:
    with pytest.raises(ValueError, match="got 0"):
        node_context(_shop(), "product:gs-7", limit=0)


def test_product_graph_context_reads_a_built_graph(graph: ProductGraph) -> None:
    facts, related = graph.context("product:85123A")
    assert ("description", "WHITE HANGING HEART T-LIGHT HOLDER") in [(f.relation, f.value) for f in facts]
    assert related, "85123A is co-purchased with other products of the frame"
    assert all(n.node.startswith("product:") and n.node != "product:85123A" for n in related)
