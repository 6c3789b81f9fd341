from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import pytest

from knowledge_graph import BuildConfig, ProductGraph, build_graph


def _snapshot(
    graph: ProductGraph,
) -> tuple[dict[str, dict[str, object]], dict[tuple[str, str, str], dict[str, object]]]:
    nodes = {n: dict(d) for n, d in graph.nx_graph.nodes(data=True)}
    edges = {(u, v, str(k)): dict(d) for u, v, k, d in graph.nx_graph.edges(keys=True, data=True)}
    return nodes, edges


def _close(left: dict[str, object], right: dict[str, object]) -> bool:
    """Equal attribute dicts, floats compared to 1e-9 relative (summation order may differ)."""
    if left.keys() != right.keys():
        return False
    return all(
        v == pytest.approx(right[k], rel=1e-9) if isinstance(v, float) else v == right[k] for k, v in left.items()
    )


def _assert_same(left: ProductGraph, right: ProductGraph) -> None:
    nodes_l, edges_l = _snapshot(left)
    nodes_r, edges_r = _snapshot(right)
    assert nodes_l.keys() == nodes_r.keys()
    for n in nodes_l:
        assert _close(nodes_l[n], nodes_r[n]), (n, nodes_l[n], nodes_r[n])
    assert edges_l.keys() == edges_r.keys()
    for e in edges_l:
        assert _close(edges_l[e], edges_r[e]), (e, edges_l[e], edges_r[e])


@pytest.mark.parametrize("split", [5, 9, 14])
def test_add_orders_equals_full_rebuild(orders: pd.DataFrame, small_config: BuildConfig, split: int) -> None:
    # Prepare: build on the first lines, then add the rest.
    incremental = build_graph(orders.iloc[:split], small_config)
    # Execute
    incremental.add_orders(orders.iloc[split:])
    # Assert
    _assert_same(incremental, build_graph(orders, small_config))


def test_add_orders_to_existing_invoice_and_new_product(
    orders: pd.DataFrame, small_config: BuildConfig, order_factory: Callable[..., pd.DataFrame]
) -> None:
    extra = order_factory(
        [
            ("536365", "23084", "RABBIT NIGHT LIGHT", 4, "2010-12-01 08:26", 2.08, 17850, "United Kingdom"),
            ("536380", "23084", "RABBIT NIGHT LIGHT", 2, "2010-12-09 08:00", 2.08, 15000, "Germany"),
        ]
    )
    graph = build_graph(orders, small_config)
    graph.add_orders(extra)
    _assert_same(graph, build_graph(pd.concat([orders, extra], ignore_index=True), small_config))
    assert graph.order("536365").total == pytest.approx(6 * 2.55 + 10 * 1.65 + 2 * 12.75 + 4 * 2.08)
    assert graph.facts("23084").countries == ("Germany", "United Kingdom")
