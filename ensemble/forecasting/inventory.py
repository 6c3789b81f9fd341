"""Inventory simulation on held-out weeks: the weekly order-up-to policy of :func:`reorder_point` driven by
each model's P10/P50/P90, played against the actual demand of every test window.

Per series and test window (forecast origin ``c``, horizon ``h``, lead time ``L``, review period 1 week):
the shelf starts at the policy's own order-up-to level for week ``c``. At the start of each week ``c + j``
(``j = 0 .. h - L - 1``, the weeks whose lead time and review period the forecast covers) orders due that
week arrive, then the policy reviews the inventory position (on hand + on order) against the reorder point
computed from forecast weeks ``j ..`` and orders up to it plus a week's median demand; the order arrives at
the start of week ``c + j + L``. Demand is then served from stock; what cannot be served is lost.

A second policy, ``conformal``, sets the order-up-to level directly from validation errors: the level for
the protection period (lead time + one review week) starting at week ``j`` is the sum of the point forecasts
over it plus the series' scale times the conformal quantile, at the service level, of the scaled errors of
that sum on the window's validation windows (pooled over series). It makes no normal or independence
assumption, which lumpy weekly demand breaks; each model is calibrated on its own validation errors.

Reported per model and policy: fill rate (units sold / units demanded, pooled, and the mean over series), the share of
weeks with a stock-out, the average stock held at the end of a week (units, and weeks of mean demand), the
number of orders and the cost ``order_cost x orders + holding_cost x unit-weeks held``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ensemble.errors import DataError
from ensemble.forecasting.members import Member
from ensemble.forecasting.reorder import reorder_point
from ensemble.forecasting.rolling import SERVED, Band, Calibration, RollingForecasts

__all__ = ["InventoryConfig", "simulate_inventory"]

logger = logging.getLogger(__name__)

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class InventoryConfig:
    """Policy and cost settings: cycle service level, lead time (whole weeks), fixed cost per order and holding
    cost per unit per week."""

    service_level: float = 0.95
    lead_time_weeks: int = 2
    order_cost: float = 10.0
    holding_cost: float = 0.02

    def check(self, horizon: int) -> None:
        if not 0.5 <= self.service_level < 1.0:
            raise DataError(f"service level must lie in [0.5, 1); got {self.service_level}")
        if not 1 <= self.lead_time_weeks <= horizon - 1:
            raise DataError(
                f"lead time must be 1..{horizon - 1} whole weeks for a {horizon}-week forecast; got "
                f"{self.lead_time_weeks}"
            )
        if self.order_cost < 0 or self.holding_cost < 0:
            raise DataError(f"costs must be >= 0; got order {self.order_cost}, holding {self.holding_cost}")


@dataclass
class _Totals:
    demand: float = 0.0
    sold: float = 0.0
    weeks: int = 0
    stockout_weeks: int = 0
    held: float = 0.0
    orders: int = 0
    series_fill: list[float] | None = None


def _conformal_levels(calibration: Calibration, name: str, point: FloatArray, lead: int, level: float) -> FloatArray:
    """Order-up-to levels (n, weeks) for protection periods of ``lead + 1`` weeks starting at each week."""
    horizon = point.shape[1]
    protection = lead + 1
    levels = np.zeros((point.shape[0], horizon - lead))
    for j in range(horizon - lead):
        weeks = slice(j, j + protection)
        errors = calibration.actual[:, :, weeks].sum(axis=2) - calibration.points[name][:, :, weeks].sum(axis=2)
        scores = np.sort((errors / calibration.scales).ravel())
        rank = min(math.ceil((len(scores) + 1) * level), len(scores))
        levels[:, j] = point[:, weeks].sum(axis=1) + calibration.test_scales * scores[rank - 1]
    return np.asarray(np.maximum(levels, 0.0), dtype=np.float64)


# A policy's order decision: (series, week, on hand, on order) -> units to order. At week 0 it is asked with an
# empty shelf and nothing on order, and its answer is the opening stock (delivered at once, not counted as an order).
OrderRule = Callable[[int, int, float, float], float]


def _simulate(actual: FloatArray, weeks: int, lead: int, order: OrderRule, totals: _Totals) -> None:
    """Play ``weeks`` weeks of every series of ``actual`` (n, h) under ``order``; orders placed in week ``j``
    arrive at the start of week ``j + lead``; demand that the shelf cannot serve is lost."""
    horizon = actual.shape[1]
    for i in range(actual.shape[0]):
        arrivals = np.zeros(horizon + lead + 1)
        on_hand = float(order(i, 0, 0.0, 0.0))
        demand_total = sold_total = 0.0
        for j in range(weeks):
            if j > 0:
                on_hand += arrivals[j]
                quantity = order(i, j, on_hand, float(arrivals[j + 1 : j + lead].sum()))
                if quantity > 0:
                    arrivals[j + lead] += quantity
                    totals.orders += 1
            demand = float(actual[i, j])
            sold = min(on_hand, demand)
            on_hand -= sold
            demand_total += demand
            sold_total += sold
            totals.weeks += 1
            totals.stockout_weeks += int(demand > sold + 1e-9)
            totals.held += on_hand
        totals.demand += demand_total
        totals.sold += sold_total
        if totals.series_fill is not None and demand_total > 0:
            totals.series_fill.append(sold_total / demand_total)


def _reorder_rule(band: Band, config: InventoryConfig) -> OrderRule:
    """The reorder suggestion of :func:`reorder_point` from forecast weeks ``j ..`` of ``band`` (n, h)."""

    def order(i: int, j: int, on_hand: float, on_order: float) -> float:
        quantiles = {
            0.1: band.lower[i, j:].tolist(),
            0.5: band.point[i, j:].tolist(),
            0.9: band.upper[i, j:].tolist(),
        }
        suggestion = reorder_point(
            quantiles, config.lead_time_weeks, config.service_level, on_hand=on_hand, on_order=on_order
        )
        return float(suggestion.order_quantity)

    return order


def _base_stock_rule(levels: FloatArray) -> OrderRule:
    """Order up to ``levels[i, j]`` (n, weeks) in whole units."""

    def order(i: int, j: int, on_hand: float, on_order: float) -> float:
        position = on_hand + on_order
        return float(math.ceil(levels[i, j] - position)) if levels[i, j] > position else 0.0

    return order


def _table(models: dict[str, _Totals], config: InventoryConfig) -> dict[str, Any]:
    table: dict[str, Any] = {}
    for name, totals in models.items():
        mean_demand = totals.demand / totals.weeks if totals.weeks else 0.0
        average_stock = totals.held / totals.weeks if totals.weeks else 0.0
        table[name] = {
            "fill_rate": round(totals.sold / totals.demand, 4) if totals.demand else None,
            "fill_rate_mean_over_series": round(float(np.mean(totals.series_fill)), 4) if totals.series_fill else None,
            "stockout_week_share": round(totals.stockout_weeks / totals.weeks, 4) if totals.weeks else None,
            "average_stock_units": round(average_stock, 2),
            "average_stock_weeks_of_demand": round(average_stock / mean_demand, 3) if mean_demand else None,
            "orders": totals.orders,
            "cost": round(config.order_cost * totals.orders + config.holding_cost * totals.held, 2),
        }
    return table


def simulate_inventory(result: RollingForecasts, config: InventoryConfig | None = None) -> dict[str, Any]:
    """Play the policy on every test window with the served forecaster's conformal band and with the
    seasonal naive and AutoETS forecasts and their own 80 % intervals."""
    config = config or InventoryConfig()
    config.check(result.config.horizon)
    models: dict[str, _Totals] = {}
    calibrated: dict[str, _Totals] = {}
    lead = config.lead_time_weeks
    weeks = result.config.horizon - lead  # the weeks whose lead time and review period the forecast covers
    for window in result.windows:
        bands = {
            SERVED: window.conformal[SERVED],
            str(Member.SEASONAL_NAIVE): window.native[Member.SEASONAL_NAIVE],
            str(Member.AUTO_ETS): window.native[Member.AUTO_ETS],
        }
        for name, band in bands.items():
            totals = models.setdefault(name, _Totals(series_fill=[]))
            _simulate(window.actual, weeks, lead, _reorder_rule(band, config), totals)
            if window.validation is not None:
                levels = _conformal_levels(window.validation, name, band.point, lead, config.service_level)
                totals = calibrated.setdefault(name, _Totals(series_fill=[]))
                _simulate(window.actual, weeks, lead, _base_stock_rule(levels), totals)
    return {
        "policy": {
            "service_level_target": config.service_level,
            "lead_time_weeks": config.lead_time_weeks,
            "review_period_weeks": 1,
            "order_cost": config.order_cost,
            "holding_cost_per_unit_week": config.holding_cost,
            "simulated_weeks_per_window": result.config.horizon - config.lead_time_weeks,
            "lost_sales": True,
        },
        "series": len(result.panel.keys),
        "test_cutoffs": [result.panel.dates[w.cutoff].date().isoformat() for w in result.windows],
        "models": _table(models, config),
        "conformal_policy": _table(calibrated, config),
        "note": (
            "served = the forecaster's conformal P10/P50/P90; seasonal_naive and auto_ets use statsforecast's own "
            "80 % intervals; the service-level target is the chance of no stock-out over a lead time, the fill "
            "rate the share of demanded units served from stock; models use the normal-approximation policy of "
            "the reorder suggestion, conformal_policy the order-up-to level calibrated on validation errors"
        ),
    }
