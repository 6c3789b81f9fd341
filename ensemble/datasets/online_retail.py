"""UCI Online Retail: typed loading, cleaning, and the fixed time split (train before 2011-11-01, test from
it)."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from ensemble.datasets.checked_csv import ColumnKind, read_csv_checked
from ensemble.datasets.locations import bundled_data_dir

__all__ = [
    "ONLINE_RETAIL_COLUMNS",
    "ONLINE_RETAIL_CUTOFF",
    "clean_online_retail",
    "default_online_retail_path",
    "load_online_retail",
    "split_online_retail",
]

logger = logging.getLogger(__name__)

ONLINE_RETAIL_COLUMNS: dict[str, ColumnKind] = {
    "InvoiceNo": ColumnKind.STR,
    "StockCode": ColumnKind.STR,
    "Description": ColumnKind.STR,
    "Quantity": ColumnKind.INT,
    "InvoiceDate": ColumnKind.DATETIME,
    "UnitPrice": ColumnKind.FLOAT,
    "CustomerID": ColumnKind.NULLABLE_INT,
    "Country": ColumnKind.STR,
}

ONLINE_RETAIL_CUTOFF = "2011-11-01"


def default_online_retail_path() -> Path:
    """The bundled copy of the Online Retail CSV."""
    return bundled_data_dir() / "online-retail" / "onlineretail.csv.xz"


def load_online_retail(path: Path | None = None) -> pd.DataFrame:
    """All invoice lines, typed: InvoiceNo, StockCode, Description, Country as text (Description may be
    empty), Quantity int64, InvoiceDate datetime64[ns], UnitPrice float64, CustomerID nullable Int64 (blank =
    unknown).

    ``path`` defaults to the copy bundled in the package. Raises :class:`~ensemble.errors.DataError` on bad
    data.
    """
    source = default_online_retail_path() if path is None else Path(path)
    frame = read_csv_checked(source, ONLINE_RETAIL_COLUMNS, keep_extra=False, what="Online Retail CSV")
    logger.info("loaded %s Online Retail lines from %s", len(frame), source)
    return frame


def clean_online_retail(frame: pd.DataFrame, *, require_customer: bool) -> pd.DataFrame:
    """Drop cancellations (InvoiceNo starting with "C"), non-positive quantities or prices, and, when
    ``require_customer``, lines without a CustomerID. The index of the kept rows is preserved."""
    keep = ~frame["InvoiceNo"].str.startswith("C") & (frame["Quantity"] > 0) & (frame["UnitPrice"] > 0)
    if require_customer:
        keep &= frame["CustomerID"].notna()
    return frame.loc[keep.to_numpy(dtype=bool)]


def split_online_retail(
    frame: pd.DataFrame, cutoff: str | pd.Timestamp = ONLINE_RETAIL_CUTOFF
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split by InvoiceDate: ``(train, test)`` with train strictly before ``cutoff`` and test from it on."""
    boundary = pd.Timestamp(cutoff)
    before = (frame["InvoiceDate"] < boundary).to_numpy(dtype=bool)
    return frame.loc[before], frame.loc[~before]
