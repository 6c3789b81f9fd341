from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from knowledge_graph import EdgeKind, NodeKind, ProductGraph, build_graph


@pytest.mark.integration
@pytest.mark.slow
def test_full_online_retail_build_and_round_trip(online_retail_csv: Path, tmp_path: Path) -> None:
    # Prepare
    orders = pd.read_csv(
        online_retail_csv,
        dtype={"InvoiceNo": str, "StockCode": str, "CustomerID": "Int64"},
        parse_dates=["InvoiceDate"],
    )
    # Execute
    graph = build_graph(orders)
    loaded = ProductGraph.load(graph.save(tmp_path / "kg"))
    # Assert: counts stated in the data README.
    stats = graph.stats()
    assert stats.nodes[NodeKind.PRODUCT] == orders["StockCode"].nunique() == 4070
    assert stats.nodes[NodeKind.INVOICE] == 25900
    assert stats.nodes[NodeKind.CUSTOMER] == 4372
    assert stats.edges[EdgeKind.CO_PURCHASED] > 0
    assert loaded.stats() == stats
    assert loaded.facts("85123A") == graph.facts("85123A")
    assert graph.link("white hanging heart tlight holder")[0].stock_code == "85123A"
