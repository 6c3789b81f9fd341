"""Long-format series frames: building them from Online Retail, Dominick's or a user's CSV, and validating
them.

A series frame has one row per (series, date): ``unique_id`` (str), ``ds`` (datetime64), ``y`` (float) and
optional numeric covariate columns. Covariates are treated as known for the forecast horizon (e.g. a
retailer's own planned price and promotions).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ensemble.datasets import clean_online_retail
from ensemble.errors import DataError, SeriesTooShortError

__all__ = [
    "DOMINICKS_START",
    "ID_COL",
    "TIME_COL",
    "VALUE_COL",
    "covariate_columns",
    "daily_revenue",
    "dominicks_weekly_units",
    "read_series_csv",
    "to_series_frame",
    "validate_series_frame",
    "weekly_product_units",
]

logger = logging.getLogger(__name__)

ID_COL = "unique_id"
TIME_COL = "ds"
VALUE_COL = "y"
# Dominick's week 1 is the week of 1989-09-14 per the Dominick's data manual; only relative dates matter here.
DOMINICKS_START = pd.Timestamp("1989-09-14")


def covariate_columns(frame: pd.DataFrame) -> list[str]:
    """The covariate columns of a series frame: every column besides id, date and value, in frame order."""
    return [c for c in frame.columns if c not in (ID_COL, TIME_COL, VALUE_COL)]


def _full_weeks(lines: pd.DataFrame) -> tuple[pd.Timestamp, pd.Timestamp]:
    """First and last Monday whose whole week (Mon..Sun) lies inside the data's date range."""
    first_day = lines["InvoiceDate"].min().normalize()
    last_day = lines["InvoiceDate"].max().normalize()
    first_monday = first_day + pd.Timedelta(days=(7 - first_day.dayofweek) % 7)
    last_monday = last_day - pd.Timedelta(days=(last_day.dayofweek + 1) % 7 + 6)
    return first_monday, last_monday


def weekly_product_units(retail: pd.DataFrame, top_n: int = 100, select_before: str | None = None) -> pd.DataFrame:
    """Weekly units (weeks start on Monday, partial first/last weeks dropped, weeks without sales are 0) of
    the ``top_n`` products by total units sold.

    ``retail`` is the raw Online Retail frame; it is cleaned here (cancellations, non-positive quantities and
    prices dropped; lines without a customer kept, since they are real sales). ``select_before`` (a date)
    ranks products only on sales before it, so that a held-out period does not influence which series are
    chosen.
    """
    lines = clean_online_retail(retail, require_customer=False)
    if lines.empty:
        raise DataError("Online Retail frame has no sales after cleaning; pass the raw invoice lines")
    first, last = _full_weeks(lines)
    week = lines["InvoiceDate"].dt.normalize() - pd.to_timedelta(lines["InvoiceDate"].dt.dayofweek, unit="D")
    lines = lines.assign(week=week)
    lines = lines.loc[(lines["week"] >= first) & (lines["week"] <= last)]
    ranking_lines = lines if select_before is None else lines.loc[lines["week"] < pd.Timestamp(select_before)]
    top = ranking_lines.groupby("StockCode")["Quantity"].sum().nlargest(top_n).index
    weekly = lines.loc[lines["StockCode"].isin(top)].groupby(["StockCode", "week"])["Quantity"].sum()
    weeks = pd.date_range(first, last, freq="7D")
    full = pd.MultiIndex.from_product([list(top), weeks], names=["StockCode", "week"])
    weekly = weekly.reindex(full, fill_value=0).astype(float)
    out = weekly.reset_index().rename(columns={"StockCode": ID_COL, "week": TIME_COL, "Quantity": VALUE_COL})
    out[ID_COL] = out[ID_COL].astype(str)
    logger.info("built %s weekly product series of %s weeks", len(top), len(weeks))
    return out


def daily_revenue(retail: pd.DataFrame) -> pd.DataFrame:
    """One series ``total``: daily revenue (sum of Quantity x UnitPrice of clean lines); days without sales
    (the shop takes no orders on Saturdays) are 0."""
    lines = clean_online_retail(retail, require_customer=False)
    if lines.empty:
        raise DataError("Online Retail frame has no sales after cleaning; pass the raw invoice lines")
    revenue = (lines["Quantity"] * lines["UnitPrice"]).groupby(lines["InvoiceDate"].dt.normalize()).sum()
    days = pd.date_range(revenue.index.min(), revenue.index.max(), freq="D")
    revenue = revenue.reindex(days, fill_value=0.0).astype(float)
    return pd.DataFrame({ID_COL: "total", TIME_COL: days, VALUE_COL: revenue.to_numpy()})


def dominicks_weekly_units(dominicks: pd.DataFrame) -> pd.DataFrame:
    """Weekly units (``exp(logmove)``) per store x brand with covariates ``log_price`` (log of the brand's
    own price relative to its series median), ``deal`` and ``feat``.

    Weeks missing inside a series are filled: log units linearly interpolated, price carried forward, deal and
    feat set to 0. ``unique_id`` is ``"<store>-<brand>"``; ``ds`` counts weeks from :data:`DOMINICKS_START`.
    """
    needed = {"store", "brand", "week", "logmove", "deal", "feat"}
    missing = needed - set(dominicks.columns)
    if missing:
        raise DataError(f"Dominick's frame lacks columns {sorted(missing)}; pass the frame from load_dominicks()")
    rows = dominicks.copy()
    brand_idx = rows["brand"].to_numpy(dtype=int)
    price_matrix = rows[[f"price{b}" for b in range(1, 12)]].to_numpy(dtype=float)
    rows["own_price"] = price_matrix[np.arange(len(rows)), brand_idx - 1]
    pieces: list[pd.DataFrame] = []
    for (store, brand), group in rows.groupby(["store", "brand"], sort=True):
        group = group.set_index("week").sort_index()
        weeks = np.arange(group.index.min(), group.index.max() + 1)
        group = group.reindex(weeks)
        log_units = group["logmove"].interpolate(method="linear")
        price = group["own_price"].ffill()
        pieces.append(
            pd.DataFrame(
                {
                    ID_COL: f"{store}-{brand}",
                    TIME_COL: DOMINICKS_START + pd.to_timedelta(7 * (weeks - 1), unit="D"),
                    VALUE_COL: np.exp(log_units.to_numpy()),
                    "log_price": np.log(price.to_numpy() / np.nanmedian(price.to_numpy())),
                    "deal": group["deal"].fillna(0.0).to_numpy(),
                    "feat": group["feat"].fillna(0.0).to_numpy(),
                }
            )
        )
    return pd.concat(pieces, ignore_index=True)


def to_series_frame(
    frame: pd.DataFrame,
    id_col: str,
    date_col: str,
    value_col: str,
    covariate_cols: Sequence[str] = (),
) -> pd.DataFrame:
    """Rename a user's long frame to a series frame (``unique_id``, ``ds``, ``y`` + covariates), checking that
    the columns exist and that dates and values parse. Rows are sorted by series and date."""
    wanted = [id_col, date_col, value_col, *covariate_cols]
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        raise DataError(
            f"series data lacks column(s) {missing}; columns present are {list(frame.columns)}. "
            "Pass the right --id-col/--date-col/--value-col.",
            column=missing[0],
        )
    out = pd.DataFrame({ID_COL: frame[id_col].astype(str)})
    try:
        out[TIME_COL] = pd.to_datetime(frame[date_col])
    except (ValueError, TypeError) as err:
        raise DataError(f"date column {date_col!r} has values that are not dates: {err}", column=date_col) from err
    for source, target in [(value_col, VALUE_COL), *((c, c) for c in covariate_cols)]:
        numeric = pd.to_numeric(frame[source], errors="coerce")
        bad = numeric.isna()
        if bad.any():
            first = frame.index[bad.to_numpy()][0]
            raise DataError(
                f"column {source!r} must be numeric; row {first} holds {frame[source].loc[first]!r}. "
                "Fix or drop such rows.",
                column=source,
                value=str(frame[source].loc[first]),
            )
        out[target] = numeric.astype(float).to_numpy()
    return out.sort_values([ID_COL, TIME_COL], kind="stable").reset_index(drop=True)


def read_series_csv(
    path: Path, id_col: str, date_col: str, value_col: str, covariate_cols: Sequence[str] = ()
) -> pd.DataFrame:
    """Read a user's long-format CSV into a series frame (see :func:`to_series_frame`)."""
    try:
        raw = pd.read_csv(path)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as err:
        raise DataError(f"cannot read series CSV {path}: {err}", path=Path(path)) from err
    return to_series_frame(raw, id_col, date_col, value_col, covariate_cols)


def validate_series_frame(frame: pd.DataFrame, min_length: int) -> pd.DataFrame:
    """Check a series frame: columns present, values finite, no duplicate dates, one regular step per series,
    every series at least ``min_length`` long. Returns the frame sorted by series and date."""
    missing = [c for c in (ID_COL, TIME_COL, VALUE_COL) if c not in frame.columns]
    if missing:
        raise DataError(f"series frame lacks column(s) {missing}; build it with to_series_frame()")
    if frame.empty:
        raise DataError("series frame is empty; it needs at least one series")
    numeric = [VALUE_COL, *covariate_columns(frame)]
    values = frame[numeric].to_numpy(dtype=float)
    if not np.isfinite(values).all():
        row, col = np.argwhere(~np.isfinite(values))[0]
        raise DataError(
            f"column {numeric[col]!r} holds a missing or infinite value in series "
            f"{frame[ID_COL].iloc[row]!r} at {frame[TIME_COL].iloc[row]}; fill or drop it",
            column=numeric[col],
        )
    ordered = frame.sort_values([ID_COL, TIME_COL], kind="stable").reset_index(drop=True)
    lengths = ordered.groupby(ID_COL).size()
    short = lengths[lengths < min_length]
    if not short.empty:
        raise SeriesTooShortError(
            f"{len(short)} series are too short: e.g. {short.index[0]!r} has {int(short.iloc[0])} "
            f"observations but each series needs at least {min_length} (held-out horizon + validation "
            "window + input window). Drop short series or lower the horizon/input window.",
            value=str(short.index[0]),
        )
    steps = ordered.groupby(ID_COL)[TIME_COL].diff().dropna()
    if steps.nunique() > 1 or (not steps.empty and steps.iloc[0] <= pd.Timedelta(0)):
        counts = steps.value_counts()
        raise DataError(
            f"series dates must be regular, one step apart and unique; found steps {list(counts.index[:3])}. "
            "Fill gaps (e.g. with 0 sales) before forecasting.",
            column=TIME_COL,
        )
    return ordered
