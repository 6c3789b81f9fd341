"""Dominick's orange juice (bayesm): typed loading from the shared data folder and the even/odd store split.

The data is not bundled (its licence is academic use); it is read from :func:`shared_data_dir` or a given
path.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from ensemble.datasets.checked_csv import ColumnKind, read_csv_checked
from ensemble.datasets.locations import SHARED_DATA_ENV, shared_data_dir
from ensemble.errors import DataError

__all__ = [
    "DOMINICKS_COLUMNS",
    "DOMINICKS_STORE_COLUMNS",
    "load_dominicks",
    "load_dominicks_stores",
    "split_dominicks",
]

logger = logging.getLogger(__name__)

DOMINICKS_COLUMNS: dict[str, ColumnKind] = {
    "store": ColumnKind.INT,
    "brand": ColumnKind.INT,
    "week": ColumnKind.INT,
    "logmove": ColumnKind.FLOAT,
    **{f"price{brand}": ColumnKind.FLOAT for brand in range(1, 12)},
    "deal": ColumnKind.FLOAT,
    "feat": ColumnKind.FLOAT,
    "profit": ColumnKind.FLOAT,
}

DOMINICKS_STORE_COLUMNS: dict[str, ColumnKind] = {
    "STORE": ColumnKind.INT,
    **{
        name: ColumnKind.FLOAT
        for name in (
            "AGE60",
            "EDUC",
            "ETHNIC",
            "INCOME",
            "HHLARGE",
            "WORKWOM",
            "HVAL150",
            "SSTRDIST",
            "SSTRVOL",
            "CPDIST5",
            "CPWVOL5",
        )
    },
}

_FOLDER = "dominicks-orange-juice"


def _default_path(file_name: str) -> Path:
    path = shared_data_dir() / _FOLDER / file_name
    if not path.exists():
        raise DataError(
            f"Dominick's data not found: looked for {path}. It is not bundled (academic licence); pass its "
            "path "
            f"(--path) or set {SHARED_DATA_ENV} to the folder that holds {_FOLDER}/.",
            path=path,
        )
    return path


def load_dominicks(path: Path | None = None) -> pd.DataFrame:
    """Store x brand x week rows: store, brand, week as int64; logmove, price1..price11, deal, feat, profit as
    float64 (the constant column is dropped). ``path`` defaults to ``orangeJuice_yx.csv.gz`` in the shared
    data."""
    source = _default_path("orangeJuice_yx.csv.gz") if path is None else Path(path)
    frame = read_csv_checked(source, DOMINICKS_COLUMNS, keep_extra=False, what="Dominick's orange juice CSV")
    logger.info("loaded %s Dominick's rows from %s", len(frame), source)
    return frame


def load_dominicks_stores(path: Path | None = None) -> pd.DataFrame:
    """Store demographics, one row per store, with lower-case column names (``store`` int64, the rest float64)
    so that they join with :func:`load_dominicks` on ``store``."""
    source = _default_path("orangeJuice_storedemo.csv") if path is None else Path(path)
    frame = read_csv_checked(
        source, DOMINICKS_STORE_COLUMNS, keep_extra=False, what="Dominick's store demographics CSV"
    )
    return frame.rename(columns=str.lower)


def split_dominicks(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(learn, report)``: rows of stores with an even store id, and of stores with an odd one."""
    even = (frame["store"] % 2 == 0).to_numpy(dtype=bool)
    return frame.loc[even], frame.loc[~even]
