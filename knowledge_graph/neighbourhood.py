"""What the graph holds around one node: its facts and the products next to it.

:func:`node_context` answers "what is this and what goes with it" for any node id (``product:85123A``,
``product:gs-7``): the node's own attributes and the non-product nodes it points to (its category, department,
merchant, attributes) as facts; the products joined to it directly (co-purchases and any other product edge),
best weight first, then products that share one of its categories. A node the graph does not hold has no
context (two empty lists), never an error: callers ask about products that may not have been added yet.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import networkx as nx

from knowledge_graph.schema import EdgeKind, NodeKind

__all__ = ["GraphFact", "Neighbour", "node_context"]

# Attributes that say how a node is stored rather than what it is.
_INTERNAL = frozenset({"kind", "key"})
# Edges between sale records and products: many per product and no fact about the product itself.
_RECORD_KINDS = frozenset({NodeKind.INVOICE.value, NodeKind.CUSTOMER.value})


@dataclass(frozen=True)
class GraphFact:
    """One fact about a node: an attribute (``relation`` its name) or an edge to a non-product node."""

    relation: str
    value: str

    def to_dict(self) -> dict[str, Any]:
        return {"relation": self.relation, "value": self.value}


@dataclass(frozen=True)
class Neighbour:
    """A product next to the node: how it is joined (``relation``), its name and the edge's weight, if any."""

    node: str
    key: str
    name: str
    relation: str
    weight: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "key": self.key,
            "name": self.name,
            "relation": self.relation,
            "weight": None if self.weight is None else round(self.weight, 4),
        }


def _text(value: Any) -> str | None:
    """An attribute value as text; ``None`` for empty values."""
    if value is None:
        return None
    if isinstance(value, list | tuple | set | frozenset):
        items = [str(v) for v in value if v is not None and str(v) != ""]
        return ", ".join(items) if items else None
    if isinstance(value, float):
        return f"{value:g}"
    text = str(value)
    return text if text else None


def _name(attrs: Mapping[str, Any], node: str) -> str:
    for field in ("name", "description", "key"):
        text = _text(attrs.get(field))
        if text:
            return text
    return node


def _edges(graph: nx.MultiDiGraph, node: str) -> Iterable[tuple[str, str, Mapping[str, Any]]]:
    """``(other node, edge kind, attributes)`` of every edge at ``node``, out-edges first."""
    for _, other, kind, data in graph.out_edges(node, keys=True, data=True):
        yield other, str(kind), data
    for other, _, kind, data in graph.in_edges(node, keys=True, data=True):
        yield other, str(kind), data


def node_context(graph: nx.MultiDiGraph, node: str, limit: int = 10) -> tuple[list[GraphFact], list[Neighbour]]:
    """The facts of ``node`` and up to ``limit`` neighbouring products (both empty when it is not in the graph).

    Facts: every attribute but ``kind``/``key`` with a value, then one per edge to a node that is neither a
    product nor a sale record (``in_category: LUNCH BAG``). Neighbours: products joined by an edge, by weight
    (highest first, unweighted last), then products in the same category, by name.
    """
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}; ask for 10 neighbours, say")
    if node not in graph:
        return [], []
    attrs = graph.nodes[node]
    facts = [
        GraphFact(name, text)
        for name, value in sorted(attrs.items())
        if name not in _INTERNAL and (text := _text(value)) is not None
    ]
    direct: dict[str, Neighbour] = {}
    groups: list[str] = []
    for other, kind, data in _edges(graph, node):
        other_attrs = graph.nodes[other]
        other_kind = str(other_attrs.get("kind", ""))
        if other_kind == NodeKind.PRODUCT.value:
            weight = data.get("weight")
            found = Neighbour(
                other,
                str(other_attrs.get("key", other)),
                _name(other_attrs, other),
                kind,
                float(weight) if isinstance(weight, int | float) else None,
            )
            kept = direct.get(other)
            if kept is None or (found.weight or 0.0) > (kept.weight or 0.0):
                direct[other] = found
        elif other_kind not in _RECORD_KINDS:
            facts.append(GraphFact(kind, _name(other_attrs, other)))
            if kind == EdgeKind.IN_CATEGORY.value:
                groups.append(other)
    ranked = sorted(direct.values(), key=lambda n: (n.weight is None, -(n.weight or 0.0), n.node))
    related = ranked[:limit]
    seen = {node, *(n.node for n in related)}
    for group in groups:
        label = f"{EdgeKind.IN_CATEGORY.value}: {_name(graph.nodes[group], group)}"
        peers = sorted(
            (
                other
                for other, _, kind in graph.in_edges(group, keys=True)
                if kind == EdgeKind.IN_CATEGORY.value
                and other not in seen
                and graph.nodes[other].get("kind") == NodeKind.PRODUCT.value
            ),
            key=lambda other: (_name(graph.nodes[other], other), other),
        )
        for other in peers:
            if len(related) >= limit:
                break
            seen.add(other)
            other_attrs = graph.nodes[other]
            related.append(Neighbour(other, str(other_attrs.get("key", other)), _name(other_attrs, other), label, None))
    return facts, related
