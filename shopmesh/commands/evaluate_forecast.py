"""``shopmesh eval forecast`` and ``shopmesh eval inventory``: rolling-origin evaluation of the forecasting
members and the served forecaster, and the inventory simulation driven by them, on Online Retail, Dominick's or
a user's series CSV; each prints one JSON object. Registered on the ``eval`` group by :func:`register_forecast`."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import pandas as pd

from ensemble.datasets import load_dominicks, load_online_retail
from ensemble.forecasting import (
    InventoryConfig,
    RollingConfig,
    build_panel,
    dominicks_weekly_units,
    online_retail_frame,
    read_series_csv,
    rolling_evaluation,
    rolling_forecasts,
    simulate_inventory,
)
from ensemble.forecasting.evaluation import summarise
from shopmesh.errors import CommandError
from shopmesh.plots import forecast_bands, png_path
from shopmesh.progress import ticking

__all__ = ["register_forecast"]


class Dataset(StrEnum):
    ONLINE_RETAIL = "online-retail"
    DOMINICKS = "dominicks"


@dataclass(frozen=True)
class ForecastData:
    frame: pd.DataFrame
    source: str
    learn_ids: list[str] | None
    report_ids: list[str] | None


_FORECAST_DESCRIPTION = (
    "Rolling-origin evaluation: TEST_WINDOWS windows of HORIZON steps, STEP apart, at the end of every series; "
    "each is judged by the VALIDATION_WINDOWS windows that end before it, on which the served combination, its "
    "per-series baseline fall-back and its conformal P10-P90 band are chosen. Members: seasonal naive, AutoETS, "
    "AutoTheta, CrostonOptimized, ADIDA, TSB (statsforecast) and a global LightGBM on lags, rolling statistics, "
    "calendar and covariate columns (mlforecast). Prints MASE (mean, median), sMAPE, scaled pinball loss and "
    "P10-P90 coverage per model and window. Online Retail: weekly units of the TOP_N products ranked on the "
    "weeks before the first cutoff. Dominick's: store x brand weekly units with price/deal/feature covariates, "
    "LightGBM learning on even stores, every model reported on odd stores."
)


def _add_data_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dataset",
        choices=[d.value for d in Dataset],
        default=Dataset.ONLINE_RETAIL.value,
        help="bundled data to use when --series is not given",
    )
    parser.add_argument("--series", type=Path, default=None, help="long CSV of series (instead of --dataset)")
    parser.add_argument("--id-col", default="unique_id", help="series id column of --series")
    parser.add_argument("--date-col", default="ds", help="date column of --series (regular steps)")
    parser.add_argument("--value-col", default="y", help="value column of --series")
    parser.add_argument(
        "--covariate-cols", nargs="*", default=[], help="numeric columns known in advance (e.g. price promo)"
    )
    parser.add_argument("--top-n", type=int, default=100, help="Online Retail: best sellers evaluated")
    parser.add_argument("--horizon", type=int, default=8, help="steps per window")
    parser.add_argument("--step", type=int, default=4, help="steps between window origins (divides the horizon)")
    parser.add_argument("--test-windows", type=int, default=4, help="held-out windows at the end of the series")
    parser.add_argument("--validation-windows", type=int, default=3, help="windows judging each test window")
    parser.add_argument("--season-length", type=int, default=1, help="season of the naive model and MASE scale")


def register_forecast(group: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``forecast`` and ``inventory`` to the ``eval`` sub-command group."""
    forecast = group.add_parser(
        "forecast",
        help="forecasting members and the served forecaster on rolling held-out windows",
        description=_FORECAST_DESCRIPTION,
    )
    _add_data_arguments(forecast)
    forecast.add_argument(
        "--plot",
        type=Path,
        default=None,
        help="PNG of forecast vs actual with the P10-P90 band (default: forecast_bands.png in the workspace)",
    )
    forecast.set_defaults(handler=run_forecast)
    inventory = group.add_parser(
        "inventory",
        help="order-up-to policy on held-out weeks: served forecaster vs seasonal naive and AutoETS",
        description=(
            "Weekly order-up-to policy (reorder point at the service level over the lead time, up to it plus "
            "a week's median demand, lost sales) played on every test window of the rolling evaluation with "
            "each model's P10/P50/P90; prints fill rate vs target, stock-out weeks, average stock and cost."
        ),
    )
    _add_data_arguments(inventory)
    inventory.add_argument("--service-level", type=float, default=0.95, help="cycle service level target")
    inventory.add_argument("--lead-time", type=int, default=2, help="lead time in whole weeks")
    inventory.add_argument("--order-cost", type=float, default=10.0, help="fixed cost per order")
    inventory.add_argument("--holding-cost", type=float, default=0.02, help="cost per unit held per week")
    inventory.set_defaults(handler=run_inventory)


def _config(args: argparse.Namespace) -> RollingConfig:
    for name in ("top_n", "horizon", "step", "test_windows", "validation_windows", "season_length"):
        if getattr(args, name) < 1:
            raise CommandError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    return RollingConfig(
        horizon=args.horizon,
        step=args.step,
        test_windows=args.test_windows,
        validation_windows=args.validation_windows,
        season_length=args.season_length,
    )


def _data(args: argparse.Namespace, config: RollingConfig) -> ForecastData:
    if args.series is not None:
        frame = read_series_csv(args.series, args.id_col, args.date_col, args.value_col, args.covariate_cols)
        return ForecastData(frame, str(args.series), None, None)
    if args.covariate_cols:
        raise CommandError("--covariate-cols needs --series; the bundled data sets bring their own covariates")
    if args.dataset == Dataset.DOMINICKS:
        frame = dominicks_weekly_units(load_dominicks())
        ids = sorted(frame["unique_id"].unique())
        even = [i for i in ids if int(i.split("-")[0]) % 2 == 0]
        odd = [i for i in ids if int(i.split("-")[0]) % 2 == 1]
        return ForecastData(frame, "dominicks (learn on even stores, report on odd)", even, odd)
    return ForecastData(online_retail_frame(load_online_retail(), args.top_n, config), "online-retail", None, None)


def _print(result: dict[str, Any]) -> None:
    print(json.dumps(result, indent=2, default=str))


def run_forecast(args: argparse.Namespace) -> int:
    config = _config(args)
    plot = png_path(args.plot, args.workspace.root / "forecast_bands.png")
    data = _data(args, config)
    with ticking("rolling-origin forecasts of every member"):
        result = rolling_evaluation(data.frame, config, learn_ids=data.learn_ids, report_ids=data.report_ids)
    forecast_bands(result, plot)
    _print({"data": data.source, **summarise(result), "plot": str(plot)})
    return 0


def run_inventory(args: argparse.Namespace) -> int:
    config = _config(args)
    policy = InventoryConfig(
        service_level=args.service_level,
        lead_time_weeks=args.lead_time,
        order_cost=args.order_cost,
        holding_cost=args.holding_cost,
    )
    policy.check(config.horizon)
    data = _data(args, config)
    panel = build_panel(data.frame, min_length=config.horizon + config.min_train + 1)
    learn = None if data.learn_ids is None else [k for k in data.learn_ids if k in set(panel.keys)]
    report = None if data.report_ids is None else [k for k in data.report_ids if k in set(panel.keys)]
    with ticking("rolling-origin forecasts of every member"):
        result = rolling_forecasts(panel, config, learn, report)
    _print({"data": data.source, **simulate_inventory(result, policy)})
    return 0
