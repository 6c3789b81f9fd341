"""A held-out check of the demand model behind the pricing simulator.

The simulator's demand is fitted on Dominick's even stores and replayed on the odd ones, so the question is
how well it predicts log units where it was not fitted. The check fits on the even stores, calibrates each
odd store's level on the first part of that store's weeks (the only per-store quantity the simulator
estimates from the odd stores) and scores log units on the later weeks, against two references:

- ``no_cross_price``: the same model without the competitor-price term (is that term worth having?);
- ``series_mean``: each store x brand series' mean log units over the calibration weeks (is the model
  worth having at all?).

Week effects come from the even stores' same weeks, as in the simulator: this measures the model the
simulator runs, not a forecast made before the week.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from ensemble.datasets import load_dominicks, split_dominicks
from ensemble.errors import DataError
from ensemble.pricing.demand_model import DemandModel, fit_demand_model, own_and_competitor_log_prices

__all__ = ["check_demand_model", "predict_log_units"]

logger = logging.getLogger(__name__)

FloatArray = NDArray[np.float64]


def predict_log_units(model: DemandModel, rows: pd.DataFrame) -> FloatArray:
    """The model's expected log units for every row (stores and weeks the model does not know count 0)."""
    own, comp = own_and_competitor_log_prices(rows)
    out = np.full(len(rows), np.nan)
    brands = rows["brand"].to_numpy(dtype=int)
    for brand in np.unique(brands):
        mask = brands == brand
        demand = model.brand(int(brand))
        part = rows.loc[mask]
        out[mask] = demand.mean_log_units(
            np.asarray(part["store"].map(demand.store_effects).fillna(0.0), dtype=np.float64),
            np.asarray(part["week"].map(demand.week_effects).fillna(0.0), dtype=np.float64),
            own[mask],
            comp[mask],
            part["deal"].to_numpy(dtype=np.float64),
            part["feat"].to_numpy(dtype=np.float64),
        )
    return out


def _errors(truth: FloatArray, predicted: FloatArray) -> dict[str, float]:
    residual = truth - predicted
    return {"rmse": float(np.sqrt(np.mean(residual**2))), "mae": float(np.mean(np.abs(residual)))}


def check_demand_model(
    rows: pd.DataFrame | None = None, calibration_share: float = 0.5, week_ridge: float = 1.0
) -> dict[str, Any]:
    """Log-units RMSE/MAE on the odd stores' later weeks of the full model, the model without cross-price
    terms and the per-series mean (see the module docstring); also per brand for the full model. The first
    ``calibration_share`` of the weeks (by week number) calibrates store levels; the rest are scored."""
    if not 0.0 < calibration_share < 1.0:
        raise DataError(f"calibration_share must be strictly between 0 and 1; got {calibration_share}")
    data = load_dominicks() if rows is None else rows
    even, odd = split_dominicks(data)
    if even.empty or odd.empty:
        raise DataError("the demand check needs rows of both even and odd stores")
    cut = float(np.quantile(odd["week"].to_numpy(dtype=float), calibration_share))
    calibration, held_out = odd[odd["week"] <= cut], odd[odd["week"] > cut]
    if calibration.empty or held_out.empty:
        raise DataError(f"no odd-store weeks on one side of week {cut:g}; choose another calibration_share")
    truth = held_out["logmove"].to_numpy(dtype=np.float64)
    models = {
        "full": fit_demand_model(even, week_ridge).with_store_levels(calibration),
        "no_cross_price": fit_demand_model(even, week_ridge, cross_price=False).with_store_levels(calibration),
    }
    predictions = {name: predict_log_units(model, held_out) for name, model in models.items()}
    series_mean = calibration.groupby(["store", "brand"])["logmove"].mean()
    keys = pd.MultiIndex.from_frame(held_out[["store", "brand"]])
    fallback = float(calibration["logmove"].mean())
    predictions["series_mean"] = series_mean.reindex(keys).fillna(fallback).to_numpy(dtype=np.float64)
    report: dict[str, Any] = {name: _errors(truth, predicted) for name, predicted in predictions.items()}
    brands = held_out["brand"].to_numpy(dtype=int)
    report["full_by_brand"] = {
        str(b): _errors(truth[brands == b], predictions["full"][brands == b]) for b in np.unique(brands)
    }
    report["competitor_elasticities"] = {
        str(b): round(d.competitor_elasticity, 3) for b, d in models["full"].brands.items()
    }
    report["split"] = {
        "fit": "even stores, all weeks",
        "calibrate": f"odd stores, weeks <= {cut:g} ({len(calibration)} rows)",
        "score": f"odd stores, weeks > {cut:g} ({len(held_out)} rows)",
    }
    logger.info(
        "demand check: RMSE full %.3f, without cross-price %.3f, series mean %.3f",
        report["full"]["rmse"],
        report["no_cross_price"]["rmse"],
        report["series_mean"]["rmse"],
    )
    return report
