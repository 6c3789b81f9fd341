"""Supervised windows for the global forecaster: per-series scaled input windows, calendar features and
covariates, paired with the next ``horizon`` values.

Each sample is built at an *origin* ``t`` (the index of the first forecast step) from the ``input_window``
values before it, divided by their mean (the series scale at that origin), the log of that scale, calendar
features of the ``horizon`` target dates, and the covariates over the input window and the target steps
(covariates are treated as known in advance).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

__all__ = ["SeriesArrays", "WindowBatch", "build_windows", "series_arrays"]

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class SeriesArrays:
    """One series as arrays: values (T,), covariates (T, C), dates (T,) as datetime64."""

    key: str
    values: FloatArray
    covariates: FloatArray
    dates: NDArray[np.datetime64]


@dataclass(frozen=True)
class WindowBatch:
    """Samples stacked: features (N, F), scaled targets (N, h) or empty when unknown, scales (N,)."""

    features: FloatArray
    targets: FloatArray
    scales: FloatArray
    keys: list[str]


def series_arrays(frame: pd.DataFrame, covariates: list[str]) -> list[SeriesArrays]:
    """Split a validated series frame into per-series arrays (in ``unique_id`` order)."""
    out: list[SeriesArrays] = []
    for key, group in frame.groupby("unique_id", sort=True):
        out.append(
            SeriesArrays(
                key=str(key),
                values=group["y"].to_numpy(dtype=float),
                covariates=group[covariates].to_numpy(dtype=float).reshape(len(group), len(covariates)),
                dates=group["ds"].to_numpy(dtype="datetime64[ns]"),
            )
        )
    return out


def _calendar(dates: NDArray[np.datetime64]) -> FloatArray:
    """Features per date: sin/cos of the day of the year and of the day of the week -> (n, 4)."""
    stamps = pd.DatetimeIndex(dates)
    year_angle = 2.0 * np.pi * stamps.dayofyear.to_numpy() / 365.25
    week_angle = 2.0 * np.pi * stamps.dayofweek.to_numpy() / 7.0
    return np.stack([np.sin(year_angle), np.cos(year_angle), np.sin(week_angle), np.cos(week_angle)], axis=1)


def _future_dates(dates: NDArray[np.datetime64], origin: int, horizon: int) -> NDArray[np.datetime64]:
    """Dates of steps origin..origin+horizon-1, extrapolated with the series' step past its end."""
    step = dates[1] - dates[0]
    start = dates[origin - 1] + step
    future: NDArray[np.datetime64] = start + step * np.arange(horizon)
    return future


def build_windows(
    series: list[SeriesArrays],
    origins: list[list[int]],
    input_window: int,
    horizon: int,
    with_targets: bool,
) -> WindowBatch:
    """Stack one sample per (series, origin). Covariates at forecast steps beyond the data end must exist
    (the caller passes origins whose covariates are known), so origins satisfy ``origin + horizon <= T``
    whenever the series has covariates or targets are requested."""
    rows: list[FloatArray] = []
    targets: list[FloatArray] = []
    scales: list[float] = []
    keys: list[str] = []
    for item, item_origins in zip(series, origins, strict=True):
        for origin in item_origins:
            window = item.values[origin - input_window : origin]
            mean_level = float(np.mean(np.abs(window)))
            scale = mean_level if mean_level > 1e-8 else 1.0
            cov_window = item.covariates[origin - input_window : origin]
            cov_future = item.covariates[origin : origin + horizon]
            calendar = _calendar(_future_dates(item.dates, origin, horizon))
            rows.append(
                np.concatenate(
                    [
                        window / scale,
                        [np.log1p(scale)],
                        calendar.ravel(),
                        cov_window.ravel(),
                        cov_future.ravel(),
                    ]
                )
            )
            if with_targets:
                targets.append(item.values[origin : origin + horizon] / scale)
            scales.append(scale)
            keys.append(item.key)
    features = np.asarray(rows, dtype=float)
    target_array = np.asarray(targets, dtype=float) if with_targets else np.zeros((len(rows), 0))
    return WindowBatch(features=features, targets=target_array, scales=np.asarray(scales), keys=keys)
