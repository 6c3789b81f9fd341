from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from knowledge_graph import (
    GROCERY_STORE,
    EdgeKind,
    InvalidCatalogueError,
    Merchant,
    NodeKind,
    ProductGraph,
    build_graph,
)
from tests.knowledge_graph.conftest import SMALL_CONFIG, make_catalogue, make_orders


def _edges(graph: ProductGraph) -> set[tuple[str, str, str]]:
    return {(u, v, str(k)) for u, v, k in graph.nx_graph.edges(keys=True)}


def test_catalogue_products_are_sold_by_the_grocery_store(two_merchants: ProductGraph) -> None:
    # Execute
    g = two_merchants.nx_graph
    node = g.nodes["product:gs-1"]
    # Assert: attributes from the row, edges to category, merchant, and category to department.
    assert node["kind"] == NodeKind.PRODUCT and node["key"] == "gs-1"
    assert node["name"] == "Granny Smith"
    assert node["description"] == "A green apple with firm pulp."
    assert (node["category"], node["department"], node["merchant"]) == ("Apple", "Fruit", "grocery-store")
    assert node["iconic_image"] == "iconic/Granny-Smith_Iconic.jpg"
    assert node["n_orders"] == 0 and node["price_min"] is None
    assert g.has_edge("product:gs-1", "merchant:grocery-store", EdgeKind.SOLD_BY)
    assert g.has_edge("product:gs-1", "category:Apple", EdgeKind.IN_CATEGORY)
    assert g.has_edge("category:Apple", "department:Fruit", EdgeKind.IN_DEPARTMENT)
    stats = two_merchants.stats()
    assert stats.nodes[NodeKind.MERCHANT] == 2
    assert stats.nodes[NodeKind.DEPARTMENT] == 2  # Fruit, Packages
    assert stats.nodes[NodeKind.PRODUCT] == 6 + 7
    assert stats.edges[EdgeKind.SOLD_BY] == 6 + 7
    assert stats.edges[EdgeKind.IN_DEPARTMENT] == 5  # Apple, Banana, Orange -> Fruit; Juice, Milk -> Packages


def test_adding_the_catalogue_again_changes_nothing(two_merchants: ProductGraph, catalogue: pd.DataFrame) -> None:
    # Prepare
    nodes = dict(two_merchants.nx_graph.nodes(data=True))
    edges = _edges(two_merchants)
    # Execute
    two_merchants.add_catalogue(catalogue)
    # Assert
    assert dict(two_merchants.nx_graph.nodes(data=True)) == nodes
    assert _edges(two_merchants) == edges


def test_a_product_moved_to_another_class_leaves_no_orphan_category(two_merchants: ProductGraph) -> None:
    # Prepare: Arla milk becomes juice, so no product is in "Milk" any more.
    moved = make_catalogue([(38, "Arla-Milk", 16, "Juice", "Packages", "iconic/a.jpg", "Now juice.")])
    # Execute
    two_merchants.add_catalogue(moved)
    # Assert
    g = two_merchants.nx_graph
    assert "category:Milk" not in g
    assert list(g.successors("product:gs-38")) == ["merchant:grocery-store", "category:Juice"]


def test_absolute_photo_paths_under_the_root_are_kept_relative_to_it(orders: pd.DataFrame, tmp_path: Path) -> None:
    # Prepare: the catalogue's photos named by absolute paths inside the data set folder
    catalogue = make_catalogue()
    catalogue["iconic_image"] = [str(tmp_path / p) for p in catalogue["iconic_image"]]
    graph = build_graph(orders, SMALL_CONFIG)
    # Execute
    graph.add_catalogue(catalogue, root=tmp_path)
    # Assert: the fact names the photo within the data set, nothing of this machine's folders
    assert graph.facts("gs-6").iconic_image == "iconic/Banana_Iconic.jpg"
    assert str(tmp_path) not in str(graph.facts("gs-6").statements())


@pytest.mark.parametrize("root_given", [False, True])
def test_an_absolute_photo_path_that_cannot_be_made_relative_is_refused(
    graph: ProductGraph, tmp_path: Path, root_given: bool
) -> None:
    # Prepare: one photo outside any data set folder
    catalogue = make_catalogue()
    catalogue.loc[0, "iconic_image"] = str(tmp_path.parent / "elsewhere" / "a.jpg")
    before = _edges(graph)
    # Execute / Assert
    expected = "not under the data set folder" if root_given else "absolute path; give iconic_image relative"
    with pytest.raises(InvalidCatalogueError, match=expected):
        graph.add_catalogue(catalogue, root=tmp_path / "grocery" if root_given else None)
    assert _edges(graph) == before


def test_catalogue_survives_save_and_load(two_merchants: ProductGraph, tmp_path: Path) -> None:
    # Execute
    loaded = ProductGraph.load(two_merchants.save(tmp_path / "kg"))
    # Assert
    assert dict(loaded.nx_graph.nodes(data=True)) == dict(two_merchants.nx_graph.nodes(data=True))
    assert _edges(loaded) == _edges(two_merchants)
    assert loaded.facts("gs-29") == two_merchants.facts("gs-29")
    assert loaded.facts("85123A") == two_merchants.facts("85123A")


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (make_catalogue().drop(columns=["department"]), r"lacks column\(s\) \['department'\]"),
        (make_catalogue([(1, "A", 0, "Apple", "Fruit", "", "x"), (1, "B", 0, "Apple", "Fruit", "", "y")]), "twice"),
        (make_catalogue([(1, "A", 0, "", "Fruit", "", "x")]), "row 1 has no coarse_name"),
    ],
)
def test_bad_catalogue_is_refused_and_the_graph_is_unchanged(
    graph: ProductGraph, frame: pd.DataFrame, message: str
) -> None:
    # Prepare
    before = _edges(graph)
    # Execute / Assert
    with pytest.raises(InvalidCatalogueError, match=message):
        graph.add_catalogue(frame)
    assert _edges(graph) == before
    assert graph.stats().nodes[NodeKind.MERCHANT] == 1


def test_keys_of_another_merchant_are_not_taken_over(two_merchants: ProductGraph) -> None:
    # Prepare: a merchant that would reuse the grocery store's prefix.
    copycat = Merchant("copycat", "Copycat", GROCERY_STORE.product_prefix)
    # Execute / Assert
    with pytest.raises(InvalidCatalogueError, match="already a product of 'grocery-store'"):
        two_merchants.add_catalogue(make_catalogue(), merchant=copycat)
    assert "merchant:copycat" not in two_merchants.nx_graph


def test_add_orders_keeps_catalogue_categories(two_merchants: ProductGraph) -> None:
    # Prepare: one more order of a retail product; categories of order-built products are re-derived.
    new = make_orders(
        [("536400", "20725", "LUNCH BAG RED RETROSPOT", 3, "2010-12-09 10:00", 1.65, 13047, "United Kingdom")]
    )
    # Execute
    two_merchants.add_orders(new)
    # Assert
    assert two_merchants.facts("gs-1").category == "Apple"
    assert two_merchants.nx_graph.has_edge("product:gs-1", "category:Apple", EdgeKind.IN_CATEGORY)
