"""Graphs saved with an older schema, brought up to the current one as they are loaded (the files stay as saved).

Schema 1 held one merchant's products: no merchant or department nodes, no ``sold_by`` or ``in_department``
edges, no product ``name``, ``merchant``, ``department`` or ``iconic_image``. Its products are Online Retail's,
so the upgrade adds exactly what a build from the same order lines adds today.
"""

from __future__ import annotations

import logging
from typing import Final

import networkx as nx

from knowledge_graph._assemble import add_merchant
from knowledge_graph.schema import ONLINE_RETAIL, SCHEMA_VERSION, EdgeKind, NodeKind

logger = logging.getLogger(__name__)

READABLE_SCHEMAS: Final = (1, SCHEMA_VERSION)
"""Schema versions a saved graph may have."""

_ADDED_IN_2: Final = (
    frozenset({NodeKind.DEPARTMENT, NodeKind.MERCHANT}),
    frozenset({EdgeKind.SOLD_BY, EdgeKind.IN_DEPARTMENT}),
)


def saved_kinds(schema_version: int) -> tuple[list[NodeKind], list[EdgeKind]]:
    """The node and edge kinds a save of ``schema_version`` has a table for."""
    if schema_version == 1:
        nodes, edges = _ADDED_IN_2
        return [k for k in NodeKind if k not in nodes], [k for k in EdgeKind if k not in edges]
    return list(NodeKind), list(EdgeKind)


def upgrade(graph: nx.MultiDiGraph, schema_version: int) -> None:
    """Bring a graph read from a save of ``schema_version`` up to :data:`SCHEMA_VERSION` in place."""
    if schema_version == 1:
        seller = add_merchant(graph, ONLINE_RETAIL)
        products = [n for n, kind in graph.nodes(data="kind") if kind == NodeKind.PRODUCT]
        for node in products:
            attrs = graph.nodes[node]
            attrs.update(name=attrs["description"], merchant=ONLINE_RETAIL.key, department=None, iconic_image=None)
        graph.add_edges_from((node, seller, EdgeKind.SOLD_BY, {}) for node in products)
        logger.info("upgraded a schema-1 graph: %s products sold by %s", len(products), ONLINE_RETAIL.key)
    graph.graph["schema_version"] = SCHEMA_VERSION
