"""A merchant's catalogue without orders: products with a name, a description, a category, a department and a
catalogue photo (the Grocery Store's ``products.csv`` layout).

Each row becomes a product node ``product:<prefix><class_id>`` sold by the merchant, in the category named by
``coarse_name``, whose category node sits in the ``department`` (see :mod:`knowledge_graph.schema`). Products
without orders have no prices, customers or co-purchases; the recommender's walk never reaches them, so
recommendations for Online Retail customers are unchanged. Adding the same catalogue again gives the same graph.
"""

from __future__ import annotations

import logging
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Final

import networkx as nx
import pandas as pd

from knowledge_graph._assemble import add_category, add_merchant, remove_out_edges
from knowledge_graph.errors import InvalidCatalogueError
from knowledge_graph.schema import EdgeKind, Merchant, NodeKind, department_id, product_id

logger = logging.getLogger(__name__)

CATALOGUE_COLUMNS: Final = (
    "class_id",
    "class_name",
    "coarse_name",
    "department",
    "iconic_image",
    "description_en",
)
"""Columns a catalogue frame must have (others are ignored)."""


def _text(value: object) -> str:
    return "" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value).strip()


def check_catalogue(catalogue: pd.DataFrame) -> None:
    """Raise :class:`InvalidCatalogueError` unless ``catalogue`` has the columns, one row per class id and a
    name, category and department on every row."""
    missing = [c for c in CATALOGUE_COLUMNS if c not in catalogue.columns]
    if missing:
        raise InvalidCatalogueError(
            f"catalogue lacks column(s) {missing} (has {list(catalogue.columns)}); give the Grocery Store "
            f"products.csv layout: {list(CATALOGUE_COLUMNS)}"
        )
    duplicated = catalogue["class_id"][catalogue["class_id"].astype(str).duplicated()]
    if not duplicated.empty:
        raise InvalidCatalogueError(
            f"catalogue lists class_id {duplicated.iloc[0]!r} twice; keep one row per product class"
        )
    for column in ("class_id", "class_name", "coarse_name", "department"):
        blank = [i for i, v in enumerate(catalogue[column].tolist()) if not _text(v)]
        if blank:
            raise InvalidCatalogueError(
                f"catalogue row {blank[0] + 1} has no {column}; every product needs a class id, a name, a "
                "coarse class and a department"
            )


def relative_image(value: object, root: Path | None, row: int) -> str | None:
    """A catalogue photo path as the graph keeps it: relative to the data set folder ``root``, in POSIX form, so
    that facts name the same photo on any machine and reveal nothing of the one that built the graph.

    A relative path is kept as given; an absolute one must lie under ``root`` and is made relative to it.
    Raises :class:`InvalidCatalogueError` for an absolute path without ``root`` or outside it.
    """
    text = _text(value)
    if not text:
        return None
    if not (Path(text).is_absolute() or PureWindowsPath(text).is_absolute()):
        return PurePosixPath(text.replace("\\", "/")).as_posix()
    if root is None:
        raise InvalidCatalogueError(
            f"catalogue row {row + 1} names the photo {text!r} by an absolute path; give iconic_image relative to "
            "the data set folder (as products.csv does), or pass that folder as root"
        )
    try:
        return Path(text).resolve().relative_to(root.resolve()).as_posix()
    except ValueError as err:
        raise InvalidCatalogueError(
            f"catalogue row {row + 1} names the photo {text!r}, which is not under the data set folder {root}; "
            "give iconic_image relative to that folder"
        ) from err


def add_catalogue(graph: nx.MultiDiGraph, catalogue: pd.DataFrame, merchant: Merchant, root: Path | None) -> list[str]:
    """Add (or replace) ``merchant``'s catalogue products in place; return their node ids in row order.

    ``root`` is the data set folder the ``iconic_image`` paths are relative to; the graph keeps them relative to
    it (:func:`relative_image`). Raises :class:`InvalidCatalogueError` for a frame of the wrong layout, a photo
    path that cannot be made relative, or when a product key is already a product of another merchant; the graph
    is not changed then.
    """
    check_catalogue(catalogue)
    rows = catalogue[list(CATALOGUE_COLUMNS)].to_dict("records")
    images = [relative_image(row["iconic_image"], root, i) for i, row in enumerate(rows)]
    nodes = [product_id(merchant.product_key(_text(row["class_id"]))) for row in rows]
    for node in nodes:
        other = graph.nodes[node].get("merchant") if node in graph else None
        if node in graph and other != merchant.key:
            raise InvalidCatalogueError(
                f"product {node} of {merchant.key}'s catalogue is already a product of {other!r}; give the "
                "merchant a product_prefix of its own"
            )
    seller = add_merchant(graph, merchant)
    remove_out_edges(graph, nodes, (EdgeKind.IN_CATEGORY, EdgeKind.SOLD_BY))
    for node, row, image in zip(nodes, rows, images, strict=True):
        category, department = _text(row["coarse_name"]), _text(row["department"])
        graph.add_node(
            node,
            kind=NodeKind.PRODUCT,
            key=node.removeprefix("product:"),
            name=_text(row["class_name"]).replace("-", " "),
            description=_text(row["description_en"]),
            merchant=merchant.key,
            department=department,
            iconic_image=image,
            category=category,
            attributes=(),
            price_min=None,
            price_median=None,
            price_max=None,
            price_mean=None,
            n_lines=0,
            n_orders=0,
            quantity=0,
            countries=(),
            merchandise=True,
        )
        graph.add_edge(node, seller, key=EdgeKind.SOLD_BY)
        cat = add_category(graph, category)
        graph.add_edge(node, cat, key=EdgeKind.IN_CATEGORY)
        dept = department_id(department)
        if dept not in graph:
            graph.add_node(dept, kind=NodeKind.DEPARTMENT, key=department, name=department)
        graph.add_edge(cat, dept, key=EdgeKind.IN_DEPARTMENT)
    _remove_orphans(graph)
    logger.info("added %s catalogue products of %s", len(nodes), merchant.key)
    return nodes


def _remove_orphans(graph: nx.MultiDiGraph) -> None:
    """Categories no product is in (a product moved to another coarse class), then departments no category
    is in."""
    for kind in (NodeKind.CATEGORY, NodeKind.DEPARTMENT):
        orphans = [n for n, d in graph.nodes(data=True) if d["kind"] == kind and graph.in_degree(n) == 0]
        graph.remove_nodes_from(orphans)
