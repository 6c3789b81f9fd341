"""Offline evaluation of pricing policies in the Dominick's simulator.

The demand model is fitted on the even stores; the policies price the odd stores' series for ``weeks`` weeks
under the same contexts and the same noise (common random numbers):

- ``historical``: the price actually charged that week (no guardrails);
- ``greedy``: historical prices for ``warmup_weeks``, then the posterior-mean optimum of a model fitted on
  those weeks, never updated (no exploration);
- ``thompson``: the contextual Thompson-sampling bandit, learning online from week 1;
- ``oracle``: knows the simulator's true expected demand and picks the best allowed grid price each week.

Greedy, bandit and oracle obey the same guardrails. Profit is reported as a share of the oracle's.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from ensemble.datasets import load_dominicks, split_dominicks
from ensemble.pricing.bandit import ThompsonPricer, reference_tables
from ensemble.pricing.demand_model import fit_demand_model
from ensemble.pricing.guardrails import Guardrails, allowed_prices
from ensemble.pricing.simulator import PricingWorld, build_world

__all__ = ["evaluate_pricing", "run_policies"]

logger = logging.getLogger(__name__)

FloatArray = NDArray[np.float64]


def _pricer(world: PricingWorld, guardrails: Guardrails, seed: int, thompson: bool) -> ThompsonPricer:
    comp_ref = np.median(world.competitor_log_price, axis=1)
    reference, competitor = reference_tables(
        world.stores.tolist(), world.brands.tolist(), world.reference_price.tolist(), comp_ref.tolist()
    )
    costs = {int(b): float(c) for b, c in zip(world.brands, world.unit_cost, strict=True)}
    return ThompsonPricer(reference, costs, competitor, guardrails, seed=seed, thompson=thompson)


def _oracle_prices(world: PricingWorld, week: int, previous: FloatArray, guardrails: Guardrails) -> FloatArray:
    grid = world.reference_price[:, None] * guardrails.multipliers()[None, :]
    profit = np.stack([world.expected_profit(week, grid[:, g]) for g in range(grid.shape[1])], axis=1)
    allowed = allowed_prices(grid, world.unit_cost, previous, guardrails)
    best = np.where(allowed, profit, -np.inf).argmax(axis=1)
    return np.asarray(grid[np.arange(len(best)), best], dtype=np.float64)


def run_policies(
    world: PricingWorld, guardrails: Guardrails, seed: int = 0, warmup_weeks: int = 8
) -> tuple[dict[str, FloatArray], dict[str, int]]:
    """Weekly realised profit summed over series, per policy (each (N,)), and guardrail violations of the
    guardrailed policies (counted independently of the code that enforces them; greedy's count starts the
    week after its first own decision, since it leaves an unguardrailed historical price then)."""
    bandit = _pricer(world, guardrails, seed, thompson=True)
    greedy = _pricer(world, guardrails, seed, thompson=False)
    names = ("historical", "greedy", "thompson", "oracle")
    previous = {name: world.reference_price.copy() for name in names}
    weekly = {name: np.zeros(world.n_weeks) for name in names}
    violations = dict.fromkeys(("greedy", "thompson", "oracle"), 0)
    low = world.reference_price * guardrails.min_multiplier * (1 - 1e-9)
    high = world.reference_price * guardrails.max_multiplier * (1 + 1e-9)
    args = (world.stores, world.brands)
    for week in range(world.n_weeks):
        context = (world.deal[:, week], world.feat[:, week], world.competitor_log_price[:, week])
        prices = {
            "historical": world.historical_price[:, week],
            "thompson": bandit.choose(*args, *context, previous["thompson"]),
            "oracle": _oracle_prices(world, week, previous["oracle"], guardrails),
        }
        if week < warmup_weeks:
            prices["greedy"] = world.historical_price[:, week]
        else:
            prices["greedy"] = greedy.choose(*args, *context, previous["greedy"])
        for name, price in prices.items():
            log_units, profit = world.step(week, price)
            weekly[name][week] = profit.sum()
            if name == "thompson":
                bandit.observe(*args, price, *context, log_units)
            if name == "greedy" and week < warmup_weeks:
                greedy.observe(*args, price, *context, log_units)
            if name in violations and not (name == "greedy" and week <= warmup_weeks):
                change = np.abs(price / previous[name] - 1) > guardrails.max_weekly_change + 1e-9
                out_of_bounds = (price < low) | (price > high)
                violations[name] += int((change | out_of_bounds).sum())
            previous[name] = price
    return weekly, violations


def evaluate_pricing(
    weeks: int = 80,
    seed: int = 0,
    on_weekly_profit: Callable[[Mapping[str, FloatArray]], None] | None = None,
    guardrails: Guardrails | None = None,
    rows: pd.DataFrame | None = None,
    warmup_weeks: int = 8,
) -> dict[str, Any]:
    """Fit the simulator on Dominick's even stores, run the four policies on the odd stores for ``weeks``
    weeks and return a JSON-able dict: per policy total profit and % of oracle (overall and over the last
    quarter of the weeks), the bandit's guardrail violations, the demand model's elasticities and timings.
    ``rows`` defaults to :func:`~ensemble.datasets.load_dominicks`; ``on_weekly_profit`` receives each
    policy's realised profit per week, (weeks,) each, e.g. to draw the regret curves."""
    guardrails = guardrails or Guardrails()
    data = load_dominicks() if rows is None else rows
    even, odd = split_dominicks(data)
    started = time.perf_counter()
    model = fit_demand_model(even)
    fit_seconds = time.perf_counter() - started
    world = build_world(model, odd, weeks, seed)
    started = time.perf_counter()
    weekly, violations = run_policies(world, guardrails, seed, warmup_weeks)
    run_seconds = time.perf_counter() - started
    oracle_total = float(weekly["oracle"].sum())
    tail = max(1, weeks // 4)
    oracle_tail = float(weekly["oracle"][-tail:].sum())
    policies = {
        name: {
            "total_profit": float(profit.sum()),
            "pct_of_oracle": 100.0 * float(profit.sum()) / oracle_total,
            "pct_of_oracle_last_quarter": 100.0 * float(profit[-tail:].sum()) / oracle_tail,
        }
        for name, profit in weekly.items()
    }
    if on_weekly_profit is not None:
        on_weekly_profit(weekly)
    return {
        "policies": policies,
        "weeks": weeks,
        "series": world.n_series,
        "stores": len(np.unique(world.stores)),
        "seed": seed,
        "guardrails": guardrails.__dict__,
        "guardrail_violations": violations,
        "elasticities": {str(b): round(d.own_elasticity, 3) for b, d in world.model.brands.items()},
        "noise_sd": {str(b): round(d.noise_sd, 3) for b, d in world.model.brands.items()},
        "unit_cost_assumption": "cost = price x (1 - profit/100), brand median over even stores",
        "fit_seconds": round(fit_seconds, 2),
        "simulate_seconds": round(run_seconds, 2),
    }
