"""A global gradient-boosted member: one LightGBM model over all learning series, built with mlforecast on
lags, rolling statistics of the lagged target, calendar features and the series' covariates (price, deal,
feature for Dominick's), forecasting recursively.

The target is standardised per series (mlforecast's ``LocalStandardScaler``) so that one model serves
products selling 5 and 5,000 units a week; the objective is the L1 loss (the median, which is what MASE
rewards) or LightGBM's Tweedie objective on the raw units. Covariates are treated as known over the horizon
(a retailer's own planned prices and promotions). The model can learn on some series and forecast others
(Dominick's: learn on even stores, report on odd ones).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal

import lightgbm as lgb
import numpy as np
import pandas as pd
from mlforecast import MLForecast
from mlforecast.lag_transforms import RollingMean, RollingStd
from mlforecast.target_transforms import LocalStandardScaler
from numpy.typing import NDArray

from ensemble.errors import ModelError
from ensemble.forecasting.members import MemberForecast
from ensemble.forecasting.panel import Panel

__all__ = ["GbmConfig", "gbm_forecasts"]

logger = logging.getLogger(__name__)

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class GbmConfig:
    """LightGBM and feature settings. The defaults (7 leaves, 100 trees) were chosen among a few sizes on the
    Online Retail windows that end before the first test window; change them only on validation windows."""

    objective: Literal["l1", "tweedie"] = "l1"
    n_estimators: int = 100
    learning_rate: float = 0.05
    num_leaves: int = 7
    min_child_samples: int = 20
    subsample: float = 0.8
    colsample: float = 0.8
    lags: tuple[int, ...] = (1, 2, 3, 4, 8)
    rolling_windows: tuple[int, ...] = (4, 8)
    seed: int = 0


def _calendar(dates: pd.DatetimeIndex) -> dict[str, FloatArray]:
    angle = 2.0 * np.pi * dates.dayofyear.to_numpy(dtype=float) / 365.25
    return {"year_sin": np.sin(angle), "year_cos": np.cos(angle)}


def _frame(panel: Panel, rows: list[int], start: int, stop: int, with_target: bool) -> pd.DataFrame:
    """Long frame of steps start..stop-1 of the given panel rows, with calendar and covariate columns."""
    steps = np.arange(start, stop)
    dates = panel.future_dates(start, stop - start)
    n = len(rows)
    columns: dict[str, object] = {
        "unique_id": np.repeat([panel.keys[r] for r in rows], len(steps)),
        "ds": np.tile(steps, n),
    }
    if with_target:
        columns["y"] = panel.values[rows][:, start:stop].ravel()
    for name, values in _calendar(dates).items():
        columns[name] = np.tile(values, n)
    for c, name in enumerate(panel.covariate_names):
        columns[name] = panel.covariates[rows][:, start:stop, c].ravel()
    return pd.DataFrame(columns)


def _engine(config: GbmConfig) -> MLForecast:
    params: dict[str, Any] = {
        "objective": config.objective,
        "n_estimators": config.n_estimators,
        "learning_rate": config.learning_rate,
        "num_leaves": config.num_leaves,
        "min_child_samples": config.min_child_samples,
        "subsample": config.subsample,
        "subsample_freq": 1,
        "colsample_bytree": config.colsample,
        "random_state": config.seed,
        "n_jobs": 1,
        "verbosity": -1,
    }
    transforms = [] if config.objective == "tweedie" else [LocalStandardScaler()]
    return MLForecast(
        models={"lightgbm": lgb.LGBMRegressor(**params)},
        freq=1,
        lags=list(config.lags),
        lag_transforms={
            1: [*(RollingMean(w) for w in config.rolling_windows), RollingStd(max(config.rolling_windows))]
        },
        target_transforms=transforms,  # type: ignore[arg-type]
    )


def gbm_forecasts(
    panel: Panel,
    cutoffs: list[int],
    horizon: int,
    learn_keys: list[str] | None = None,
    report_keys: list[str] | None = None,
    config: GbmConfig | None = None,
) -> MemberForecast:
    """Fit one model per cutoff on the ``learn_keys`` series' steps before it and forecast ``horizon`` steps of
    the ``report_keys`` series (default: all); covariates over the horizon must lie on the grid unless the
    panel has none. Returns point forecasts (n_report, K, h)."""
    config = config or GbmConfig()
    index = {k: i for i, k in enumerate(panel.keys)}
    learn = [index[k] for k in (learn_keys or panel.keys)]
    report = [index[k] for k in (report_keys or panel.keys)]
    out = np.full((len(report), len(cutoffs), horizon), np.nan)
    report_index = {panel.keys[r]: i for i, r in enumerate(report)}
    for j, cutoff in enumerate(cutoffs):
        if panel.covariate_names and cutoff + horizon > panel.length:
            raise ModelError(
                f"covariates {panel.covariate_names} are not known past step {panel.length}; a forecast from "
                f"step {cutoff} needs them for {horizon} steps"
            )
        engine = _engine(config)
        try:
            engine.fit(_frame(panel, learn, 0, cutoff, True), static_features=[])
            predicted = engine.predict(
                horizon,
                new_df=_frame(panel, report, 0, cutoff, True),
                X_df=_frame(panel, report, cutoff, cutoff + horizon, False),
            )
        except (ValueError, lgb.basic.LightGBMError) as err:
            raise ModelError(f"LightGBM member failed at cutoff {cutoff}: {err}") from err
        rows = predicted["unique_id"].astype(str).map(report_index).to_numpy(dtype=int)
        steps = predicted["ds"].to_numpy(dtype=int) - cutoff
        out[rows, j, steps] = predicted["lightgbm"].to_numpy(dtype=float)
        logger.debug("lightgbm cutoff %s: %s training series", cutoff, len(learn))
    if np.isnan(out).any():
        raise ModelError("the LightGBM member returned no forecast for some series; check the learning series")
    if panel.nonnegative:
        out = np.maximum(out, 0.0)
    return MemberForecast(out)
