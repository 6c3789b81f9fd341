"""Contextual Thompson sampling over a price grid: per brand a Bayesian log-linear demand posterior
(:class:`~ensemble.pricing.posterior.DemandPosterior`); each decision samples the coefficients, scores every
grid price the guardrails allow by sampled expected profit ``exp(log units) x (price - cost)`` and charges the
best. With ``thompson=False`` it uses the posterior mean instead (a greedy, certainty-equivalent pricer).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ensemble.errors import UnknownPricingKeyError
from ensemble.pricing.guardrails import Guardrails, allowed_prices, binding_guardrails
from ensemble.pricing.posterior import DemandPosterior, PriorConfig

__all__ = ["PriceContext", "PriceDecision", "ThompsonPricer"]

logger = logging.getLogger(__name__)

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass(frozen=True)
class PriceContext:
    """What is known about the coming week: promotions, the other brands' mean log price (``None``: its usual
    level for the series) and last week's own price (``None``: the reference price)."""

    deal: float = 0.0
    feat: float = 0.0
    competitor_log_price: float | None = None
    previous_price: float | None = None


@dataclass(frozen=True)
class PriceDecision:
    """A recommended price with its expected outcome and the reason for it."""

    store: int
    brand: int
    price: float
    multiplier: float
    expected_units: float
    expected_profit: float
    reason: str
    binding_guardrails: tuple[str, ...]


class ThompsonPricer:
    """Prices (store, brand) series from per-brand demand posteriors under :class:`Guardrails`."""

    def __init__(
        self,
        reference_price: Mapping[tuple[int, int], float],
        unit_cost: Mapping[int, float],
        competitor_reference: Mapping[tuple[int, int], float],
        guardrails: Guardrails | None = None,
        prior: PriorConfig | None = None,
        seed: int = 0,
        thompson: bool = True,
    ) -> None:
        self.guardrails = guardrails or Guardrails()
        self.reference_price = dict(reference_price)
        self.unit_cost = dict(unit_cost)
        self.competitor_reference = dict(competitor_reference)
        self.thompson = thompson
        self.multipliers = self.guardrails.multipliers()
        self._rng = np.random.default_rng(seed)
        stores_by_brand: dict[int, list[int]] = {}
        for store, brand in sorted(self.reference_price):
            stores_by_brand.setdefault(brand, []).append(store)
        self.posteriors = {b: DemandPosterior(stores, prior) for b, stores in stores_by_brand.items()}

    def _check(self, store: int, brand: int) -> None:
        if brand not in self.posteriors:
            raise UnknownPricingKeyError(
                f"brand {brand} is unknown to the pricer (looked up store {store}, brand {brand}); "
                f"known brands: {sorted(self.posteriors)}"
            )
        if (store, brand) not in self.reference_price:
            known = sorted(s for s, b in self.reference_price if b == brand)
            raise UnknownPricingKeyError(
                f"store {store} is unknown for brand {brand} (looked up store {store}, brand {brand}); "
                f"known stores for that brand: {known}"
            )

    def _features(
        self,
        brand: int,
        stores: IntArray,
        prices: FloatArray,
        deal: FloatArray,
        feat: FloatArray,
        comp: FloatArray,
    ) -> FloatArray:
        ref = np.array([self.reference_price[(int(s), brand)] for s in stores])
        comp_ref = np.array([self.competitor_reference[(int(s), brand)] for s in stores])
        return self.posteriors[brand].design(stores, np.log(prices / ref), deal, feat, comp - comp_ref)

    def _score(
        self, brand: int, stores: IntArray, deal: FloatArray, feat: FloatArray, comp: FloatArray
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Grid prices (K, G), sampled (or mean) log units at them (K, G) and the noise variance used (K,)."""
        posterior = self.posteriors[brand]
        k = len(stores)
        coef = posterior.sample(k, self._rng) if self.thompson else np.tile(posterior.mean, (k, 1))
        ref = np.array([self.reference_price[(int(s), brand)] for s in stores])
        comp_ref = np.array([self.competitor_reference[(int(s), brand)] for s in stores])
        n_stores = len(posterior.stores)
        intercept = coef[np.arange(k), posterior.store_index(stores)]
        b_lp, b_dlp, b_flp, b_deal, b_feat, b_comp = coef[:, n_stores:].T
        lp = np.log(self.multipliers)[None, :]  # (1, G)
        elasticity = (b_lp + b_dlp * deal + b_flp * feat)[:, None]
        log_units = (
            intercept[:, None] + elasticity * lp + (b_deal * deal + b_feat * feat + b_comp * (comp - comp_ref))[:, None]
        )
        return ref[:, None] * self.multipliers[None, :], log_units, np.full(k, posterior.noise_variance())

    def choose(
        self,
        stores: IntArray,
        brands: IntArray,
        deal: FloatArray,
        feat: FloatArray,
        comp: FloatArray,
        previous_price: FloatArray,
    ) -> FloatArray:
        """Prices for a batch of series (all arrays (K,))."""
        prices = np.empty(len(stores))
        for brand in np.unique(brands):
            mask = brands == brand
            grid, log_units, _ = self._score(int(brand), stores[mask], deal[mask], feat[mask], comp[mask])
            cost = np.full(mask.sum(), self.unit_cost[int(brand)])
            allowed = allowed_prices(grid, cost, previous_price[mask], self.guardrails)
            profit = np.exp(log_units) * (grid - cost[:, None])
            best = np.where(allowed, profit, -np.inf).argmax(axis=1)
            prices[mask] = grid[np.arange(len(best)), best]
        return prices

    def observe(
        self,
        stores: IntArray,
        brands: IntArray,
        prices: FloatArray,
        deal: FloatArray,
        feat: FloatArray,
        comp: FloatArray,
        log_units: FloatArray,
    ) -> None:
        """Update the posteriors with one week of outcomes."""
        for brand in np.unique(brands):
            mask = brands == brand
            rows = self._features(int(brand), stores[mask], prices[mask], deal[mask], feat[mask], comp[mask])
            self.posteriors[int(brand)].update(rows, log_units[mask])

    def recommend_price(self, store: int, brand: int, context: PriceContext) -> PriceDecision:
        """One decision for serving: the price, its expected units and profit under the posterior mean, and
        why (the draw that chose it and the guardrails that bound). Raises
        :class:`~ensemble.errors.UnknownPricingKeyError` for a store or brand it has not seen."""
        self._check(store, brand)
        ref = self.reference_price[(store, brand)]
        comp = (
            self.competitor_reference[(store, brand)]
            if context.competitor_log_price is None
            else context.competitor_log_price
        )
        previous = ref if context.previous_price is None else context.previous_price
        args = (np.array([store]), np.array([context.deal]), np.array([context.feat]), np.array([comp]))
        grid, log_units, _ = self._score(brand, *args)
        cost = self.unit_cost[brand]
        allowed = allowed_prices(grid, np.array([cost]), np.array([previous]), self.guardrails)[0]
        profit = np.exp(log_units[0]) * (grid[0] - cost)
        unconstrained = int(profit.argmax())
        chosen = int(np.where(allowed, profit, -np.inf).argmax())
        price = float(grid[0, chosen])
        mean_pricer_thompson = self.thompson
        self.thompson = False
        try:
            _, mean_log_units, noise_var = self._score(brand, *args)
        finally:
            self.thompson = mean_pricer_thompson
        units = float(np.exp(mean_log_units[0, chosen] + 0.5 * noise_var[0]))
        binding = binding_guardrails(grid[0], unconstrained, cost, previous, self.guardrails)
        source = "a Thompson sample of" if self.thompson else "the posterior mean of"
        reason = (
            f"{source} brand {brand}'s demand posterior ({self.posteriors[brand].n_obs} observations) "
            f"gives the "
            f"highest expected profit at {self.multipliers[chosen]:.2f} x the reference price {ref:.4f} "
            "among "
            f"prices the guardrails allow; unconstrained best {self.multipliers[unconstrained]:.2f} x"
            + (f"; bound by {', '.join(binding)}" if binding else "")
        )
        return PriceDecision(
            store=store,
            brand=brand,
            price=price,
            multiplier=float(self.multipliers[chosen]),
            expected_units=units,
            expected_profit=units * (price - cost),
            reason=reason,
            binding_guardrails=tuple(binding),
        )


def reference_tables(
    stores: Sequence[int], brands: Sequence[int], reference: Sequence[float], competitor: Sequence[float]
) -> tuple[dict[tuple[int, int], float], dict[tuple[int, int], float]]:
    """Dicts keyed by (store, brand) for :class:`ThompsonPricer` from parallel sequences."""
    keys = [(int(s), int(b)) for s, b in zip(stores, brands, strict=True)]
    return dict(zip(keys, map(float, reference), strict=True)), dict(zip(keys, map(float, competitor), strict=True))
