"""The forecasting member: series builders, the classic statsforecast members, a global LightGBM member, the
served combination chosen on validation windows with conformal P10-P90 bands, rolling-origin evaluation, an
inventory simulation and reorder suggestions."""

from __future__ import annotations

from ensemble.forecasting.baselines import BaselineForecast, forecast_baselines
from ensemble.forecasting.combine import Combination, choose_combination
from ensemble.forecasting.conformal import ConformalBand
from ensemble.forecasting.evaluation import evaluate_forecast, online_retail_frame, rolling_evaluation
from ensemble.forecasting.gbm import GbmConfig, gbm_forecasts
from ensemble.forecasting.inventory import InventoryConfig, simulate_inventory
from ensemble.forecasting.members import BASELINES, Member, MemberForecast, statistical_forecasts
from ensemble.forecasting.metrics import interval_coverage, mase, mase_scale, pinball_loss, smape
from ensemble.forecasting.neural import QUANTILES, NeuralConfig, NeuralForecaster
from ensemble.forecasting.panel import Panel, RollingConfig, build_panel
from ensemble.forecasting.reorder import ReorderSuggestion, reorder_point
from ensemble.forecasting.rolling import RollingForecasts, forecast_future, rolling_forecasts
from ensemble.forecasting.series import (
    daily_revenue,
    dominicks_weekly_units,
    read_series_csv,
    to_series_frame,
    validate_series_frame,
    weekly_product_units,
)

__all__ = [
    "BASELINES",
    "QUANTILES",
    "BaselineForecast",
    "Combination",
    "ConformalBand",
    "GbmConfig",
    "InventoryConfig",
    "Member",
    "MemberForecast",
    "NeuralConfig",
    "NeuralForecaster",
    "Panel",
    "ReorderSuggestion",
    "RollingConfig",
    "RollingForecasts",
    "build_panel",
    "choose_combination",
    "daily_revenue",
    "dominicks_weekly_units",
    "evaluate_forecast",
    "forecast_baselines",
    "forecast_future",
    "gbm_forecasts",
    "interval_coverage",
    "mase",
    "mase_scale",
    "online_retail_frame",
    "pinball_loss",
    "read_series_csv",
    "reorder_point",
    "rolling_evaluation",
    "rolling_forecasts",
    "simulate_inventory",
    "smape",
    "statistical_forecasts",
    "to_series_frame",
    "validate_series_frame",
    "weekly_product_units",
]
