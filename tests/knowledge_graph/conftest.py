"""Small hand-made Online Retail frames shared by the knowledge-graph tests."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from knowledge_graph import BuildConfig, ProductGraph, build_graph

_ROWS = [
    # InvoiceNo, StockCode, Description, Quantity, InvoiceDate, UnitPrice, CustomerID, Country
    (
        "536365",
        "85123A",
        "WHITE HANGING HEART T-LIGHT HOLDER",
        6,
        "2010-12-01 08:26",
        2.55,
        17850,
        "United Kingdom",
    ),
    ("536365", "20725", "LUNCH BAG RED RETROSPOT", 10, "2010-12-01 08:26", 1.65, 17850, "United Kingdom"),
    ("536365", "22423", "REGENCY CAKESTAND 3 TIER", 2, "2010-12-01 08:26", 12.75, 17850, "United Kingdom"),
    (
        "536366",
        "85123A",
        "WHITE HANGING HEART T-LIGHT HOLDER",
        12,
        "2010-12-02 09:00",
        2.95,
        13047,
        "United Kingdom",
    ),
    ("536366", "20725", "LUNCH BAG RED RETROSPOT", 5, "2010-12-02 09:00", 1.65, 13047, "United Kingdom"),
    ("536367", "21733", "RED HANGING HEART T-LIGHT HOLDER", 4, "2010-12-03 10:00", 2.95, 12583, "France"),
    ("536367", "85123A", "WHITE HANGING HEART T-LIGHT HOLDER", 3, "2010-12-03 10:00", 2.55, 12583, "France"),
    ("536367", "POST", "POSTAGE", 1, "2010-12-03 10:00", 18.0, 12583, "France"),
    ("536368", "20725", "LUNCH BAG  RED RETROSPOT", 2, "2010-12-04 11:00", 1.85, None, "United Kingdom"),
    ("536368", "22423", "REGENCY CAKESTAND 3 TIER", 1, "2010-12-04 11:00", 10.95, None, "United Kingdom"),
    (
        "536369",
        "21733",
        "RED HANGING HEART T-LIGHT HOLDER",
        2,
        "2010-12-05 12:00",
        2.95,
        13047,
        "United Kingdom",
    ),
    ("536369", "20725", "LUNCH BAG RED RETROSPOT", 1, "2010-12-05 12:00", 1.65, 13047, "United Kingdom"),
    ("C536370", "22423", "REGENCY CAKESTAND 3 TIER", -1, "2010-12-06 13:00", 12.75, 17850, "United Kingdom"),
    (
        "536371",
        "84029E",
        "RED WOOLLY HOTTIE WHITE HEART.",
        6,
        "2010-12-07 14:00",
        3.39,
        17850,
        "United Kingdom",
    ),
    (
        "536371",
        "85123A",
        "WHITE HANGING HEART T-LIGHT HOLDER",
        6,
        "2010-12-07 14:00",
        2.55,
        17850,
        "United Kingdom",
    ),
]


def make_orders(rows: list[tuple[object, ...]] | None = None) -> pd.DataFrame:
    """An order-lines frame in the exact Online Retail layout."""
    frame = pd.DataFrame(
        rows if rows is not None else _ROWS,
        columns=[
            "InvoiceNo",
            "StockCode",
            "Description",
            "Quantity",
            "InvoiceDate",
            "UnitPrice",
            "CustomerID",
            "Country",
        ],
    )
    frame["Quantity"] = frame["Quantity"].astype("int64")
    frame["InvoiceDate"] = pd.to_datetime(frame["InvoiceDate"]).astype("datetime64[ns]")
    frame["UnitPrice"] = frame["UnitPrice"].astype("float64")
    frame["CustomerID"] = frame["CustomerID"].astype("Int64")
    return frame


SMALL_CONFIG = BuildConfig(min_support=1, top_k_copurchase=5, min_category_products=1)


@pytest.fixture
def small_config() -> BuildConfig:
    return SMALL_CONFIG


@pytest.fixture
def order_factory() -> Callable[[list[tuple[object, ...]] | None], pd.DataFrame]:
    return make_orders


@pytest.fixture
def orders() -> pd.DataFrame:
    return make_orders()


@pytest.fixture
def graph(orders: pd.DataFrame) -> ProductGraph:
    return build_graph(orders, SMALL_CONFIG)


def online_retail_path() -> Path:
    """Location of the Online Retail CSV (SHOPMESH_SHARED_DATA, default ../shared/data next to the repo)."""
    root = Path(__file__).resolve().parents[2]
    base = Path(os.environ.get("SHOPMESH_SHARED_DATA", root / ".." / "shared" / "data")).resolve()
    return base / "online-retail" / "onlineretail.csv.xz"


@pytest.fixture
def online_retail_csv() -> Path:
    path = online_retail_path()
    if not path.is_file():
        pytest.skip(f"Online Retail CSV not found at {path} (set SHOPMESH_SHARED_DATA)")
    return path


_CATALOGUE = [
    # class_id, class_name, coarse_id, coarse_name, department, iconic_image, description_en
    (0, "Golden-Delicious", 0, "Apple", "Fruit", "iconic/Golden-Delicious_Iconic.jpg", "A sweet yellow apple."),
    (1, "Granny-Smith", 0, "Apple", "Fruit", "iconic/Granny-Smith_Iconic.jpg", "A green apple with firm pulp."),
    (2, "Pink-Lady", 0, "Apple", "Fruit", "iconic/Pink-Lady_Iconic.jpg", "A crisp apple, pink and sweet."),
    (6, "Banana", 2, "Banana", "Fruit", "iconic/Banana_Iconic.jpg", "A yellow banana, sweet when ripe."),
    (16, "Orange", 9, "Orange", "Fruit", "iconic/Orange_Iconic.jpg", "An orange full of vitamin C juice."),
    (29, "Bravo-Orange-Juice", 16, "Juice", "Packages", "iconic/Bravo-Orange-Juice_Iconic.jpg", "Orange juice."),
    (38, "Arla-Milk", 17, "Milk", "Packages", "iconic/Arla-Milk_Iconic.jpg", "Fresh medium fat milk."),
]


def make_catalogue(rows: list[tuple[object, ...]] | None = None) -> pd.DataFrame:
    """A catalogue frame in the Grocery Store ``products.csv`` layout."""
    return pd.DataFrame(
        rows if rows is not None else _CATALOGUE,
        columns=["class_id", "class_name", "coarse_id", "coarse_name", "department", "iconic_image", "description_en"],
    )


@pytest.fixture
def catalogue() -> pd.DataFrame:
    return make_catalogue()


@pytest.fixture
def two_merchants(orders: pd.DataFrame, catalogue: pd.DataFrame) -> ProductGraph:
    """The small Online Retail graph with the small grocery catalogue added."""
    graph = build_graph(orders, SMALL_CONFIG)
    graph.add_catalogue(catalogue)
    return graph
