"""Local statistical baselines from statsforecast: seasonal naive and AutoETS, with 80 % (P10-P90)
intervals."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from statsforecast import StatsForecast
from statsforecast.models import AutoETS, SeasonalNaive

from ensemble.errors import ModelError

__all__ = ["BaselineForecast", "forecast_baselines"]

logger = logging.getLogger(__name__)

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class BaselineForecast:
    """Per series: point forecast and the P10/P90 bounds (the 80 % prediction interval), each of length h."""

    point: dict[str, FloatArray]
    lower: dict[str, FloatArray]
    upper: dict[str, FloatArray]


def forecast_baselines(
    histories: Mapping[str, FloatArray], horizon: int, season_length: int
) -> dict[str, BaselineForecast]:
    """Fit seasonal naive and AutoETS on each history and forecast ``horizon`` steps.

    Returns ``{"seasonal_naive": ..., "auto_ets": ...}``. The series are indexed by integer steps, so any
    regular frequency works. Both models run with ``n_jobs=1``.
    """
    frame = pd.concat(
        [
            pd.DataFrame({"unique_id": key, "ds": np.arange(len(values)), "y": np.asarray(values, dtype=float)})
            for key, values in histories.items()
        ],
        ignore_index=True,
    )
    engine = StatsForecast(
        models=[SeasonalNaive(season_length=season_length), AutoETS(season_length=season_length)],
        freq=1,
        n_jobs=1,
    )
    try:
        predicted = engine.forecast(df=frame, h=horizon, level=[80])
    except (ValueError, np.linalg.LinAlgError) as err:
        raise ModelError(f"statsforecast failed on {len(histories)} series (season {season_length}): {err}") from err
    if "unique_id" not in predicted.columns:
        predicted = predicted.reset_index()
    results: dict[str, BaselineForecast] = {}
    for name, column in (("seasonal_naive", "SeasonalNaive"), ("auto_ets", "AutoETS")):
        point: dict[str, FloatArray] = {}
        lower: dict[str, FloatArray] = {}
        upper: dict[str, FloatArray] = {}
        for key, group in predicted.groupby("unique_id", sort=False):
            point[str(key)] = group[column].to_numpy(dtype=float)
            lower[str(key)] = group[f"{column}-lo-80"].to_numpy(dtype=float)
            upper[str(key)] = group[f"{column}-hi-80"].to_numpy(dtype=float)
        results[name] = BaselineForecast(point=point, lower=lower, upper=upper)
    return results
