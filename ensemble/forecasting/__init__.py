"""The forecasting member: series builders, seasonal-naive/AutoETS baselines, a global quantile neural
forecaster, hold-out evaluation and reorder suggestions."""

from __future__ import annotations

from ensemble.forecasting.baselines import BaselineForecast, forecast_baselines
from ensemble.forecasting.evaluation import evaluate_forecast
from ensemble.forecasting.metrics import interval_coverage, mase, mase_scale, pinball_loss, smape
from ensemble.forecasting.neural import QUANTILES, NeuralConfig, NeuralForecaster
from ensemble.forecasting.reorder import ReorderSuggestion, reorder_point
from ensemble.forecasting.series import (
    daily_revenue,
    dominicks_weekly_units,
    read_series_csv,
    to_series_frame,
    validate_series_frame,
    weekly_product_units,
)

__all__ = [
    "QUANTILES",
    "BaselineForecast",
    "NeuralConfig",
    "NeuralForecaster",
    "ReorderSuggestion",
    "daily_revenue",
    "dominicks_weekly_units",
    "evaluate_forecast",
    "forecast_baselines",
    "interval_coverage",
    "mase",
    "mase_scale",
    "pinball_loss",
    "read_series_csv",
    "reorder_point",
    "smape",
    "to_series_frame",
    "validate_series_frame",
    "weekly_product_units",
]
