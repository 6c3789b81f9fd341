"""Turn the record tables of :mod:`knowledge_graph._records` into nodes and edges of the NetworkX graph."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import networkx as nx
import pandas as pd

from knowledge_graph._adjacency import column_dicts, insert_edges
from knowledge_graph.schema import (
    ONLINE_RETAIL,
    EdgeKind,
    Merchant,
    NodeKind,
    attribute_id,
    category_id,
    country_id,
    customer_id,
    invoice_id,
    merchant_id,
    product_id,
)
from knowledge_graph.taxonomy import parse_description


def _column(series: pd.Series) -> list[Any]:
    """A column as plain Python values, NaN/NA → None."""
    if series.isna().any():
        values: list[Any] = series.astype(object).where(series.notna(), None).tolist()
        return values
    plain: list[Any] = series.tolist()
    return plain


def _records(frame: pd.DataFrame, columns: Iterable[str]) -> list[dict[str, Any]]:
    cols = list(columns)
    return column_dicts({str(c): _column(frame[c]) for c in cols}, len(frame))


def add_country(graph: nx.MultiDiGraph, name: str) -> str:
    """Add (if absent) a country node; return its id."""
    node = country_id(name)
    if node not in graph:
        graph.add_node(node, kind=NodeKind.COUNTRY, key=name, name=name)
    return node


def add_merchant(graph: nx.MultiDiGraph, merchant: Merchant) -> str:
    """Add (if absent) a merchant node; return its id."""
    node = merchant_id(merchant.key)
    if node not in graph:
        graph.add_node(node, kind=NodeKind.MERCHANT, key=merchant.key, name=merchant.name)
    return node


def add_category(graph: nx.MultiDiGraph, name: str) -> str:
    """Add (if absent) a category node; return its id."""
    node = category_id(name)
    if node not in graph:
        graph.add_node(node, kind=NodeKind.CATEGORY, key=name, name=name)
    return node


def add_products(graph: nx.MultiDiGraph, products: pd.DataFrame, categories: Mapping[str, str | None]) -> None:
    """Add or replace Online Retail product nodes with their category, attribute and merchant edges."""
    attr_cols = ["description", "price_min", "price_median", "price_max", "price_mean", "n_lines", "n_orders"]
    attr_cols += ["quantity", "countries", "merchandise"]
    seller = add_merchant(graph, ONLINE_RETAIL)
    for code, attrs in zip(products.index, _records(products, attr_cols), strict=True):
        node = product_id(code)
        parts = parse_description(attrs["description"])
        category = categories.get(code)
        attrs.update(kind=NodeKind.PRODUCT, key=code, category=category, attributes=parts.attributes)
        attrs.update(name=attrs["description"], merchant=ONLINE_RETAIL.key, department=None, iconic_image=None)
        graph.add_node(node, **attrs)
        graph.add_edge(node, seller, key=EdgeKind.SOLD_BY)
        if category is not None:
            graph.add_edge(node, add_category(graph, category), key=EdgeKind.IN_CATEGORY)
        for attribute in parts.attributes:
            facet, _, value = attribute.partition(":")
            att = attribute_id(facet, value)
            if att not in graph:
                graph.add_node(att, kind=NodeKind.ATTRIBUTE, key=attribute, name=value, facet=facet)
            graph.add_edge(node, att, key=EdgeKind.HAS_ATTRIBUTE)


def add_customers(graph: nx.MultiDiGraph, customers: pd.DataFrame) -> None:
    """Add or replace customer nodes and their located_in edges."""
    for cid, attrs in zip(customers.index, _records(customers, customers.columns), strict=True):
        node = customer_id(int(cid))
        graph.add_node(node, kind=NodeKind.CUSTOMER, key=str(int(cid)), **attrs)
        if attrs["country"] is not None:
            graph.add_edge(node, add_country(graph, attrs["country"]), key=EdgeKind.LOCATED_IN)


def add_invoices(graph: nx.MultiDiGraph, invoices: pd.DataFrame) -> None:
    """Add or replace invoice nodes and their located_in edges."""
    for inv, attrs in zip(invoices.index, _records(invoices, invoices.columns), strict=True):
        node = invoice_id(inv)
        if attrs["customer_id"] is not None:
            attrs["customer_id"] = int(attrs["customer_id"])
        attrs["cancelled"] = bool(attrs["cancelled"])
        graph.add_node(node, kind=NodeKind.INVOICE, key=inv, **attrs)
        graph.add_edge(node, add_country(graph, attrs["country"]), key=EdgeKind.LOCATED_IN)


_ENDPOINTS: dict[str, Callable[[Any], str]] = {
    "InvoiceNo": invoice_id,
    "StockCode": product_id,
    "CustomerID": customer_id,
    "source": product_id,
    "target": product_id,
}


def add_edges(graph: nx.MultiDiGraph, table: pd.DataFrame, kind: EdgeKind, source: str, target: str) -> None:
    """Add one edge of ``kind`` per row of ``table``; the other columns become edge attributes."""
    if table.empty:
        return
    src_fn, dst_fn = _ENDPOINTS[source], _ENDPOINTS[target]
    attr_cols = [c for c in table.columns if c not in (source, target)]
    sources = [src_fn(v) for v in table[source].tolist()]
    targets = [dst_fn(v) for v in table[target].tolist()]
    insert_edges(graph, kind, sources, targets, _records(table, attr_cols))


def remove_out_edges(graph: nx.MultiDiGraph, nodes: Iterable[str], kinds: Iterable[EdgeKind]) -> None:
    """Remove every out-edge of the given kinds from the given nodes."""
    wanted = set(kinds)
    doomed = [(u, v, k) for u in nodes if u in graph for _, v, k in graph.out_edges(u, keys=True) if k in wanted]
    graph.remove_edges_from(doomed)
