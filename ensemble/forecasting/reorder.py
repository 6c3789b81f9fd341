"""Reorder suggestion from weekly P10/P50/P90 demand forecasts.

Method: each week's demand is approximated by a normal distribution whose median is P50 and whose spread is
read off the quantiles, ``sd = (P90 - P10) / (2 z_0.9)`` with ``z_0.9 = 1.2816``. Weeks are assumed
independent, so demand over a lead time of L weeks (a fractional last week counts pro rata) has mean
``sum P50`` and standard deviation ``sqrt(sum sd^2)``. The reorder point is that demand's quantile at the
service level: ``sum P50 + z_s sqrt(sum sd^2)``; the safety stock is the part above ``sum P50``. When the
inventory position (on hand + on order) is at or below the reorder point, order up to the reorder point
plus the median demand of one review period.

Expected fill rate (the share of demand served from stock, lost sales neglected): over the protection period
of lead time + review period the demand has mean ``mu`` and sd ``sigma``; the order-up-to level ``S`` leaves a
safety factor ``k = (S - mu) / sigma``, the expected shortage per review period is ``sigma G(k)`` with the
standard normal loss function ``G(k) = phi(k) - k (1 - Phi(k))``, and the fill rate is ``1 - sigma G(k) /
(median demand of one review period)``.

:func:`conformal_reorder` needs no normal or independence assumption (lumpy weekly demand breaks both): given
the forecaster's scaled errors on validation windows, the demand level over a period is the sum of the point
forecasts plus the series' scale times the conformal quantile, at the service level, of the errors' sums over
that period. The order-up-to level covers lead time + review period, the reorder point the lead time; the
policy orders up to the level whenever the inventory position is below it (weekly base stock). Its expected
fill rate is read off the same errors: for each validation cycle, the share of its review-period demand that
the level would have served, averaged over cycles.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from ensemble.errors import DataError

__all__ = ["ReorderSuggestion", "conformal_reorder", "reorder_point"]

Z90 = NormalDist().inv_cdf(0.9)


@dataclass(frozen=True)
class ReorderSuggestion:
    reorder_point: int
    order_quantity: int
    lead_time_demand_p50: float
    safety_stock: float
    explanation: str
    service_level: float = 0.95
    order_up_to_level: float = 0.0
    expected_fill_rate: float = 1.0


def _weights(weeks: float, horizon: int) -> np.ndarray:
    full = math.floor(weeks)
    weights = np.zeros(horizon)
    weights[:full] = 1.0
    if full < horizon:
        weights[full] = weeks - full
    return weights


def reorder_point(
    forecast_quantiles: Mapping[float, Sequence[float]],
    lead_time_weeks: float,
    service_level: float,
    on_hand: float,
    on_order: float = 0.0,
    review_period_weeks: float = 1.0,
) -> ReorderSuggestion:
    """Reorder point and order quantity (rounded up to whole units) from weekly quantile forecasts
    ``{0.1: [...], 0.5: [...], 0.9: [...]}`` covering at least lead time + review period."""
    try:
        p10, p50, p90 = (np.asarray(forecast_quantiles[q], dtype=float) for q in (0.1, 0.5, 0.9))
    except KeyError as err:
        raise DataError(f"forecast_quantiles needs keys 0.1, 0.5 and 0.9; got {sorted(forecast_quantiles)}") from err
    if not 0.5 <= service_level < 1.0:
        raise DataError(f"service_level must lie in [0.5, 1); got {service_level}")
    if lead_time_weeks <= 0 or review_period_weeks < 0:
        raise DataError(f"lead time must be > 0 and review period >= 0; got {lead_time_weeks}, {review_period_weeks}")
    horizon = len(p50)
    if not len(p10) == len(p90) == horizon or lead_time_weeks + review_period_weeks > horizon:
        raise DataError(
            f"forecast covers {horizon} weeks (P10/P50/P90 lengths {len(p10)}/{horizon}/{len(p90)}); it must "
            f"cover lead time + review period = {lead_time_weeks + review_period_weeks} weeks"
        )
    if np.any(p10 > p50) or np.any(p50 > p90):
        raise DataError("quantiles cross: need P10 <= P50 <= P90 in every week")
    sd = (p90 - p10) / (2.0 * Z90)
    lead = _weights(lead_time_weeks, horizon)
    mean_lead = float(lead @ p50)
    sd_lead = float(math.sqrt(lead @ sd**2))
    z = NormalDist().inv_cdf(service_level)
    safety = z * sd_lead
    point = mean_lead + safety
    cover = _weights(lead_time_weeks + review_period_weeks, horizon) - lead
    review_demand = float(cover @ p50)
    position = on_hand + on_order
    fill_rate = _expected_fill_rate(
        point + review_demand, _weights(lead_time_weeks + review_period_weeks, horizon), p50, sd, review_demand
    )
    quantity = max(0.0, point + review_demand - position) if position <= point else 0.0
    explanation = (
        f"Median demand over the {lead_time_weeks:g}-week lead time is {mean_lead:.1f} (sum of weekly P50). "
        f"Weekly spread from the P10-P90 width, sd = (P90 - P10) / {2 * Z90:.3f}, gives a lead-time sd of "
        f"{sd_lead:.1f} assuming independent weeks. At a {service_level:.0%} service level (z = {z:.2f}) the "
        f"safety stock is {safety:.1f}, so the reorder point is {point:.1f} -> {math.ceil(point)}. "
        f"Inventory position {position:g} (on hand {on_hand:g} + on order {on_order:g}) "
        + (
            f"is at or below it: order up to the reorder point plus {review_demand:.1f} units of "
            f"median demand over the {review_period_weeks:g}-week review period, i.e. "
            f"{quantity:.1f} -> {math.ceil(quantity)}."
            if position <= point
            else "is above it: no order needed."
        )
        + f" Expected fill rate at that level: {fill_rate:.1%} of demand served from stock."
    )
    return ReorderSuggestion(
        reorder_point=math.ceil(point),
        order_quantity=math.ceil(quantity - 1e-9),
        lead_time_demand_p50=mean_lead,
        safety_stock=safety,
        explanation=explanation,
        service_level=service_level,
        order_up_to_level=point + review_demand,
        expected_fill_rate=fill_rate,
    )


def _expected_fill_rate(
    level: float, weights: np.ndarray, p50: np.ndarray, sd: np.ndarray, review_demand: float
) -> float:
    """Fill rate of an order-up-to ``level`` for normal demand over the protection period (see the module
    docstring)."""
    if review_demand <= 0:
        return 1.0
    mean = float(weights @ p50)
    sigma = float(math.sqrt(weights @ sd**2))
    if sigma <= 0:
        return 1.0 if level >= mean else max(0.0, 1.0 - (mean - level) / review_demand)
    k = (level - mean) / sigma
    normal = NormalDist()
    loss = normal.pdf(k) - k * (1.0 - normal.cdf(k))
    return float(min(1.0, max(0.0, 1.0 - sigma * loss / review_demand)))


def _conformal_quantile(scores: np.ndarray, level: float) -> float:
    ordered = np.sort(scores)
    rank = min(math.ceil((len(ordered) + 1) * level), len(ordered))
    return float(ordered[rank - 1])


def conformal_reorder(
    point: Sequence[float],
    errors: np.ndarray,
    scale: float,
    lead_time_weeks: float,
    service_level: float,
    on_hand: float,
    on_order: float = 0.0,
    review_period_weeks: float = 1.0,
) -> ReorderSuggestion:
    """Reorder suggestion from weekly point forecasts ``point`` (h,) and scaled validation errors ``errors``
    (m, h) of the same forecaster (see the module docstring)."""
    p50 = np.asarray(point, dtype=float)
    scores = np.asarray(errors, dtype=float)
    if not 0.5 <= service_level < 1.0:
        raise DataError(f"service_level must lie in [0.5, 1); got {service_level}")
    if lead_time_weeks <= 0 or review_period_weeks < 0:
        raise DataError(f"lead time must be > 0 and review period >= 0; got {lead_time_weeks}, {review_period_weeks}")
    horizon = len(p50)
    if lead_time_weeks + review_period_weeks > horizon:
        raise DataError(
            f"forecast covers {horizon} weeks; it must cover lead time + review period = "
            f"{lead_time_weeks + review_period_weeks} weeks"
        )
    if scores.ndim != 2 or scores.shape[1] < horizon or len(scores) == 0:
        raise DataError(f"errors must be (m, >= {horizon}) validation errors; got shape {scores.shape}")
    lead = _weights(lead_time_weeks, horizon)
    cover = _weights(lead_time_weeks + review_period_weeks, horizon)
    lead_demand = float(lead @ p50)
    cover_demand = float(cover @ p50)
    review_demand = cover_demand - lead_demand
    point_level = max(lead_demand + scale * _conformal_quantile(scores[:, :horizon] @ lead, service_level), 0.0)
    cover_scores = scores[:, :horizon] @ cover
    cover_quantile = _conformal_quantile(cover_scores, service_level)
    up_to = max(cover_demand + scale * cover_quantile, point_level)
    # Per validation cycle: review-period demand (the cover minus the lead-time part) and the part of it the
    # level leaves unserved; the expected fill rate is the mean served share over those cycles.
    lead_scores = scores[:, :horizon] @ lead
    cycle_demand = np.maximum(review_demand + scale * (cover_scores - lead_scores), 0.0)
    shortage = np.minimum(np.maximum(scale * (cover_scores - cover_quantile), 0.0), cycle_demand)
    served_share = np.divide(
        cycle_demand - shortage, cycle_demand, out=np.ones_like(cycle_demand), where=cycle_demand > 0
    )
    fill_rate = float(np.mean(served_share))
    position = on_hand + on_order
    quantity = max(0.0, up_to - position)
    explanation = (
        f"Median demand over the {lead_time_weeks:g}-week lead time is {lead_demand:.1f} (sum of weekly P50). "
        f"On {len(scores)} validation forecasts, {service_level:.0%} of the lead-time errors were below "
        f"{point_level - lead_demand:+.1f} units, so the reorder point is {point_level:.1f} -> "
        f"{math.ceil(point_level)}; over lead time + {review_period_weeks:g}-week review period the level is "
        f"{up_to:.1f}. Inventory position {position:g} (on hand {on_hand:g} + on order {on_order:g}) "
        + (f"is below it: order {quantity:.1f} -> {math.ceil(quantity - 1e-9)}." if quantity > 0 else "covers it.")
        + f" Expected fill rate at that level: {fill_rate:.1%} of demand served from stock."
    )
    return ReorderSuggestion(
        reorder_point=math.ceil(point_level),
        order_quantity=math.ceil(quantity - 1e-9),
        lead_time_demand_p50=lead_demand,
        safety_stock=point_level - lead_demand,
        explanation=explanation,
        service_level=service_level,
        order_up_to_level=up_to,
        expected_fill_rate=fill_rate,
    )
