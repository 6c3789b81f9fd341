"""Incremental updates: add order lines to a built graph, recomputing only the records the new lines touch.

Nodes and edges of the products, customers and invoices named by the new lines are recomputed from all their
lines
(old and new), which gives exactly what a full rebuild gives for them; categories are re-derived from every
description (a type's product count can cross the threshold), and co-purchase edges are recomputed from all
lines
because every NPMI weight depends on the total number of invoices (one sparse product, about a second on the
full data). Everything else is left untouched.
"""

from __future__ import annotations

import logging

import networkx as nx
import pandas as pd

from knowledge_graph._assemble import (
    add_category,
    add_customers,
    add_edges,
    add_invoices,
    add_products,
    remove_out_edges,
)
from knowledge_graph._records import (
    contains_records,
    copurchase_records,
    customer_records,
    finish_lines,
    invoice_records,
    placed_records,
    prepare_lines,
    product_records,
    purchased_records,
    returned_records,
)
from knowledge_graph.config import BuildConfig
from knowledge_graph.schema import (
    ONLINE_RETAIL,
    ORDER_COLUMNS,
    EdgeKind,
    NodeKind,
    customer_id,
    invoice_id,
    product_id,
)
from knowledge_graph.taxonomy import assign_categories

logger = logging.getLogger(__name__)


def add_orders(graph: nx.MultiDiGraph, lines: pd.DataFrame, orders: pd.DataFrame, config: BuildConfig) -> pd.DataFrame:
    """Update ``graph`` in place with ``orders`` and return the combined prepared lines."""
    new = prepare_lines(orders)
    if new.empty:
        return lines
    columns = list(ORDER_COLUMNS)
    merged = finish_lines(pd.concat([lines[columns].astype(object), new[columns].astype(object)], ignore_index=True))
    merged["Quantity"] = merged["Quantity"].astype("int64")
    merged["UnitPrice"] = merged["UnitPrice"].astype("float64")
    merged["CustomerID"] = merged["CustomerID"].astype("Int64")
    merged["InvoiceDate"] = merged["InvoiceDate"].astype("datetime64[ns]")
    merged["amount"] = merged["Quantity"] * merged["UnitPrice"]

    codes = set(new["StockCode"].astype(str))
    customers = {int(c) for c in new["CustomerID"].dropna()}
    invoices = set(new["InvoiceNo"].astype(str))
    by_product = merged[merged["StockCode"].astype(str).isin(codes)]
    by_customer = merged[merged["CustomerID"].isin(list(customers))] if customers else merged.iloc[:0]
    by_invoice = merged[merged["InvoiceNo"].astype(str).isin(invoices)]

    _update_products(graph, product_records(by_product), config)

    customer_nodes = [customer_id(c) for c in customers]
    remove_out_edges(
        graph, customer_nodes, (EdgeKind.PURCHASED, EdgeKind.RETURNED, EdgeKind.PLACED, EdgeKind.LOCATED_IN)
    )
    add_customers(graph, customer_records(by_customer))
    add_edges(graph, returned_records(by_customer, "CustomerID"), EdgeKind.RETURNED, "CustomerID", "StockCode")
    add_edges(graph, purchased_records(by_customer), EdgeKind.PURCHASED, "CustomerID", "StockCode")
    add_edges(graph, placed_records(by_customer), EdgeKind.PLACED, "CustomerID", "InvoiceNo")

    invoice_nodes = [invoice_id(i) for i in invoices]
    remove_out_edges(graph, invoice_nodes, (EdgeKind.CONTAINS, EdgeKind.RETURNED, EdgeKind.LOCATED_IN))
    add_invoices(graph, invoice_records(by_invoice))
    add_edges(graph, contains_records(by_invoice), EdgeKind.CONTAINS, "InvoiceNo", "StockCode")
    add_edges(graph, returned_records(by_invoice, "InvoiceNo"), EdgeKind.RETURNED, "InvoiceNo", "StockCode")

    doomed = [(u, v, k) for u, v, k in graph.edges(keys=True) if k == EdgeKind.CO_PURCHASED]
    graph.remove_edges_from(doomed)
    add_edges(graph, copurchase_records(merged, config), EdgeKind.CO_PURCHASED, "source", "target")
    logger.info(
        "added %s lines: %s products, %s customers, %s invoices updated",
        len(new),
        len(codes),
        len(customers),
        len(invoices),
    )
    return merged


def _update_products(graph: nx.MultiDiGraph, products: pd.DataFrame, config: BuildConfig) -> None:
    """Replace the touched products and re-derive the category of every product built from order lines (a
    catalogue's products keep the categories their catalogue gives)."""
    descriptions = {
        d["key"]: d["description"]
        for _, d in graph.nodes(data=True)
        if d["kind"] == NodeKind.PRODUCT and d["merchant"] == ONLINE_RETAIL.key
    }
    descriptions.update(zip(products.index, products["description"], strict=True))
    categories = assign_categories(descriptions, config.min_category_products)
    touched = [product_id(c) for c in products.index]
    remove_out_edges(graph, touched, (EdgeKind.IN_CATEGORY, EdgeKind.HAS_ATTRIBUTE))
    add_products(graph, products, categories)
    touched_set = set(touched)
    for code, category in categories.items():
        node = product_id(code)
        if node in touched_set or graph.nodes[node]["category"] == category:
            continue
        remove_out_edges(graph, [node], (EdgeKind.IN_CATEGORY,))
        graph.nodes[node]["category"] = category
        if category is not None:
            graph.add_edge(node, add_category(graph, category), key=EdgeKind.IN_CATEGORY)
    orphans = [n for n, d in graph.nodes(data=True) if d["kind"] == NodeKind.CATEGORY and graph.in_degree(n) == 0]
    graph.remove_nodes_from(orphans)
