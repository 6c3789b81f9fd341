"""Build the product graph from Online Retail order lines."""

from __future__ import annotations

import logging
import time

import networkx as nx
import pandas as pd

from knowledge_graph._adjacency import gc_paused
from knowledge_graph._assemble import add_customers, add_edges, add_invoices, add_products
from knowledge_graph._records import (
    contains_records,
    copurchase_records,
    customer_records,
    invoice_records,
    placed_records,
    prepare_lines,
    product_records,
    purchased_records,
    returned_records,
)
from knowledge_graph._walk import WalkTables
from knowledge_graph.config import BuildConfig
from knowledge_graph.graph import ProductGraph
from knowledge_graph.schema import SCHEMA_VERSION, EdgeKind
from knowledge_graph.taxonomy import assign_categories, category_coverage

logger = logging.getLogger(__name__)


def build_graph(orders: pd.DataFrame, config: BuildConfig | None = None) -> ProductGraph:
    """Build a :class:`ProductGraph` from order lines in the Online Retail layout.

    Sale lines (not cancelled, Quantity > 0) make ``contains`` and, with a customer, ``purchased`` edges and
    feed
    price statistics (lines with a positive price) and co-purchases (merchandise only); lines of cancellation
    invoices ("C…") make ``returned`` edges. Lines without a customer still feed products, invoices and
    co-purchases. Raises :class:`~knowledge_graph.errors.InvalidOrdersError` for frames of the wrong layout.
    """
    config = config or BuildConfig()
    started = time.perf_counter()
    lines = prepare_lines(orders)
    with gc_paused():
        graph, tables = assemble_graph(lines, config)
    logger.info(
        "built product graph from %s lines: %s nodes, %s edges in %.1f s",
        len(lines),
        graph.number_of_nodes(),
        graph.number_of_edges(),
        time.perf_counter() - started,
    )
    return ProductGraph(graph, lines, config, walk_tables=tables)


def assemble_graph(lines: pd.DataFrame, config: BuildConfig) -> tuple[nx.MultiDiGraph, WalkTables]:
    """Every node and edge derived from prepared lines (see :func:`knowledge_graph._records.prepare_lines`),
    with the purchased and co_purchased tables the recommender's walk matrix is built from."""
    graph = nx.MultiDiGraph(schema_version=SCHEMA_VERSION)
    products = product_records(lines)
    categories = assign_categories(
        dict(zip(products.index, products["description"], strict=True)), config.min_category_products
    )
    logger.info(
        "category coverage: %.1f%% of %s products",
        100 * category_coverage(categories.values()),
        len(products),
    )
    add_products(graph, products, categories)
    add_customers(graph, customer_records(lines))
    add_invoices(graph, invoice_records(lines))
    add_edges(graph, contains_records(lines), EdgeKind.CONTAINS, "InvoiceNo", "StockCode")
    add_edges(graph, returned_records(lines, "InvoiceNo"), EdgeKind.RETURNED, "InvoiceNo", "StockCode")
    add_edges(graph, returned_records(lines, "CustomerID"), EdgeKind.RETURNED, "CustomerID", "StockCode")
    purchases = purchased_records(lines)
    copurchases = copurchase_records(lines, config)
    add_edges(graph, purchases, EdgeKind.PURCHASED, "CustomerID", "StockCode")
    add_edges(graph, placed_records(lines), EdgeKind.PLACED, "CustomerID", "InvoiceNo")
    add_edges(graph, copurchases, EdgeKind.CO_PURCHASED, "source", "target")
    return graph, WalkTables(purchases, copurchases)
