"""The Grocery Store catalogue (``products.csv``): where it lives and a torch-free reader.

The full data set is in the shared data folder (81 classes); a 9-class subset is bundled with the package so that
a fresh clone runs. The photo table and decoded photos are read by :mod:`ensemble.vision.data`.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from ensemble.datasets.checked_csv import ColumnKind, read_csv_checked
from ensemble.datasets.locations import bundled_data_dir, shared_data_dir
from ensemble.errors import DataError

__all__ = [
    "PRODUCTS_COLUMNS",
    "bundled_grocery_dir",
    "default_grocery_catalogue",
    "default_grocery_dir",
    "load_grocery_catalogue",
]

logger = logging.getLogger(__name__)

PRODUCTS_COLUMNS = {
    "class_id": ColumnKind.INT,
    "class_name": ColumnKind.STR,
    "coarse_id": ColumnKind.INT,
    "coarse_name": ColumnKind.STR,
    "department": ColumnKind.STR,
    "iconic_image": ColumnKind.STR,
    "description_en": ColumnKind.STR,
}


def default_grocery_dir() -> Path:
    """The full data set in the shared data folder (may be absent on a fresh clone)."""
    return shared_data_dir() / "grocery-store"


def bundled_grocery_dir() -> Path:
    """The small subset shipped with the package (a few photos of a few classes, MIT licence beside it)."""
    return bundled_data_dir() / "grocery-store"


def default_grocery_catalogue() -> Path:
    """The full catalogue in the shared data folder when it is there, else the bundled subset's."""
    shared = default_grocery_dir() / "products.csv"
    return shared if shared.is_file() else bundled_grocery_dir() / "products.csv"


def load_grocery_catalogue(path: Path | None = None) -> pd.DataFrame:
    """Read and check a catalogue CSV (default :func:`default_grocery_catalogue`): one row per class, sorted by
    ``class_id``; raises :class:`DataError` for a missing file, a missing or malformed column, or a repeated
    class id. The ``iconic_image`` paths stay as the CSV gives them, relative to the file's folder (the data
    set root), so what is built from them names the photos the same way on any machine."""
    path = Path(path) if path is not None else default_grocery_catalogue()
    if not path.is_file():
        raise DataError(
            f"products catalogue {path} does not exist; pass the path of a products.csv (--catalogue) or put the "
            f"Grocery Store data set at {default_grocery_dir()}.",
            path=path,
        )
    frame = read_csv_checked(path, PRODUCTS_COLUMNS, keep_extra=False, what="products catalogue CSV")
    duplicated = frame["class_id"][frame["class_id"].duplicated()]
    if not duplicated.empty:
        raise DataError(
            f"products CSV {path} lists class_id {int(duplicated.iloc[0])} twice; keep one row per class.",
            path=path,
            column="class_id",
            value=str(int(duplicated.iloc[0])),
        )
    logger.info("read %s catalogue classes from %s", len(frame), path)
    return frame.sort_values("class_id").reset_index(drop=True)
