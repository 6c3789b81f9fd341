"""Offline evaluation of pricing policies in the Dominick's simulator.

The demand model is fitted on the even stores; the policies price the odd stores' series for ``weeks`` weeks
under the same contexts and the same noise (common random numbers):

- ``historical``: the price actually charged that week (no guardrails);
- ``greedy``: historical prices for ``warmup_weeks``, then the posterior-mean optimum of a model fitted on
  those weeks, never updated (no exploration);
- ``thompson``: the contextual Thompson-sampling bandit, learning online from week 1;
- ``oracle``: knows the simulator's true expected demand and picks the best allowed grid price each week
  (myopically: with reacting competitors it does not price for next week's reaction, and neither do the others).

Greedy, bandit and oracle obey the same guardrails. Profit is reported as a share of the oracle's. One run is one
seed (the demand noise and the bandit's draws); :func:`evaluate_pricing_seeds` repeats it and gives each share
with a t-interval over seeds, and the paired difference between Thompson sampling and greedy.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import stats

from ensemble.datasets import load_dominicks, split_dominicks
from ensemble.errors import DataError
from ensemble.pricing.bandit import ThompsonPricer, reference_tables
from ensemble.pricing.demand_model import DemandModel, fit_demand_model
from ensemble.pricing.guardrails import Guardrails, allowed_prices
from ensemble.pricing.simulator import PricingWorld, build_world

__all__ = ["evaluate_pricing", "evaluate_pricing_seeds", "run_policies"]

logger = logging.getLogger(__name__)

FloatArray = NDArray[np.float64]


def _pricer(world: PricingWorld, guardrails: Guardrails, seed: int, thompson: bool) -> ThompsonPricer:
    comp_ref = np.median(world.competitor_log_price, axis=1)
    reference, competitor = reference_tables(
        world.stores.tolist(), world.brands.tolist(), world.reference_price.tolist(), comp_ref.tolist()
    )
    costs = {int(b): float(c) for b, c in zip(world.brands, world.unit_cost, strict=True)}
    return ThompsonPricer(reference, costs, competitor, guardrails, seed=seed, thompson=thompson)


def _oracle_prices(
    world: PricingWorld, week: int, previous: FloatArray, guardrails: Guardrails, competitor: FloatArray
) -> FloatArray:
    grid = world.reference_price[:, None] * guardrails.multipliers()[None, :]
    profit = np.stack([world.expected_profit(week, grid[:, g], competitor) for g in range(grid.shape[1])], axis=1)
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
        # Each policy meets the competitor prices its own past prices provoked (historical ones without reaction).
        competitor = {name: world.competitor_context(week, previous[name]) for name in names}
        context = {name: (world.deal[:, week], world.feat[:, week], competitor[name]) for name in names}
        prices = {
            "historical": world.historical_price[:, week],
            "thompson": bandit.choose(*args, *context["thompson"], previous["thompson"]),
            "oracle": _oracle_prices(world, week, previous["oracle"], guardrails, competitor["oracle"]),
        }
        if week < warmup_weeks:
            prices["greedy"] = world.historical_price[:, week]
        else:
            prices["greedy"] = greedy.choose(*args, *context["greedy"], previous["greedy"])
        for name, price in prices.items():
            log_units, profit = world.step(week, price, competitor[name])
            weekly[name][week] = profit.sum()
            if name == "thompson":
                bandit.observe(*args, price, *context[name], log_units)
            if name == "greedy" and week < warmup_weeks:
                greedy.observe(*args, price, *context[name], log_units)
            if name in violations and not (name == "greedy" and week <= warmup_weeks):
                change = np.abs(price / previous[name] - 1) > guardrails.max_weekly_change + 1e-9
                out_of_bounds = (price < low) | (price > high)
                violations[name] += int((change | out_of_bounds).sum())
            previous[name] = price
    return weekly, violations


def _shares(weekly: dict[str, FloatArray], weeks: int) -> dict[str, dict[str, float]]:
    oracle_total = float(weekly["oracle"].sum())
    tail = max(1, weeks // 4)
    oracle_tail = float(weekly["oracle"][-tail:].sum())
    return {
        name: {
            "total_profit": float(profit.sum()),
            "pct_of_oracle": 100.0 * float(profit.sum()) / oracle_total,
            "pct_of_oracle_last_quarter": 100.0 * float(profit[-tail:].sum()) / oracle_tail,
        }
        for name, profit in weekly.items()
    }


def _interval(values: FloatArray, level: float) -> dict[str, float]:
    """Mean with a two-sided Student-t interval over independent seeds (needs at least two)."""
    mean = float(values.mean())
    half = float(stats.t.ppf(0.5 + level / 2, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values)))
    return {"mean": mean, "low": mean - half, "high": mean + half}


def _fit(rows: pd.DataFrame | None) -> tuple[DemandModel, pd.DataFrame, float]:
    data = load_dominicks() if rows is None else rows
    even, odd = split_dominicks(data)
    started = time.perf_counter()
    model = fit_demand_model(even)
    return model, odd, time.perf_counter() - started


def _model_summary(model: DemandModel) -> dict[str, Any]:
    return {
        "elasticities": {str(b): round(d.own_elasticity, 3) for b, d in model.brands.items()},
        "competitor_elasticities": {str(b): round(d.competitor_elasticity, 3) for b, d in model.brands.items()},
        "noise_sd": {str(b): round(d.noise_sd, 3) for b, d in model.brands.items()},
        "unit_cost_assumption": "cost = price x (1 - profit/100), brand median over even stores",
    }


def evaluate_pricing(
    weeks: int = 80,
    seed: int = 0,
    on_weekly_profit: Callable[[Mapping[str, FloatArray]], None] | None = None,
    guardrails: Guardrails | None = None,
    rows: pd.DataFrame | None = None,
    warmup_weeks: int = 8,
    competitor_reaction: float = 0.0,
) -> dict[str, Any]:
    """Fit the simulator on Dominick's even stores, run the four policies on the odd stores for ``weeks``
    weeks and return a JSON-able dict: per policy total profit and % of oracle (overall and over the last
    quarter of the weeks), the bandit's guardrail violations, the demand model's elasticities and timings.
    ``rows`` defaults to :func:`~ensemble.datasets.load_dominicks`; ``on_weekly_profit`` receives each
    policy's realised profit per week, (weeks,) each, e.g. to draw the regret curves; ``competitor_reaction``
    makes the other brands follow the retailer's prices (0: historical)."""
    guardrails = guardrails or Guardrails()
    model, odd, fit_seconds = _fit(rows)
    world = build_world(model, odd, weeks, seed, competitor_reaction)
    started = time.perf_counter()
    weekly, violations = run_policies(world, guardrails, seed, warmup_weeks)
    run_seconds = time.perf_counter() - started
    if on_weekly_profit is not None:
        on_weekly_profit(weekly)
    return {
        "policies": _shares(weekly, weeks),
        "weeks": weeks,
        "series": world.n_series,
        "stores": len(np.unique(world.stores)),
        "seed": seed,
        "competitor_reaction": competitor_reaction,
        "guardrails": guardrails.__dict__,
        "guardrail_violations": violations,
        **_model_summary(world.model),
        "fit_seconds": round(fit_seconds, 2),
        "simulate_seconds": round(run_seconds, 2),
    }


def evaluate_pricing_seeds(
    seeds: int = 10,
    weeks: int = 80,
    competitor_reaction: float = 0.0,
    on_weekly_profit: Callable[[Sequence[Mapping[str, FloatArray]]], None] | None = None,
    guardrails: Guardrails | None = None,
    rows: pd.DataFrame | None = None,
    warmup_weeks: int = 8,
    level: float = 0.95,
) -> dict[str, Any]:
    """The policy comparison repeated over seeds ``0 .. seeds-1`` (each seed draws new demand noise and new
    bandit samples; the demand model is fitted once). Per policy: the % of oracle profit of every seed and its
    mean with a ``level`` t-interval; ``thompson_minus_greedy_pt``: the paired difference of the two learning
    pricers over the same seeds, with its interval; ``on_weekly_profit`` receives every seed's weekly profit per
    policy (one mapping per seed), e.g. to draw the regret curves."""
    if seeds < 2:
        raise DataError(f"seeds must be at least 2 for an interval over seeds; got {seeds}")
    if not 0.0 < level < 1.0:
        raise DataError(f"level must be between 0 and 1 (e.g. 0.95); got {level}")
    guardrails = guardrails or Guardrails()
    model, odd, fit_seconds = _fit(rows)
    started = time.perf_counter()
    runs: list[dict[str, FloatArray]] = []
    violations = dict.fromkeys(("greedy", "thompson", "oracle"), 0)
    series = 0
    for seed in range(seeds):
        world = build_world(model, odd, weeks, seed, competitor_reaction)
        weekly, seen = run_policies(world, guardrails, seed, warmup_weeks)
        runs.append(weekly)
        series = world.n_series
        violations = {name: violations[name] + count for name, count in seen.items()}
    shares = [_shares(weekly, weeks) for weekly in runs]
    policies: dict[str, Any] = {}
    for name in runs[0]:
        per_seed = np.array([share[name]["pct_of_oracle"] for share in shares])
        tail = np.array([share[name]["pct_of_oracle_last_quarter"] for share in shares])
        policies[name] = {
            "pct_of_oracle": _interval(per_seed, level),
            "pct_of_oracle_last_quarter": _interval(tail, level),
            "per_seed": [round(float(v), 3) for v in per_seed],
        }
    paired = np.array([share["thompson"]["pct_of_oracle"] - share["greedy"]["pct_of_oracle"] for share in shares])
    if on_weekly_profit is not None:
        on_weekly_profit(runs)
    return {
        "policies": policies,
        "thompson_minus_greedy_pt": _interval(paired, level),
        "interval": f"{level:.0%} Student-t over seeds",
        "seeds": seeds,
        "weeks": weeks,
        "series": series,
        "competitor_reaction": competitor_reaction,
        "guardrails": guardrails.__dict__,
        "guardrail_violations": violations,
        **_model_summary(model),
        "fit_seconds": round(fit_seconds, 2),
        "simulate_seconds": round(time.perf_counter() - started, 2),
    }
