"""Typed loaders and the fixed splits of shopmesh's data sets (Online Retail, Bitext, Dominick's)."""

from __future__ import annotations

from ensemble.datasets.bitext import (
    BITEXT_COLUMNS,
    DataSplits,
    default_bitext_path,
    load_bitext,
    split_bitext,
)
from ensemble.datasets.checked_csv import ColumnKind, read_csv_checked
from ensemble.datasets.dominicks import (
    DOMINICKS_COLUMNS,
    DOMINICKS_STORE_COLUMNS,
    load_dominicks,
    load_dominicks_stores,
    split_dominicks,
)
from ensemble.datasets.grocery import default_grocery_catalogue, load_grocery_catalogue
from ensemble.datasets.locations import SHARED_DATA_ENV, bundled_data_dir, shared_data_dir
from ensemble.datasets.online_retail import (
    ONLINE_RETAIL_COLUMNS,
    ONLINE_RETAIL_CUTOFF,
    clean_online_retail,
    default_online_retail_path,
    load_online_retail,
    split_online_retail,
)
from ensemble.datasets.seeds import add_training_rows, bundled_intent_splits, default_seeds_path, load_intent_seeds

__all__ = [
    "BITEXT_COLUMNS",
    "DOMINICKS_COLUMNS",
    "DOMINICKS_STORE_COLUMNS",
    "ONLINE_RETAIL_COLUMNS",
    "ONLINE_RETAIL_CUTOFF",
    "SHARED_DATA_ENV",
    "ColumnKind",
    "DataSplits",
    "add_training_rows",
    "bundled_data_dir",
    "bundled_intent_splits",
    "clean_online_retail",
    "default_bitext_path",
    "default_grocery_catalogue",
    "default_online_retail_path",
    "default_seeds_path",
    "load_bitext",
    "load_dominicks",
    "load_dominicks_stores",
    "load_grocery_catalogue",
    "load_intent_seeds",
    "load_online_retail",
    "read_csv_checked",
    "shared_data_dir",
    "split_bitext",
    "split_dominicks",
    "split_online_retail",
]
