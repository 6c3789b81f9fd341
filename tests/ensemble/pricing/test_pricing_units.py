from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ensemble.errors import DataError, UnknownPricingKeyError
from ensemble.pricing import (
    Guardrails,
    PriceContext,
    ThompsonPricer,
    allowed_prices,
    build_world,
    check_demand_model,
    evaluate_pricing_seeds,
    fit_demand_model,
)


def _synthetic_rows(
    elasticity: float, seed: int = 0, stores: range = range(2, 14, 2), cross_price: float = 0.5
) -> pd.DataFrame:
    """Two brands in ``stores`` x 60 weeks; brand 1's own elasticity and the cross-price coefficient are known."""
    rng = np.random.default_rng(seed)
    rows = []
    for store in stores:
        for week in range(1, 61):
            prices = np.exp(rng.normal(np.log(0.04), 0.15, size=11))
            deal, feat = float(rng.random() < 0.3), float(rng.random() < 0.2)
            for brand in (1, 2):
                comp = (np.log(prices).sum() - np.log(prices[brand - 1])) / 10
                logmove = (
                    2.0
                    + 0.1 * store
                    + elasticity * np.log(prices[brand - 1])
                    + cross_price * comp
                    + 0.3 * deal
                    + 0.6 * feat
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


def test_reacting_competitors_follow_the_last_price_move() -> None:
    # Prepare: a world on the synthetic odd stores, with and without reaction
    rows = _synthetic_rows(elasticity=-2.5, stores=range(2, 14))
    model = fit_demand_model(rows[rows["store"] % 2 == 0])
    odd = rows[rows["store"] % 2 == 1]
    historical = build_world(model, odd, weeks=10, seed=0)
    reacting = build_world(model, odd, weeks=10, seed=0, competitor_reaction=0.5)
    cut = reacting.reference_price * 0.9
    # Execute
    unchanged = historical.competitor_context(3, cut)
    followed = reacting.competitor_context(3, cut)
    # Assert: no reaction replays history; a 10 % cut is answered by 0.5 x log(0.9) on the log competitor price
    np.testing.assert_allclose(unchanged, historical.competitor_log_price[:, 3])
    np.testing.assert_allclose(followed - reacting.competitor_log_price[:, 3], 0.5 * np.log(0.9))
    # The cut lowers this week's demand through the (positive) cross-price coefficient
    assert (reacting.mean_log_units(3, cut, followed) < reacting.mean_log_units(3, cut, unchanged)).all()
    with pytest.raises(DataError, match="competitor_reaction must be between 0"):
        build_world(model, odd, weeks=10, competitor_reaction=1.5)


def test_seeded_evaluation_gives_intervals_weekly_profit_and_no_violations() -> None:
    # Prepare
    rows = _synthetic_rows(elasticity=-2.5, stores=range(2, 14))
    runs: list[dict[str, tuple[int, ...]]] = []
    # Execute
    report = evaluate_pricing_seeds(
        seeds=3,
        weeks=20,
        competitor_reaction=0.3,
        rows=rows,
        warmup_weeks=4,
        on_weekly_profit=lambda seeds: runs.extend({k: v.shape for k, v in run.items()} for run in seeds),
    )
    # Assert
    assert set(report["policies"]) == {"historical", "greedy", "thompson", "oracle"}
    for name, policy in report["policies"].items():
        share = policy["pct_of_oracle"]
        assert len(policy["per_seed"]) == 3
        assert share["low"] <= share["mean"] <= share["high"]
        assert share["mean"] == pytest.approx(np.mean(policy["per_seed"]), abs=1e-3)
        if name != "oracle":
            assert share["mean"] < 100.0 + 1e-9
    # Seeds differ: the bandit's shares are not all equal; the oracle is 100 % in every seed
    assert len(set(report["policies"]["thompson"]["per_seed"])) > 1
    assert report["policies"]["oracle"]["per_seed"] == [100.0] * 3
    assert report["guardrail_violations"] == {"greedy": 0, "thompson": 0, "oracle": 0}
    assert report["competitor_reaction"] == 0.3
    assert runs == [{"historical": (20,), "greedy": (20,), "thompson": (20,), "oracle": (20,)}] * 3
    with pytest.raises(DataError, match="seeds must be at least 2"):
        evaluate_pricing_seeds(seeds=1, rows=rows)


def test_demand_check_prefers_the_cross_price_model_when_competitors_matter() -> None:
    # Prepare: competitor prices vary within a week (random per store), so their effect is identifiable
    rows = _synthetic_rows(elasticity=-2.5, stores=range(2, 14), cross_price=1.5)
    # Execute
    report = check_demand_model(rows)
    # Assert: the full model recovers the noise level (0.1) and the coefficient; without the term the
    # competitors' spread (sd about 0.05 x 1.5) is left in the error; the per-series mean is far worse
    assert report["full"]["rmse"] == pytest.approx(0.1, abs=0.03)
    assert report["competitor_elasticities"]["1"] == pytest.approx(1.5, abs=0.3)
    assert report["no_cross_price"]["rmse"] > report["full"]["rmse"] * 1.1
    assert report["series_mean"]["rmse"] > report["full"]["rmse"] * 1.5
    assert set(report["full_by_brand"]) == {"1", "2"}
    with pytest.raises(DataError, match="calibration_share must be strictly between 0 and 1"):
        check_demand_model(rows, calibration_share=1.0)
