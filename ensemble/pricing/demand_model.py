"""Per-brand log-linear demand for Dominick's orange juice, fitted by (ridge-stabilised) least squares.

For brand b in store s and week w::

    logmove = a_s + u_w + (e + e_deal deal + e_feat feat) log p_own + c log_comp + d deal + f feat + noise

where ``log_comp`` is the mean log price of the other ten brands that week, ``a_s`` a store effect, ``u_w`` a
week effect (the shock shared by all stores that week) and ``noise ~ N(0, noise_sd^2)``. Store and slope
terms are unpenalised; week effects carry a small ridge penalty, which makes the store/week split
identifiable.

Unit cost: Dominick's ``profit`` column is the gross margin in percent of the shelf price, so the implied
cost is ``price x (1 - profit / 100)``; a brand's unit cost is the median of that over the fitting rows.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from ensemble.errors import DataError, ModelError

__all__ = ["BrandDemand", "DemandModel", "fit_demand_model", "own_and_competitor_log_prices"]

logger = logging.getLogger(__name__)

FloatArray = NDArray[np.float64]
N_BRANDS = 11


def own_and_competitor_log_prices(rows: pd.DataFrame) -> tuple[FloatArray, FloatArray]:
    """Per row: log of the row brand's own price, and the mean log price of the other brands."""
    missing = [c for c in ["brand", *(f"price{b}" for b in range(1, N_BRANDS + 1))] if c not in rows.columns]
    if missing:
        raise DataError(f"Dominick's rows lack columns {missing}; pass rows from load_dominicks()")
    log_prices = np.log(rows[[f"price{b}" for b in range(1, N_BRANDS + 1)]].to_numpy(dtype=float))
    brand_index = rows["brand"].to_numpy(dtype=int) - 1
    own = log_prices[np.arange(len(rows)), brand_index]
    competitors = (log_prices.sum(axis=1) - own) / (N_BRANDS - 1)
    return own, competitors


@dataclass(frozen=True)
class BrandDemand:
    """The fitted demand of one brand; elasticities are coefficients on log prices."""

    brand: int
    own_elasticity: float
    deal_elasticity_shift: float
    feat_elasticity_shift: float
    competitor_elasticity: float
    deal_effect: float
    feat_effect: float
    noise_sd: float
    unit_cost: float
    median_price: float
    store_effects: dict[int, float] = field(default_factory=dict)
    week_effects: dict[int, float] = field(default_factory=dict)

    def elasticity(self, deal: FloatArray | float, feat: FloatArray | float) -> FloatArray:
        """Own-price elasticity in the given promotion context."""
        return np.asarray(
            self.own_elasticity
            + self.deal_elasticity_shift * np.asarray(deal)
            + self.feat_elasticity_shift * np.asarray(feat),
            dtype=float,
        )

    def mean_log_units(
        self,
        store_effect: FloatArray | float,
        week_effect: FloatArray | float,
        log_price: FloatArray | float,
        competitor_log_price: FloatArray | float,
        deal: FloatArray | float,
        feat: FloatArray | float,
    ) -> FloatArray:
        """Expected log units (the noise-free part of the model)."""
        return np.asarray(
            np.asarray(store_effect)
            + np.asarray(week_effect)
            + self.elasticity(deal, feat) * np.asarray(log_price)
            + self.competitor_elasticity * np.asarray(competitor_log_price)
            + self.deal_effect * np.asarray(deal)
            + self.feat_effect * np.asarray(feat),
            dtype=float,
        )


@dataclass(frozen=True)
class DemandModel:
    """Fitted demand per brand (keys 1..11)."""

    brands: dict[int, BrandDemand]

    def brand(self, brand: int) -> BrandDemand:
        if brand not in self.brands:
            raise ModelError(f"demand model has no brand {brand}; known brands are {sorted(self.brands)}")
        return self.brands[brand]

    def with_store_levels(self, rows: pd.DataFrame) -> DemandModel:
        """Add store effects for the stores in ``rows`` (e.g. stores the model was not fitted on) as the
        mean residual of their log units given the fitted slopes and week effects; slopes are unchanged."""
        own, comp = own_and_competitor_log_prices(rows)
        updated: dict[int, BrandDemand] = {}
        for brand, demand in self.brands.items():
            mask = (rows["brand"] == brand).to_numpy()
            part = rows.loc[mask]
            weeks: FloatArray = np.asarray(part["week"].map(demand.week_effects).fillna(0.0), dtype=np.float64)
            base = demand.mean_log_units(
                0.0,
                weeks,
                own[mask],
                comp[mask],
                part["deal"].to_numpy(dtype=np.float64),
                part["feat"].to_numpy(dtype=np.float64),
            )
            residual = pd.Series(part["logmove"].to_numpy() - base).groupby(part["store"].to_numpy()).mean()
            stores = dict(demand.store_effects)
            stores.update({int(str(s)): float(v) for s, v in residual.items()})
            updated[brand] = BrandDemand(**{**demand.__dict__, "store_effects": stores})
        return DemandModel(brands=updated)


def _fit_brand(
    part: pd.DataFrame, own: FloatArray, comp: FloatArray, week_ridge: float, cross_price: bool
) -> BrandDemand:
    stores = np.sort(part["store"].unique())
    weeks = np.sort(part["week"].unique())
    store_idx = np.searchsorted(stores, part["store"].to_numpy())
    week_idx = np.searchsorted(weeks, part["week"].to_numpy())
    deal = part["deal"].to_numpy(dtype=float)
    feat = part["feat"].to_numpy(dtype=float)
    # Without cross-price terms the competitor column is left out and its coefficient is 0.
    columns = [own, deal * own, feat * own, comp, deal, feat]
    if not cross_price:
        del columns[3]
    slopes = np.stack(columns, axis=1)  # (n, 6) or (n, 5)
    n = len(part)
    design = np.zeros((n, len(stores) + len(weeks) + slopes.shape[1]))
    design[np.arange(n), store_idx] = 1.0
    design[np.arange(n), len(stores) + week_idx] = 1.0
    design[:, len(stores) + len(weeks) :] = slopes
    penalty = np.zeros(design.shape[1])
    penalty[len(stores) : len(stores) + len(weeks)] = week_ridge
    target = part["logmove"].to_numpy(dtype=float)
    gram = design.T @ design + np.diag(penalty)
    coef = np.linalg.solve(gram + 1e-9 * np.eye(len(gram)), design.T @ target)
    residual = target - design @ coef
    noise_sd = float(np.sqrt(residual @ residual / max(n - design.shape[1], 1)))
    slope_coef = list(coef[len(stores) + len(weeks) :])
    if not cross_price:
        slope_coef.insert(3, 0.0)
    e, e_deal, e_feat, c, d, f = slope_coef
    own_price = np.exp(own)
    cost = own_price * (1.0 - part["profit"].to_numpy(dtype=float) / 100.0)
    return BrandDemand(
        brand=int(part["brand"].iloc[0]),
        own_elasticity=float(e),
        deal_elasticity_shift=float(e_deal),
        feat_elasticity_shift=float(e_feat),
        competitor_elasticity=float(c),
        deal_effect=float(d),
        feat_effect=float(f),
        noise_sd=noise_sd,
        unit_cost=float(np.median(cost)),
        median_price=float(np.median(own_price)),
        store_effects={int(s): float(v) for s, v in zip(stores, coef[: len(stores)], strict=True)},
        week_effects={
            int(w): float(v) for w, v in zip(weeks, coef[len(stores) : len(stores) + len(weeks)], strict=True)
        },
    )


def fit_demand_model(rows: pd.DataFrame, week_ridge: float = 1.0, cross_price: bool = True) -> DemandModel:
    """Fit :class:`BrandDemand` for every brand present in ``rows`` (Dominick's rows, e.g. the even
    stores); ``cross_price=False`` leaves the competitor-price term out (the comparison model of
    :func:`~ensemble.pricing.demand_check.check_demand_model`)."""
    needed = {"store", "brand", "week", "logmove", "deal", "feat", "profit"}
    missing = needed - set(rows.columns)
    if missing:
        raise DataError(f"Dominick's rows lack columns {sorted(missing)}; pass rows from load_dominicks()")
    if rows.empty:
        raise DataError("no Dominick's rows to fit the demand model on")
    own, comp = own_and_competitor_log_prices(rows)
    brands: dict[int, BrandDemand] = {}
    for brand in sorted(rows["brand"].unique()):
        mask = (rows["brand"] == brand).to_numpy()
        brands[int(brand)] = _fit_brand(rows.loc[mask], own[mask], comp[mask], week_ridge, cross_price)
        logger.info(
            "brand %s: elasticity %.2f, noise sd %.3f",
            brand,
            brands[int(brand)].own_elasticity,
            brands[int(brand)].noise_sd,
        )
    return DemandModel(brands=brands)
