"""Series on one common weekly grid, and the rolling-origin cutoffs evaluated on it.

A :class:`Panel` holds every series as a row of one ``(n, T)`` array (and covariates as ``(n, T, C)``), so
that a cutoff ``c`` means the same date for every series: models see steps ``< c`` and forecast
``c .. c + h - 1``. Series that do not cover the whole grid (Dominick's has a few store x brand pairs that
start late or stop early) are left out and counted.

Cutoff layout (``h`` = horizon, ``s`` = step between origins, ``V`` validation windows, ``W`` test windows):
test cutoffs are ``T - h - s (W - 1), ..., T - h``; a test window at ``c`` is judged by the ``V`` latest
windows that end before it, cutoffs ``c - h - s (V - 1), ..., c - h``. Every window is forecast once; the
union of those cutoffs is :meth:`RollingConfig.cutoffs`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from ensemble.errors import DataError, SeriesTooShortError
from ensemble.forecasting.series import ID_COL, TIME_COL, VALUE_COL, covariate_columns, validate_series_frame

__all__ = ["Panel", "RollingConfig", "build_panel", "scales_at"]

logger = logging.getLogger(__name__)

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class RollingConfig:
    """Rolling-origin layout: ``test_windows`` windows of ``horizon`` steps, ``step`` apart, each judged on the
    ``validation_windows`` latest windows that end before it."""

    horizon: int = 8
    step: int = 4
    test_windows: int = 4
    validation_windows: int = 3
    season_length: int = 1
    min_train: int = 12

    def check(self) -> None:
        for name in ("horizon", "step", "test_windows", "validation_windows", "season_length", "min_train"):
            if getattr(self, name) < 1:
                raise DataError(f"{name} must be at least 1; got {getattr(self, name)}")
        if self.horizon % self.step:
            raise DataError(
                f"horizon ({self.horizon}) must be a multiple of step ({self.step}) so that validation windows "
                "fall on the cutoff grid; choose e.g. step = horizon / 2"
            )

    def cutoffs(self, length: int) -> list[int]:
        """Every cutoff (index of the first forecast step) forecast in an evaluation of series of ``length``."""
        self.check()
        last = length - self.horizon
        first_test = last - self.step * (self.test_windows - 1)
        first = first_test - self.horizon - self.step * (self.validation_windows - 1)
        if first < self.min_train:
            raise SeriesTooShortError(
                f"series of {length} steps are too short for {self.test_windows} test and "
                f"{self.validation_windows} validation windows of {self.horizon} steps {self.step} apart: the "
                f"first model would see {first} steps (at least {self.min_train} needed). Use fewer windows, a "
                "shorter horizon or longer series.",
                value=str(length),
            )
        return list(range(first, last + 1, self.step))

    def test_cutoffs(self, length: int) -> list[int]:
        return self.cutoffs(length)[-self.test_windows :]

    def validation_cutoffs(self, cutoff: int) -> list[int]:
        """The validation windows of the window starting at ``cutoff`` (all end at or before ``cutoff``)."""
        latest = cutoff - self.horizon
        return [latest - self.step * j for j in range(self.validation_windows - 1, -1, -1)]


@dataclass(frozen=True)
class Panel:
    """Series on one grid: values (n, T), covariates (n, T, C), dates (T,)."""

    keys: list[str]
    dates: pd.DatetimeIndex
    values: FloatArray
    covariates: FloatArray
    covariate_names: list[str]
    dropped: int

    @property
    def length(self) -> int:
        return int(self.values.shape[1])

    @property
    def nonnegative(self) -> bool:
        return bool((self.values >= 0).all())

    def subset(self, keys: list[str]) -> Panel:
        index = {k: i for i, k in enumerate(self.keys)}
        rows = [index[k] for k in keys]
        return Panel(
            keys=list(keys),
            dates=self.dates,
            values=self.values[rows],
            covariates=self.covariates[rows],
            covariate_names=self.covariate_names,
            dropped=self.dropped,
        )

    def future_dates(self, cutoff: int, horizon: int) -> pd.DatetimeIndex:
        """Dates of steps ``cutoff .. cutoff + horizon - 1``, extrapolated past the grid's end."""
        step = self.dates[1] - self.dates[0]
        return pd.DatetimeIndex([self.dates[0] + step * (cutoff + i) for i in range(horizon)])


def build_panel(frame: pd.DataFrame, min_length: int) -> Panel:
    """Validate a series frame and lay it on the grid of its most common first and last dates; series that
    do not cover that grid are dropped (and counted in ``dropped``)."""
    checked = validate_series_frame(frame, min_length=min_length)
    covariates = covariate_columns(checked)
    bounds = checked.groupby(ID_COL)[TIME_COL].agg(["min", "max"])
    start, end = bounds["min"].mode().iloc[0], bounds["max"].mode().iloc[0]
    full = bounds.index[(bounds["min"] <= start) & (bounds["max"] >= end)]
    rows = checked.loc[checked[ID_COL].isin(full) & checked[TIME_COL].between(start, end)]
    dropped = len(bounds) - len(full)
    if dropped:
        logger.info("left out %s of %s series that do not cover %s..%s", dropped, len(bounds), start, end)
    keys = [str(k) for k in sorted(full)]
    dates = pd.DatetimeIndex(sorted(rows[TIME_COL].unique()))
    if len(dates) < min_length:
        raise SeriesTooShortError(
            f"the common date range {start}..{end} holds {len(dates)} steps; at least {min_length} are needed",
            value=str(len(dates)),
        )
    ordered = rows.sort_values([ID_COL, TIME_COL], kind="stable")
    n, t = len(keys), len(dates)
    values = ordered[VALUE_COL].to_numpy(dtype=float).reshape(n, t)
    cov = ordered[covariates].to_numpy(dtype=float).reshape(n, t, len(covariates))
    return Panel(keys=keys, dates=dates, values=values, covariates=cov, covariate_names=covariates, dropped=dropped)


def scales_at(values: FloatArray, cutoff: int, season_length: int) -> FloatArray:
    """MASE scale of every series at ``cutoff``: in-sample MAE of the seasonal naive forecast on the steps
    before it, shape (n,). Zero where the history never changes."""
    history = values[:, :cutoff]
    if history.shape[1] <= season_length:
        raise DataError(f"MASE needs more than season_length={season_length} steps before cutoff {cutoff}")
    diffs: FloatArray = np.abs(history[:, season_length:] - history[:, :-season_length]).mean(axis=1)
    return diffs
