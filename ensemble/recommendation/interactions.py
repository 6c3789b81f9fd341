"""Interactions and catalogues in one canonical layout, read from Online Retail or from a user's CSV.

Interactions are a frame with the columns :data:`USER` (text), :data:`ITEM` (text) and :data:`TIME`
(``datetime64[ns]``), one row per interaction; other columns may follow and are carried along (the Online
Retail frame keeps its own columns so that the knowledge-graph member can rebuild the graph from them).
A catalogue is a frame with the columns :data:`ITEM` and :data:`TEXT` (a description), one row per item.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from ensemble.datasets import (
    ColumnKind,
    clean_online_retail,
    load_online_retail,
    read_csv_checked,
)
from ensemble.errors import DataError

__all__ = [
    "ITEM",
    "TEXT",
    "TIME",
    "USER",
    "online_retail_interactions",
    "parse_times",
    "read_catalog_csv",
    "read_interactions_csv",
]

logger = logging.getLogger(__name__)

USER = "user"
ITEM = "item"
TIME = "timestamp"
TEXT = "text"

# Unix timestamps above this magnitude are taken as milliseconds (1e11 s is the year 5138).
_MILLISECONDS_FROM = 1e11


def online_retail_interactions(path: Path | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Online Retail as ``(interactions, catalogue)``.

    Interactions are the cleaned sale lines with a customer (``clean_online_retail(require_customer=True)``),
    user = CustomerID, item = StockCode, time = InvoiceDate, with the original columns kept. The catalogue gives
    each stock code its most frequent description over the whole file (product text, not interactions).
    """
    lines = clean_online_retail(load_online_retail(path), require_customer=True)
    interactions = lines.assign(
        **{
            USER: lines["CustomerID"].astype("int64").astype(str),
            ITEM: lines["StockCode"].astype(str),
            TIME: lines["InvoiceDate"],
        }
    ).reset_index(drop=True)
    described = lines.loc[lines["Description"].str.strip() != "", ["StockCode", "Description"]]
    catalog = (
        described.groupby(["StockCode", "Description"], observed=True)
        .size()
        .reset_index(name="n")
        .sort_values(["StockCode", "n", "Description"], ascending=[True, False, True])
        .drop_duplicates("StockCode")
        .rename(columns={"StockCode": ITEM, "Description": TEXT})[[ITEM, TEXT]]
        .reset_index(drop=True)
    )
    logger.info("Online Retail: %s interactions, %s catalogue items", len(interactions), len(catalog))
    return interactions, catalog


def read_interactions_csv(
    path: Path | str, user_col: str = "user_id", item_col: str = "item_id", time_col: str = "timestamp"
) -> pd.DataFrame:
    """Read a user's interactions CSV into the canonical layout (other columns, e.g. ratings, are dropped).

    The time column may hold dates / date-times (ISO 8601 or anything pandas parses) or unix timestamps in
    seconds (milliseconds when above 1e11); the kind is detected from the values. Raises :class:`DataError`
    for a missing file or column, blank ids, or times that are neither.
    """
    names = {user_col: ColumnKind.STR, item_col: ColumnKind.STR, time_col: ColumnKind.STR}
    if len(names) != 3:
        raise DataError(
            f"--user-col, --item-col and --time-col must name three different columns, got "
            f"{user_col!r}, {item_col!r}, {time_col!r}"
        )
    raw = read_csv_checked(path, names, keep_extra=False, what="interactions CSV")
    frame = pd.DataFrame(
        {
            USER: raw[user_col].astype(str).str.strip(),
            ITEM: raw[item_col].astype(str).str.strip(),
            TIME: parse_times(raw[time_col], f"column {time_col!r} of {path}"),
        }
    )
    for column, given in ((USER, user_col), (ITEM, item_col)):
        blank = frame[column] == ""
        if blank.any():
            row = int(np.flatnonzero(blank.to_numpy())[0])
            raise DataError(
                f"interactions CSV {path}, line {row + 2}, column {given!r}: an empty id; every interaction "
                "needs a user and an item",
                path=Path(path),
                line=row + 2,
                column=given,
            )
    logger.info(
        "read %s interactions (%s users, %s items) from %s",
        len(frame),
        frame[USER].nunique(),
        frame[ITEM].nunique(),
        path,
    )
    return frame


def parse_times(values: pd.Series, where: str) -> pd.Series:
    """Dates or unix timestamps (detected: all values numeric means unix seconds, or ms above 1e11) as
    ``datetime64[ns]``; raises :class:`DataError` naming the first value that is neither."""
    text = values.astype(str).str.strip()
    numbers = pd.to_numeric(text, errors="coerce")
    if numbers.notna().all():
        unit: Literal["ms", "s"] = "ms" if float(numbers.abs().max()) > _MILLISECONDS_FROM else "s"
        logger.info("%s holds unix timestamps (%s)", where, unit)
        return pd.Series(pd.to_datetime(pd.Index(numbers.to_numpy(dtype=np.float64)), unit=unit), index=values.index)
    parsed = pd.to_datetime(text, errors="coerce", format="mixed")
    bad = parsed.isna().to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"{where}, line {row + 2}: value {text.iloc[row]!r} is neither a date (e.g. 2011-11-01 08:26) nor a "
            "unix timestamp (e.g. 1320136000); fix or remove that row",
            line=row + 2,
            value=str(text.iloc[row]),
        )
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    return parsed.astype("datetime64[ns]")


def read_catalog_csv(path: Path | str, item_col: str = "item_id", text_col: str = "description") -> pd.DataFrame:
    """Read a catalogue CSV (item id + description) into the columns :data:`ITEM`, :data:`TEXT`; an item listed
    twice keeps its first non-empty description. Raises :class:`DataError` for a bad file or column."""
    if item_col == text_col:
        raise DataError(f"--catalog-item-col and --catalog-text-col are both {item_col!r}; name two columns")
    raw = read_csv_checked(
        path, {item_col: ColumnKind.STR, text_col: ColumnKind.STR}, keep_extra=False, what="catalogue CSV"
    )
    frame = pd.DataFrame({ITEM: raw[item_col].astype(str).str.strip(), TEXT: raw[text_col].astype(str).str.strip()})
    frame = frame.loc[(frame[ITEM] != "") & (frame[TEXT] != "")].drop_duplicates(ITEM).reset_index(drop=True)
    if frame.empty:
        raise DataError(
            f"catalogue CSV {path} has no row with both an item id ({item_col!r}) and a description "
            f"({text_col!r}); fill those columns or leave out --catalog",
            path=Path(path),
        )
    return frame
