"""Forecast accuracy metrics: MASE, sMAPE, pinball (quantile) loss and interval coverage."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from ensemble.errors import DataError

__all__ = ["interval_coverage", "mase", "mase_scale", "pinball_loss", "smape"]

FloatArray = NDArray[np.float64]


def mase_scale(history: FloatArray, season_length: int) -> float:
    """In-sample MAE of the seasonal naive forecast ``y[t] = y[t - season_length]`` over ``history``."""
    values = np.asarray(history, dtype=float)
    if season_length < 1 or len(values) <= season_length:
        raise DataError(f"MASE needs more than season_length={season_length} in-sample points; got {len(values)}")
    return float(np.mean(np.abs(values[season_length:] - values[:-season_length])))


def mase(actual: FloatArray, forecast: FloatArray, history: FloatArray, season_length: int) -> float:
    """Mean absolute scaled error: MAE of ``forecast`` over ``actual``, divided by :func:`mase_scale` of the
    in-sample ``history``. ``nan`` when the history has no seasonal change (scale 0)."""
    scale = mase_scale(history, season_length)
    if scale == 0.0:
        return float("nan")
    return float(np.mean(np.abs(np.asarray(actual) - np.asarray(forecast))) / scale)


def smape(actual: FloatArray, forecast: FloatArray) -> float:
    """Symmetric MAPE in percent, ``mean(200 |y - f| / (|y| + |f|))``, with 0/0 counted as 0."""
    y = np.asarray(actual, dtype=float)
    f = np.asarray(forecast, dtype=float)
    denominator = np.abs(y) + np.abs(f)
    ratio = np.divide(2.0 * np.abs(y - f), denominator, out=np.zeros_like(y), where=denominator > 0)
    return float(100.0 * np.mean(ratio))


def pinball_loss(actual: FloatArray, forecast: FloatArray, quantile: float) -> float:
    """Mean pinball loss of a ``quantile`` forecast: ``q (y - f)`` above it, ``(1 - q)(f - y)`` below."""
    if not 0.0 < quantile < 1.0:
        raise DataError(f"quantile must lie in (0, 1); got {quantile}")
    diff = np.asarray(actual, dtype=float) - np.asarray(forecast, dtype=float)
    return float(np.mean(np.maximum(quantile * diff, (quantile - 1.0) * diff)))


def interval_coverage(actual: FloatArray, lower: FloatArray, upper: FloatArray) -> float:
    """Share of ``actual`` values inside ``[lower, upper]`` (inclusive)."""
    y = np.asarray(actual, dtype=float)
    return float(np.mean((y >= np.asarray(lower)) & (y <= np.asarray(upper))))
