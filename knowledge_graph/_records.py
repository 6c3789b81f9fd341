"""Vectorised derivation of node and edge records from order lines (shared by the full and incremental
builds).

Every function takes a table of prepared lines (see :func:`prepare_lines`) and returns one pandas DataFrame
per node
or edge kind. A function applied to all lines of a set of keys (products, customers, invoices) gives exactly
the
records of those keys, which is what lets :mod:`knowledge_graph.incremental` recompute only what new lines
touch.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from knowledge_graph.config import BuildConfig
from knowledge_graph.errors import InvalidOrdersError
from knowledge_graph.schema import ORDER_COLUMNS
from knowledge_graph.taxonomy import is_merchandise

_STRING_COLUMNS = ("InvoiceNo", "StockCode", "Description", "Country")


def prepare_lines(orders: pd.DataFrame) -> pd.DataFrame:
    """Validate an Online Retail order-lines frame and return a compact copy with derived flags.

    Adds ``cancelled`` (InvoiceNo starts with "C"), ``sale`` (not cancelled, Quantity > 0) and ``amount``
    (Quantity × UnitPrice). String columns become categoricals to keep memory modest.
    """
    missing = [c for c in ORDER_COLUMNS if c not in orders.columns]
    if missing:
        raise InvalidOrdersError(
            f"order lines lack columns {missing}; got {list(orders.columns)}; "
            "pass the Online Retail layout (ensemble.datasets.load_online_retail())"
        )
    if not pd.api.types.is_datetime64_any_dtype(orders["InvoiceDate"]):
        raise InvalidOrdersError(
            f"InvoiceDate must be datetime64, got {orders['InvoiceDate'].dtype}; read it with parse_dates"
        )
    for col in ("Quantity", "UnitPrice", "CustomerID"):
        if not pd.api.types.is_numeric_dtype(orders[col]):
            raise InvalidOrdersError(f"{col} must be numeric, got {orders[col].dtype}")
    lines = pd.DataFrame(
        {
            "InvoiceNo": orders["InvoiceNo"].astype(str).str.strip(),
            "StockCode": orders["StockCode"].astype(str).str.strip(),
            "Description": orders["Description"].fillna("").astype(str).str.strip(),
            "Quantity": orders["Quantity"].astype("int64"),
            "InvoiceDate": orders["InvoiceDate"].astype("datetime64[ns]"),
            "UnitPrice": orders["UnitPrice"].astype("float64"),
            "CustomerID": orders["CustomerID"].astype("Int64"),
            "Country": orders["Country"].fillna("Unspecified").astype(str).str.strip(),
        }
    )
    return finish_lines(lines)


def finish_lines(lines: pd.DataFrame) -> pd.DataFrame:
    """Categorical string columns and the derived flag columns on an already validated line table."""
    out = lines.reset_index(drop=True)
    for col in _STRING_COLUMNS:
        if not isinstance(out[col].dtype, pd.CategoricalDtype):
            out[col] = out[col].astype(str).astype("category")
    out["cancelled"] = out["InvoiceNo"].astype(str).str.startswith("C").to_numpy()
    out["sale"] = (~out["cancelled"]) & (out["Quantity"] > 0)
    out["amount"] = out["Quantity"] * out["UnitPrice"]
    return out


def _iso_day(values: pd.Series) -> pd.Series:
    days: pd.Series = values.dt.strftime("%Y-%m-%d")
    return days


def _mode(frame: pd.DataFrame, key: str, value: str) -> pd.Series:
    """Most frequent ``value`` per ``key`` (ties broken by the smallest value), as a Series indexed by key."""
    counts = frame.groupby([key, value], observed=True).size().rename("n").reset_index()
    counts = counts.sort_values([key, "n", value], ascending=[True, False, True], kind="mergesort")
    first = counts.drop_duplicates(key)
    return pd.Series(first[value].astype(str).to_numpy(), index=first[key].astype(str).to_numpy())


def product_records(lines: pd.DataFrame) -> pd.DataFrame:
    """One row per stock code in ``lines``: description, price statistics, orders, quantity, countries."""
    codes = pd.Index(lines["StockCode"].astype(str).unique(), name="stock_code")
    out = pd.DataFrame(index=codes)
    named = lines[lines["Description"].astype(str) != ""]
    priced = named[named["sale"] & (named["UnitPrice"] > 0)]
    desc = _mode(named, "StockCode", "Description")
    out["description"] = _mode(priced, "StockCode", "Description").reindex(codes)
    out["description"] = out["description"].fillna(desc.reindex(codes)).fillna("")
    sales = lines[lines["sale"]]
    priced_all = sales[sales["UnitPrice"] > 0]
    grouped = priced_all.groupby("StockCode", observed=True)["UnitPrice"]
    stats = grouped.agg(["min", "median", "max", "mean", "size"])
    stats.index = stats.index.astype(str)
    stats = stats.reindex(codes)
    out["price_min"] = stats["min"]
    out["price_median"] = stats["median"]
    out["price_max"] = stats["max"]
    out["price_mean"] = stats["mean"]
    out["n_lines"] = stats["size"].fillna(0).astype("int64")
    by_code = sales.groupby("StockCode", observed=True)
    n_orders = by_code["InvoiceNo"].nunique()
    quantity = by_code["Quantity"].sum()
    n_orders.index = n_orders.index.astype(str)
    quantity.index = quantity.index.astype(str)
    out["n_orders"] = n_orders.reindex(codes).fillna(0).astype("int64")
    out["quantity"] = quantity.reindex(codes).fillna(0).astype("int64")
    pairs = sales[["StockCode", "Country"]].drop_duplicates().astype(str)
    countries = pairs.sort_values("Country").groupby("StockCode")["Country"].agg(tuple)
    out["countries"] = countries.reindex(codes)
    out["countries"] = [c if isinstance(c, tuple) else () for c in out["countries"]]
    out["merchandise"] = [is_merchandise(c) for c in codes]
    return out


def customer_records(lines: pd.DataFrame) -> pd.DataFrame:
    """One row per customer id in ``lines``: country, number of sale orders, first and last sale date."""
    known = lines[lines["CustomerID"].notna()]
    ids = pd.Index(known["CustomerID"].astype("int64").unique(), name="customer_id")
    out = pd.DataFrame(index=ids)
    frame = known.assign(cid=known["CustomerID"].astype("int64"))
    country = _mode(frame.assign(cid=frame["cid"].astype(str)), "cid", "Country")
    out["country"] = country.reindex(ids.astype(str)).to_numpy()
    sales = frame[frame["sale"]]
    grouped = sales.groupby("cid")
    out["n_orders"] = grouped["InvoiceNo"].nunique().reindex(ids).fillna(0).astype("int64")
    out["first_date"] = _iso_day(grouped["InvoiceDate"].min()).reindex(ids)
    out["last_date"] = _iso_day(grouped["InvoiceDate"].max()).reindex(ids)
    out["first_date"] = out["first_date"].astype(object).where(out["first_date"].notna(), None)
    out["last_date"] = out["last_date"].astype(object).where(out["last_date"].notna(), None)
    return out


def invoice_records(lines: pd.DataFrame) -> pd.DataFrame:
    """One row per invoice in ``lines``: date, customer, country, cancelled flag, total and number of
    lines."""
    grouped = lines.groupby("InvoiceNo", observed=True, sort=True)
    out = pd.DataFrame(
        {
            "date": grouped["InvoiceDate"].min().dt.strftime("%Y-%m-%d %H:%M:%S"),
            "customer_id": grouped["CustomerID"].first(),
            "country": grouped["Country"].first().astype(str),
            "cancelled": grouped["cancelled"].first(),
            "total": grouped["amount"].sum().round(2),
            "n_lines": grouped.size(),
        }
    )
    out.index = out.index.astype(str)
    out.index.name = "invoice_no"
    return out


def contains_records(lines: pd.DataFrame) -> pd.DataFrame:
    """Invoice → product lines of non-cancelled invoices, aggregated per (invoice, product)."""
    kept = lines[~lines["cancelled"]]
    grouped = kept.groupby(["InvoiceNo", "StockCode"], observed=True, sort=True)
    out = grouped.agg(
        quantity=("Quantity", "sum"),
        n_lines=("Quantity", "size"),
        unit_price=("UnitPrice", "first"),
        amount=("amount", "sum"),
    ).reset_index()
    out["amount"] = out["amount"].round(2)
    return _stringify(out, ["InvoiceNo", "StockCode"])


def returned_records(lines: pd.DataFrame, by: str) -> pd.DataFrame:
    """Returns from cancellation lines aggregated per (``by``, product), ``by`` being InvoiceNo or
    CustomerID."""
    kept = lines[lines["cancelled"] & lines[by].notna()]
    grouped = kept.groupby([by, "StockCode"], observed=True, sort=True)
    out = grouped.agg(
        quantity=("Quantity", "sum"),
        n_lines=("Quantity", "size"),
        unit_price=("UnitPrice", "first"),
        amount=("amount", "sum"),
        last=("InvoiceDate", "max"),
    ).reset_index()
    out["quantity"] = -out["quantity"]
    out["amount"] = -out["amount"].round(2)
    out["last_date"] = _iso_day(out.pop("last"))
    return _stringify(out, [by, "StockCode"])


def purchased_records(lines: pd.DataFrame) -> pd.DataFrame:
    """Customer → product purchases from sale lines with a known customer."""
    kept = lines[lines["sale"] & lines["CustomerID"].notna()]
    grouped = kept.groupby(["CustomerID", "StockCode"], observed=True, sort=True)
    out = grouped.agg(
        n_orders=("InvoiceNo", "nunique"),
        quantity=("Quantity", "sum"),
        spend=("amount", "sum"),
        first=("InvoiceDate", "min"),
        last=("InvoiceDate", "max"),
    ).reset_index()
    out["spend"] = out["spend"].round(2)
    out["first_date"] = _iso_day(out.pop("first"))
    out["last_date"] = _iso_day(out.pop("last"))
    return _stringify(out, ["CustomerID", "StockCode"])


def placed_records(lines: pd.DataFrame) -> pd.DataFrame:
    """Customer → invoice pairs."""
    kept = lines[lines["CustomerID"].notna()][["CustomerID", "InvoiceNo"]].drop_duplicates()
    return _stringify(kept.sort_values(["CustomerID", "InvoiceNo"]).reset_index(drop=True), ["CustomerID", "InvoiceNo"])


def copurchase_records(lines: pd.DataFrame, config: BuildConfig) -> pd.DataFrame:
    """Top co-purchase partners of every merchandise product, weighted by NPMI over sale invoices.

    Columns: source, target, weight (NPMI), support (shared invoices), lift. Always computed from *all* lines
    because every weight depends on the number of invoices.
    """
    sales = lines[lines["sale"]][["InvoiceNo", "StockCode"]].astype(str).drop_duplicates()
    sales = sales[[is_merchandise(c) for c in sales["StockCode"]]] if len(sales) else sales
    columns = ["source", "target", "weight", "support", "lift"]
    if sales.empty:
        return pd.DataFrame(columns=columns)
    inv_idx, _ = pd.factorize(sales["InvoiceNo"])
    prod_idx, products = pd.factorize(sales["StockCode"], sort=True)
    n_baskets = int(inv_idx.max()) + 1
    x = sp.csr_matrix((np.ones(len(sales), dtype=np.float64), (inv_idx, prod_idx)), shape=(n_baskets, len(products)))
    item = np.asarray(x.sum(axis=0)).ravel()
    pair = (x.T @ x).tocoo()
    keep = (pair.row != pair.col) & (pair.data >= config.min_support)
    rows, cols, support = pair.row[keep], pair.col[keep], pair.data[keep]
    p_ij = support / n_baskets
    pmi = np.log(p_ij / ((item[rows] / n_baskets) * (item[cols] / n_baskets)))
    denom = -np.log(p_ij)
    npmi = np.divide(pmi, denom, out=np.ones_like(pmi), where=denom > 0)
    good = npmi > config.min_npmi
    table = pd.DataFrame(
        {
            "source": np.asarray(products)[rows[good]],
            "target": np.asarray(products)[cols[good]],
            "weight": npmi[good],
            "support": support[good].astype("int64"),
            "lift": np.exp(pmi[good]),
        }
    )
    table = table.sort_values(
        ["source", "weight", "support", "target"], ascending=[True, False, False, True], kind="mergesort"
    )
    table = table[table.groupby("source").cumcount() < config.top_k_copurchase]
    return table.reset_index(drop=True)[columns]


def _stringify(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    for col in columns:
        if col == "CustomerID":
            frame[col] = frame[col].astype("int64")
        else:
            frame[col] = frame[col].astype(str)
    return frame
