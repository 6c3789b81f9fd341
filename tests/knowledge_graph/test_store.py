from __future__ import annotations

import json
from pathlib import Path

import pytest

from knowledge_graph import SCHEMA_VERSION, GraphStoreError, ProductGraph, UnknownOrderError


def _edges(graph: ProductGraph) -> dict[tuple[str, str, str], dict[str, object]]:
    return {(u, v, str(k)): dict(d) for u, v, k, d in graph.nx_graph.edges(keys=True, data=True)}


def test_round_trip_keeps_every_node_and_edge(graph: ProductGraph, tmp_path: Path) -> None:
    graph.save(tmp_path / "kg")
    loaded = ProductGraph.load(tmp_path / "kg")
    assert dict(loaded.nx_graph.nodes(data=True)) == dict(graph.nx_graph.nodes(data=True))
    assert _edges(loaded) == _edges(graph)
    assert loaded.facts("85123A") == graph.facts("85123A")
    assert loaded.config == graph.config
    assert len(loaded.lines) == len(graph.lines)


def test_corrupt_file_is_detected(graph: ProductGraph, tmp_path: Path) -> None:
    target = graph.save(tmp_path / "kg")
    (target / "edges-purchased.parquet").write_bytes(b"not parquet")
    with pytest.raises(GraphStoreError, match="sha256"):
        ProductGraph.load(target)


def test_wrong_format_version_is_rejected(graph: ProductGraph, tmp_path: Path) -> None:
    target = graph.save(tmp_path / "kg")
    manifest = json.loads((target / "manifest.json").read_text())
    manifest["format_version"] = 999
    (target / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(GraphStoreError, match="format_version 999"):
        ProductGraph.load(target)


GRAPH_V1 = Path(__file__).parent / "data" / "graph-v1"


def test_graph_saved_with_schema_1_loads_as_a_fresh_build(graph: ProductGraph, tmp_path: Path) -> None:
    # Prepare: the fixture graph as schema 1 saved it (see tests/knowledge_graph/data/README.md).
    assert json.loads((GRAPH_V1 / "manifest.json").read_text())["schema_version"] == 1
    # Execute
    loaded = ProductGraph.load(GRAPH_V1)
    # Assert: the same nodes and edges as a build with the current code, and it saves as the current schema.
    assert dict(loaded.nx_graph.nodes(data=True)) == dict(graph.nx_graph.nodes(data=True))
    assert _edges(loaded) == _edges(graph)
    assert loaded.recommend(13047, k=3) == graph.recommend(13047, k=3)
    resaved = loaded.save(tmp_path / "kg")
    assert json.loads((resaved / "manifest.json").read_text())["schema_version"] == SCHEMA_VERSION
    assert _edges(ProductGraph.load(resaved)) == _edges(graph)


def test_graph_of_an_unknown_schema_is_refused_with_a_rebuild_hint(graph: ProductGraph, tmp_path: Path) -> None:
    # Prepare
    target = graph.save(tmp_path / "kg")
    manifest = json.loads((target / "manifest.json").read_text())
    manifest["schema_version"] = 99
    (target / "manifest.json").write_text(json.dumps(manifest))
    # Execute / Assert
    with pytest.raises(GraphStoreError, match=r"schema_version 99, this code reads 1 and 2; .*shopmesh kg build"):
        ProductGraph.load(target)


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(GraphStoreError, match=r"manifest\.json is missing"):
        ProductGraph.load(tmp_path / "nothing")


def test_failed_save_keeps_previous_save(graph: ProductGraph, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = graph.save(tmp_path / "kg")
    before = (target / "manifest.json").read_text()

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("knowledge_graph.store._write_json_atomic", broken)
    with pytest.raises(OSError, match="disk full"):
        graph.save(target)
    assert (target / "manifest.json").read_text() == before
    assert ProductGraph.load(target).stats() == graph.stats()
    assert [p.name for p in tmp_path.iterdir()] == ["kg"]


def test_edge_snapshot_is_plain_json(graph: ProductGraph, tmp_path: Path) -> None:
    path = graph.export_edge_snapshot(tmp_path / "snap.json", top_n=2)
    data = json.loads(path.read_text())
    # Merchandise by orders: 85123A (4), 20725 (4) — ties broken by code.
    assert [p["stock_code"] for p in data["products"]] == ["20725", "85123A"]
    assert "co_purchases" in data["products"][0]


def test_loaded_graph_answers_orders_and_history_like_the_built_one(graph: ProductGraph, tmp_path: Path) -> None:
    # Prepare
    loaded = ProductGraph.load(graph.save(tmp_path / "kg"))
    # Execute / Assert: queries that need no invoice lines first, then an order (inserts the contains edges).
    assert loaded.customer_history(17850) == graph.customer_history(17850)
    assert loaded.recommend(13047, k=3) == graph.recommend(13047, k=3)
    assert [loaded.order(i) for i in ("536365", "C536370", "536371")] == [
        graph.order(i) for i in ("536365", "C536370", "536371")
    ]
    with pytest.raises(UnknownOrderError):
        loaded.order("999999")
    assert loaded.stats() == graph.stats()
    assert _edges(loaded) == _edges(graph)
    assert loaded.order("536365") == graph.order("536365")
