from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ensemble.errors import UnknownPricingKeyError
from ensemble.pricing import (
    Guardrails,
    PriceContext,
    ThompsonPricer,
    allowed_prices,
    fit_demand_model,
)


def _synthetic_rows(elasticity: float, seed: int = 0) -> pd.DataFrame:
    """Two brands in 6 stores x 60 weeks; brand 1's own elasticity is known."""
    rng = np.random.default_rng(seed)
    rows = []
    for store in range(2, 14, 2):
        for week in range(1, 61):
            prices = np.exp(rng.normal(np.log(0.04), 0.15, size=11))
            deal, feat = float(rng.random() < 0.3), float(rng.random() < 0.2)
            for brand in (1, 2):
                comp = (np.log(prices).sum() - np.log(prices[brand - 1])) / 10
                logmove = (
                    2.0 + 0.1 * store + elasticity * np.log(prices[brand - 1]) + 0.5 * comp + 0.3 * deal + 0.6 * feat
                )
                row = {"store": store, "brand": brand, "week": week, "logmove": logmove + rng.normal(0, 0.1)}
                row.update({f"price{b + 1}": prices[b] for b in range(11)})
                row.update(deal=deal, feat=feat, profit=25.0)
                rows.append(row)
    return pd.DataFrame(rows)


def test_demand_fit_recovers_known_elasticity_and_cost() -> None:
    # Prepare
    rows = _synthetic_rows(elasticity=-2.5)
    # Execute
    model = fit_demand_model(rows, week_ridge=10.0)
    # Assert: elasticity within tolerance; cost = price x (1 - 25 %)
    brand = model.brand(1)
    assert brand.own_elasticity == pytest.approx(-2.5, abs=0.15)
    assert brand.noise_sd == pytest.approx(0.1, abs=0.03)
    assert brand.unit_cost == pytest.approx(0.75 * brand.median_price, rel=0.1)


def _pricer(seed: int = 0) -> ThompsonPricer:
    return ThompsonPricer({(1, 1): 1.0}, {1: 0.5}, {(1, 1): 0.0}, Guardrails(), seed=seed)


def test_thompson_finds_best_price_arm_on_synthetic_demand() -> None:
    # Prepare: true log units = 5 - 3 log(p); cost 0.5 -> profit-optimal p = 0.5 * 3 / 2 = 0.75, the grid
    # (0.8..1.3) is bounded below at 0.8 -> best arm 0.8. Compare the 3 arms 0.8/1.0/1.3 too.
    pricer = _pricer()
    rng = np.random.default_rng(1)
    store, brand, zero = np.array([1]), np.array([1]), np.array([0.0])
    previous = np.array([1.0])
    chosen = []
    # Execute
    for _ in range(150):
        price = pricer.choose(store, brand, zero, zero, zero, previous)
        log_units = 5.0 - 3.0 * np.log(price) + rng.normal(0, 0.2, 1)
        pricer.observe(store, brand, price, zero, zero, zero, log_units)
        previous = price
        chosen.append(float(price[0]))
    # Assert
    profits = {p: np.exp(5 - 3 * np.log(p)) * (p - 0.5) for p in (0.8, 1.0, 1.3)}
    assert max(profits, key=profits.__getitem__) == 0.8
    assert np.mean(np.isclose(chosen[-50:], 0.8)) > 0.8


def test_guardrails_never_violated() -> None:
    # Prepare: random previous prices, costs that make the margin bind for some series
    guardrails = Guardrails(min_margin=0.2, max_weekly_change=0.1)
    rng = np.random.default_rng(0)
    grid = np.ones((200, 1)) * guardrails.multipliers()[None, :]
    cost = rng.uniform(0.5, 1.0, 200)
    previous = grid[np.arange(200), rng.integers(0, grid.shape[1], 200)]
    # Execute
    mask = allowed_prices(grid, cost, previous, guardrails)
    # Assert: every allowed price meets the change limit, and the margin wherever any grid price could
    assert mask.any(axis=1).all()
    rows, cols = np.nonzero(mask)
    assert (np.abs(grid[rows, cols] / previous[rows] - 1) <= 0.1 + 1e-9).all()
    feasible = ((grid - cost[:, None]) >= 0.2 * grid) & (np.abs(grid / previous[:, None] - 1) <= 0.1 + 1e-9)
    ok = feasible.any(axis=1)[rows]
    assert ((grid[rows, cols] - cost[rows]) >= 0.2 * grid[rows, cols] - 1e-12)[ok].all()


def test_recommend_price_explains_and_rejects_unknown_keys() -> None:
    pricer = _pricer()
    decision = pricer.recommend_price(1, 1, PriceContext(previous_price=1.0))
    assert 0.9 - 1e-9 <= decision.price <= 1.1 + 1e-9
    assert "Thompson sample" in decision.reason
    with pytest.raises(UnknownPricingKeyError, match="store 7 is unknown for brand 1"):
        pricer.recommend_price(7, 1, PriceContext())
    with pytest.raises(UnknownPricingKeyError, match="brand 3 is unknown"):
        pricer.recommend_price(1, 3, PriceContext())
