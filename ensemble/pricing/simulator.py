"""The pricing simulator: Dominick's store x brand series replayed week by week, with the retailer's own
price set by a policy and demand drawn from the fitted :class:`~ensemble.pricing.demand_model.DemandModel`.

Everything but the own price comes from the historical rows of each series (deal, feature ads, the week's
shared shock); the other brands' prices are historical too unless ``competitor_reaction`` is set, in which case
they follow the retailer's moves (see :meth:`PricingWorld.competitor_context`). The noise of every (series,
week) is drawn once from the seed, so every policy meets the same demand shocks (common random numbers).
Profit is ``units x (price - unit cost)`` in the data's units (dollars per ounce x units moved).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from ensemble.errors import DataError
from ensemble.pricing.demand_model import DemandModel, own_and_competitor_log_prices

__all__ = ["PricingWorld", "build_world"]

logger = logging.getLogger(__name__)

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass(frozen=True)
class PricingWorld:
    """K series x N weeks of context and the true demand behind them (arrays are (K,) or (K, N))."""

    model: DemandModel
    stores: IntArray
    brands: IntArray
    weeks: IntArray
    deal: FloatArray
    feat: FloatArray
    competitor_log_price: FloatArray
    historical_price: FloatArray
    reference_price: FloatArray
    unit_cost: FloatArray
    noise: FloatArray
    competitor_reaction: float = 0.0

    @property
    def n_series(self) -> int:
        return len(self.stores)

    @property
    def n_weeks(self) -> int:
        return int(self.weeks.shape[1])

    def competitor_context(self, week: int, previous_prices: FloatArray) -> FloatArray:
        """The other brands' mean log price that each series (K,) faces in week ``week``.

        With ``competitor_reaction`` r the competitors answer last week's own price one week later:
        ``log_comp[w] = historical log_comp[w] + r x (log previous_price - log reference_price)``, so a price cut
        of 10 % is met by competitor cuts of about r x 10 % (r = 0: the historical competitor prices)."""
        historical = self.competitor_log_price[:, week]
        if self.competitor_reaction == 0.0:
            return np.asarray(historical, dtype=np.float64)
        deviation = np.log(previous_prices) - np.log(self.reference_price)
        return np.asarray(historical + self.competitor_reaction * deviation, dtype=np.float64)

    def mean_log_units(self, week: int, prices: FloatArray, competitor: FloatArray | None = None) -> FloatArray:
        """Noise-free log units of every series in simulated week ``week`` at ``prices`` (K,); ``competitor``
        is the other brands' mean log price (K,), by default the historical one."""
        competitor = self.competitor_log_price[:, week] if competitor is None else competitor
        out = np.empty(self.n_series)
        for brand in np.unique(self.brands):
            mask = self.brands == brand
            demand = self.model.brand(int(brand))
            store_effect = np.array([demand.store_effects[int(s)] for s in self.stores[mask]])
            week_effect = np.array([demand.week_effects.get(int(w), 0.0) for w in self.weeks[mask, week]])
            out[mask] = demand.mean_log_units(
                store_effect,
                week_effect,
                np.log(prices[mask]),
                competitor[mask],
                self.deal[mask, week],
                self.feat[mask, week],
            )
        return out

    def expected_profit(self, week: int, prices: FloatArray, competitor: FloatArray | None = None) -> FloatArray:
        """Expected profit per series (the log-normal mean of units times the margin)."""
        sd = np.array([self.model.brand(int(b)).noise_sd for b in self.brands])
        units = np.exp(self.mean_log_units(week, prices, competitor) + 0.5 * sd**2)
        return units * (prices - self.unit_cost)

    def step(
        self, week: int, prices: FloatArray, competitor: FloatArray | None = None
    ) -> tuple[FloatArray, FloatArray]:
        """Realised ``(log_units, profit)`` of every series at ``prices`` in week ``week``."""
        log_units = self.mean_log_units(week, prices, competitor) + self.noise[:, week]
        return log_units, np.exp(log_units) * (prices - self.unit_cost)


def build_world(
    model: DemandModel, rows: pd.DataFrame, weeks: int, seed: int = 0, competitor_reaction: float = 0.0
) -> PricingWorld:
    """Series of ``rows`` (e.g. Dominick's odd stores) with at least ``weeks`` observed weeks, each replayed
    over its first ``weeks`` weeks. Store levels of stores the model has not seen are calibrated from
    ``rows`` (see :meth:`DemandModel.with_store_levels`); reference price = the series' median historical
    price; unit cost = the brand's cost in the model; ``competitor_reaction`` in [0, 1] makes the other
    brands follow the retailer's price moves (see :meth:`PricingWorld.competitor_context`)."""
    if weeks < 2:
        raise DataError(f"weeks must be at least 2; got {weeks}")
    if not 0.0 <= competitor_reaction <= 1.0:
        raise DataError(
            f"competitor_reaction must be between 0 (historical prices) and 1 (competitors match every move); "
            f"got {competitor_reaction}"
        )
    model = model.with_store_levels(rows)
    own, comp = own_and_competitor_log_prices(rows)
    table = rows.assign(_own=np.exp(own), _comp=comp).sort_values(["store", "brand", "week"])
    fields: dict[str, list[NDArray[np.float64]]] = {k: [] for k in ("week", "deal", "feat", "_comp", "_own")}
    keys: list[tuple[int, int]] = []
    reference: list[float] = []
    for group_key, group in table.groupby(["store", "brand"], sort=True):
        store, brand = (int(str(v)) for v in group_key)
        if len(group) < weeks or brand not in model.brands:
            continue
        keys.append((store, brand))
        reference.append(float(group["_own"].median()))
        head = group.iloc[:weeks]
        for name in fields:
            fields[name].append(head[name].to_numpy(dtype=float))
    if not keys:
        raise DataError(f"no store x brand series has {weeks} weeks of data; ask for fewer weeks")
    rng = np.random.default_rng(seed)
    brands = np.array([b for _, b in keys], dtype=np.int64)
    sd = np.array([model.brand(int(b)).noise_sd for b in brands])
    logger.info("pricing world: %s series x %s weeks", len(keys), weeks)
    return PricingWorld(
        model=model,
        stores=np.array([s for s, _ in keys], dtype=np.int64),
        brands=brands,
        weeks=np.array(fields["week"], dtype=np.int64),
        deal=np.array(fields["deal"]),
        feat=np.array(fields["feat"]),
        competitor_log_price=np.array(fields["_comp"]),
        historical_price=np.array(fields["_own"]),
        reference_price=np.array(reference),
        unit_cost=np.array([model.brand(int(b)).unit_cost for b in brands]),
        noise=sd[:, None] * rng.standard_normal((len(keys), weeks)),
        competitor_reaction=competitor_reaction,
    )
