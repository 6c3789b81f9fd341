"""Rolling-origin forecasts of every member and of the served forecaster, with nothing chosen on a test window.

For each test window (see :class:`~ensemble.forecasting.panel.RollingConfig`) the served combination and
its conformal band are fitted on that window's validation windows only; members' conformal bands likewise.
Members are forecast once per cutoff; the statistical members are fitted on each reported series' own past,
the LightGBM member learns on the learning series (e.g. Dominick's even stores) and forecasts the reported
ones.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ensemble.errors import SeriesTooShortError
from ensemble.forecasting.combine import Combination, apply_combination, choose_combination
from ensemble.forecasting.conformal import ConformalBand, band_scales
from ensemble.forecasting.gbm import GbmConfig, gbm_forecasts
from ensemble.forecasting.members import Member, MemberForecast, statistical_forecasts
from ensemble.forecasting.panel import Panel, RollingConfig, scales_at

__all__ = [
    "SERVED",
    "Band",
    "Calibration",
    "FutureForecast",
    "HeldOutWindow",
    "RollingForecasts",
    "forecast_future",
    "rolling_forecasts",
]

logger = logging.getLogger(__name__)

FloatArray = NDArray[np.float64]
SERVED = "served"


@dataclass(frozen=True)
class Band:
    """One model's forecast of one window: P10, point (P50), P90, each (n, h)."""

    lower: FloatArray
    point: FloatArray
    upper: FloatArray


@dataclass(frozen=True)
class HeldOutWindow:
    """A test window at ``cutoff``: the actual values (n, h), MASE scales (n,), the served combination, and
    per model the native band (when the member has one) and the conformal band."""

    cutoff: int
    actual: FloatArray
    scales: FloatArray
    combination: Combination
    native: dict[str, Band]
    conformal: dict[str, Band]
    validation: Calibration | None = None


@dataclass(frozen=True)
class Calibration:
    """What a window's bands were calibrated on: validation point forecasts per model (n, V, h), the actual
    values (n, V, h), the pooling scales at the validation cutoffs (n, V) and at the test cutoff (n,)."""

    points: dict[str, FloatArray]
    actual: FloatArray
    scales: FloatArray
    test_scales: FloatArray


@dataclass(frozen=True)
class RollingForecasts:
    panel: Panel
    config: RollingConfig
    learn_series: int
    windows: list[HeldOutWindow]
    fit_seconds: dict[str, float]


def _actuals(panel: Panel, cutoffs: list[int], horizon: int) -> FloatArray:
    return np.stack([panel.values[:, c : c + horizon] for c in cutoffs], axis=1)  # (n, K, h)


def _band_scales(panel: Panel, cutoff: int, season_length: int) -> FloatArray:
    level = np.abs(panel.values[:, :cutoff]).mean(axis=1)
    return band_scales(scales_at(panel.values, cutoff, season_length), level)


def calibrate(
    point_val: FloatArray,
    actual_val: FloatArray,
    scales_val: FloatArray,
    point: FloatArray,
    scales: FloatArray,
    nonnegative: bool,
) -> Band:
    """A conformal band for ``point`` (n, h) from validation forecasts/actuals (n, V, h) and scales."""
    band = ConformalBand.fit(point_val, actual_val, scales_val)
    lower, upper = band.apply(point, scales, nonnegative)
    return Band(lower, point, upper)


def rolling_forecasts(
    panel: Panel,
    config: RollingConfig,
    learn_keys: list[str] | None = None,
    report_keys: list[str] | None = None,
    gbm: GbmConfig | None = None,
) -> RollingForecasts:
    """Forecast every cutoff of ``config`` and build the served forecaster for each test window."""
    report = panel.subset(report_keys) if report_keys is not None else panel
    cutoffs = config.cutoffs(panel.length)
    horizon, season = config.horizon, config.season_length
    started = time.perf_counter()
    members: dict[Member, MemberForecast] = statistical_forecasts(report, cutoffs, horizon, season)
    statistical_seconds = time.perf_counter() - started
    started = time.perf_counter()
    members[Member.LIGHTGBM] = gbm_forecasts(panel, cutoffs, horizon, learn_keys, report.keys, gbm)
    gbm_seconds = time.perf_counter() - started
    if report.nonnegative:
        members = {
            m: MemberForecast(
                np.maximum(f.point, 0.0),
                None if f.lower is None else np.maximum(f.lower, 0.0),
                None if f.upper is None else np.maximum(f.upper, 0.0),
            )
            for m, f in members.items()
        }
    actual = _actuals(report, cutoffs, horizon)
    position = {c: j for j, c in enumerate(cutoffs)}
    mase_scales = np.stack([scales_at(report.values, c, season) for c in cutoffs], axis=1)  # (n, K)
    pool_scales = np.stack([_band_scales(report, c, season) for c in cutoffs], axis=1)  # (n, K)
    windows: list[HeldOutWindow] = []
    for cutoff in config.test_cutoffs(panel.length):
        j = position[cutoff]
        val = [position[c] for c in config.validation_cutoffs(cutoff)]
        points_val = {m: f.point[:, val] for m, f in members.items()}
        combination, served_val = choose_combination(points_val, actual[:, val], mase_scales[:, val])
        served = apply_combination({m: f.point[:, j] for m, f in members.items()}, combination)
        native: dict[str, Band] = {}
        conformal: dict[str, Band] = {}
        for member, forecast in members.items():
            if forecast.lower is not None and forecast.upper is not None:
                native[member] = Band(forecast.lower[:, j], forecast.point[:, j], forecast.upper[:, j])
            conformal[member] = calibrate(
                forecast.point[:, val],
                actual[:, val],
                pool_scales[:, val],
                forecast.point[:, j],
                pool_scales[:, j],
                report.nonnegative,
            )
        conformal[SERVED] = calibrate(
            served_val, actual[:, val], pool_scales[:, val], served, pool_scales[:, j], report.nonnegative
        )
        windows.append(
            HeldOutWindow(
                cutoff=cutoff,
                actual=actual[:, j],
                scales=mase_scales[:, j],
                combination=combination,
                native=native,
                conformal=conformal,
                validation=Calibration(
                    points={SERVED: served_val, **{str(m): f.point[:, val] for m, f in members.items()}},
                    actual=actual[:, val],
                    scales=pool_scales[:, val],
                    test_scales=pool_scales[:, j],
                ),
            )
        )
    learn_count = len(learn_keys) if learn_keys is not None else len(panel.keys)
    seconds = {"statistical": round(statistical_seconds, 2), "lightgbm": round(gbm_seconds, 2)}
    logger.info("rolling forecasts: %s series, %s cutoffs, %s", len(report.keys), len(cutoffs), seconds)
    return RollingForecasts(report, config, learn_count, windows, seconds)


@dataclass(frozen=True)
class FutureForecast:
    """The served forecaster fitted on a whole panel: its band past the end (n, h each), the combination and
    the conformal band chosen on the last validation windows."""

    band: Band
    combination: Combination
    conformal: ConformalBand
    errors: FloatArray  # (n V, h) validation errors of the served forecaster, divided by the pooling scale
    scales: FloatArray  # (n,) pooling scales at the panel's end


def forecast_future(panel: Panel, config: RollingConfig, gbm: GbmConfig | None = None) -> FutureForecast:
    """Choose the combination and calibrate its band on the ``config.validation_windows`` windows that end at
    the panel's end, then forecast ``config.horizon`` steps past it."""
    horizon, season = config.horizon, config.season_length
    validation = config.validation_cutoffs(panel.length)
    if validation[0] < config.min_train:
        raise SeriesTooShortError(
            f"series of {panel.length} steps are too short for {config.validation_windows} validation windows of "
            f"{horizon} steps: the first model would see {validation[0]} steps (at least {config.min_train})",
            value=str(panel.length),
        )
    cutoffs = [*validation, panel.length]
    members: dict[Member, MemberForecast] = statistical_forecasts(panel, cutoffs, horizon, season)
    members[Member.LIGHTGBM] = gbm_forecasts(panel, cutoffs, horizon, config=gbm)
    if panel.nonnegative:
        members = {m: MemberForecast(np.maximum(f.point, 0.0)) for m, f in members.items()}
    val = list(range(len(validation)))
    actual = _actuals(panel, validation, horizon)
    mase_scales = np.stack([scales_at(panel.values, c, season) for c in validation], axis=1)
    pool_scales = np.stack([_band_scales(panel, c, season) for c in validation], axis=1)
    combination, served_val = choose_combination({m: f.point[:, val] for m, f in members.items()}, actual, mase_scales)
    served = apply_combination({m: f.point[:, -1] for m, f in members.items()}, combination)
    conformal = ConformalBand.fit(served_val, actual, pool_scales)
    end_scales = _band_scales(panel, panel.length, season)
    lower, upper = conformal.apply(served, end_scales, panel.nonnegative)
    errors = ((actual - served_val) / pool_scales[:, :, None]).reshape(-1, horizon)
    return FutureForecast(Band(lower, served, upper), combination, conformal, errors, end_scales)
