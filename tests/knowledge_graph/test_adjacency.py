from __future__ import annotations

import networkx as nx
import pytest

from knowledge_graph._adjacency import column_dicts, insert_edges


class _SubGraph(nx.MultiDiGraph):  # type: ignore[misc]
    """A subclass, which insert_edges must fill through add_edges_from."""


def _edges(graph: nx.MultiDiGraph) -> list[tuple[str, str, str, dict[str, object]]]:
    return sorted((u, v, k, dict(d)) for u, v, k, d in graph.edges(keys=True, data=True))


@pytest.mark.parametrize("factory", [nx.MultiDiGraph, _SubGraph], ids=["direct", "fallback"])
def test_insert_edges_equals_add_edges_from(factory: type[nx.MultiDiGraph]) -> None:
    # Prepare: an existing edge of the same key (updated), one of another key (kept), a missing node.
    batches = [
        ("a", ["x", "x", "y"], ["y", "z", "x"], [{"w": 1}, {"w": 2}, {"w": 3}]),
        ("b", ["x"], ["y"], [{"w": 9}]),
        ("a", ["x", "new"], ["y", "x"], [{"extra": 5}, {}]),
    ]
    expected = nx.MultiDiGraph()
    expected.add_nodes_from(["x", "y", "z"])
    got = factory()
    got.add_nodes_from(["x", "y", "z"])
    # Execute
    for key, sources, targets, attrs in batches:
        expected.add_edges_from((u, v, key, dict(d)) for u, v, d in zip(sources, targets, attrs, strict=True))
        insert_edges(got, key, sources, targets, [dict(d) for d in attrs])
    # Assert
    assert _edges(got) == _edges(expected)
    assert sorted(got.nodes) == sorted(expected.nodes)
    assert got["x"]["y"]["a"] == {"w": 1, "extra": 5}
    assert sorted(got.in_edges("x", keys=True)) == sorted(expected.in_edges("x", keys=True))
    in_data = sorted((u, v, k, dict(d)) for u, v, k, d in got.in_edges("y", keys=True, data=True))
    assert in_data == sorted((u, v, k, dict(d)) for u, v, k, d in expected.in_edges("y", keys=True, data=True))


def test_insert_edges_rejects_ragged_columns() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        insert_edges(nx.MultiDiGraph(), "a", ["x"], ["y", "z"])


def test_column_dicts() -> None:
    assert column_dicts({"a": [1, 2], "b": ["x", None]}, 2) == [{"a": 1, "b": "x"}, {"a": 2, "b": None}]
    assert column_dicts({}, 2) == [{}, {}]
