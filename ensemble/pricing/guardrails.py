"""Price guardrails: bounds around a reference price, a minimum margin over unit cost, and a maximum change
from last week's price. Every policy that sets prices (bandit, greedy, oracle) chooses only among grid prices
the guardrails allow."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ensemble.errors import ModelError

__all__ = ["Guardrails", "allowed_prices", "binding_guardrails"]

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]


@dataclass(frozen=True)
class Guardrails:
    """``min_multiplier``/``max_multiplier``: price bounds as multiples of the reference (historical median)
    price; ``min_margin``: least gross margin ``(price - cost) / price``; ``max_weekly_change``: largest
    relative change from the previous week's price. ``grid_step``: spacing of the price grid (as a
    multiplier)."""

    min_multiplier: float = 0.8
    max_multiplier: float = 1.3
    min_margin: float = 0.10
    max_weekly_change: float = 0.10
    grid_step: float = 0.05

    def __post_init__(self) -> None:
        if not 0 < self.min_multiplier <= 1.0 <= self.max_multiplier:
            raise ModelError(
                f"price bounds must satisfy 0 < min <= 1 <= max; got {self.min_multiplier}..{self.max_multiplier}"
            )
        if not 0 <= self.min_margin < 1:
            raise ModelError(f"min_margin must lie in [0, 1); got {self.min_margin}")
        if self.max_weekly_change < self.grid_step:
            raise ModelError(
                f"max_weekly_change {self.max_weekly_change} is below the grid step {self.grid_step}: "
                "no price could ever move"
            )

    def multipliers(self) -> FloatArray:
        """The price grid as multipliers of the reference price (includes 1.0)."""
        below = np.arange(1.0, self.min_multiplier - 1e-9, -self.grid_step)[::-1]
        above = np.arange(1.0 + self.grid_step, self.max_multiplier + 1e-9, self.grid_step)
        return np.round(np.concatenate([below, above]), 10)


def allowed_prices(
    grid: FloatArray, unit_cost: FloatArray, previous_price: FloatArray, guardrails: Guardrails
) -> BoolArray:
    """Which grid prices each series may charge: ``grid`` (K, G) prices, ``unit_cost`` (K,),
    ``previous_price`` (K,) -> mask (K, G). Bounds are enforced by the grid itself.

    If margin and change limits leave nothing, the change limit wins (the price moves towards the margin
    floor as fast as allowed): the allowed set becomes the highest price within the change limit."""
    margin_ok = (grid - unit_cost[:, None]) >= guardrails.min_margin * grid
    change_ok = np.abs(grid / previous_price[:, None] - 1.0) <= guardrails.max_weekly_change + 1e-9
    mask = margin_ok & change_ok
    empty = ~mask.any(axis=1)
    if empty.any():
        # Highest price within the change limit; if even none is within it (the previous price lay off the
        # grid's range), the grid price closest to the previous price.
        closest = np.abs(grid - previous_price[:, None]).argmin(axis=1)
        fallback = np.where(change_ok.any(axis=1), np.where(change_ok, grid, -np.inf).argmax(axis=1), closest)
        mask[empty] = False
        mask[np.flatnonzero(empty), fallback[empty]] = True
    return mask


def binding_guardrails(
    grid: FloatArray, unconstrained_best: int, unit_cost: float, previous_price: float, guardrails: Guardrails
) -> list[str]:
    """Guardrails that kept a decision away from the unconstrained best grid price of one series (``grid``
    (G,)): ``price_bounds`` when that best price sits on the edge of the grid,
    ``min_margin`` / ``max_weekly_change`` when it breaks them."""
    best = float(grid[unconstrained_best])
    reasons: list[str] = []
    if unconstrained_best in (0, len(grid) - 1):
        reasons.append("price_bounds")
    if best - unit_cost < guardrails.min_margin * best:
        reasons.append("min_margin")
    if abs(best / previous_price - 1.0) > guardrails.max_weekly_change + 1e-9:
        reasons.append("max_weekly_change")
    return reasons
