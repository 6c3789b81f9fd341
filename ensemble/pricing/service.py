"""The pricing member as a servable version: fitting and publishing it to the registry, loading it back and
answering price requests.

A version (member ``pricer``) holds the demand model's per-brand coefficients and unit costs (config
``brands``), the guardrails, the (store, brand) keys with their reference price (median own price) and
competitor reference (median mean log price of the other brands), and the historical observations as tensors
(``obs.*``). On load the Thompson pricer starts from its prior and is updated with those observations, so
every load starts from the same data posterior; prices it charges while serving are not fed back (no
outcome arrives with a request), so sampling state is not carried between loads.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any

import numpy as np
import pandas as pd
import torch

from ensemble.datasets import load_dominicks
from ensemble.errors import DataError, ModelError
from ensemble.pricing.bandit import PriceContext, ThompsonPricer, reference_tables
from ensemble.pricing.demand_model import fit_demand_model, own_and_competitor_log_prices
from ensemble.pricing.guardrails import Guardrails
from ensemble.registry import Lineage, LoadedArtifact, ModelVersion, Registry, fingerprint_frame

__all__ = ["CONTEXT_FIELDS", "MEMBER", "PricingService", "fit_pricing_version"]

logger = logging.getLogger(__name__)

MEMBER = "pricer"
_OBS = ("store", "brand", "price", "deal", "feat", "comp", "log_units")
CONTEXT_FIELDS = frozenset({"deal", "feat", "competitor_log_price", "previous_price", "policy"})
COST_ASSUMPTION = "unit cost = price x (1 - profit/100), brand median over the fitting rows"


def fit_pricing_version(
    registry: Registry, rows: pd.DataFrame | None = None, *, guardrails: Guardrails | None = None, seed: int = 0
) -> ModelVersion:
    """Fit the demand model on Dominick's rows (all stores; :func:`load_dominicks` when ``rows`` is None)
    and publish a new ``pricer`` version."""
    guardrails = guardrails or Guardrails()
    data = load_dominicks() if rows is None else rows
    model = fit_demand_model(data)
    own, comp = own_and_competitor_log_prices(data)
    keyed = pd.DataFrame(
        {"store": data["store"].to_numpy(dtype=int), "brand": data["brand"].to_numpy(dtype=int)}
    ).assign(price=np.exp(own), comp=comp)
    medians = keyed.groupby(["store", "brand"], sort=True)[["price", "comp"]].median().reset_index()
    brands = {
        str(b): {k: v for k, v in asdict(d).items() if k not in ("store_effects", "week_effects")}
        for b, d in model.brands.items()
    }
    config = {
        "brands": brands,
        "guardrails": asdict(guardrails),
        "cost_assumption": COST_ASSUMPTION,
        "keys": medians[["store", "brand", "price", "comp"]].to_numpy().tolist(),
        "seed": seed,
    }
    tensors = {
        "obs.store": torch.as_tensor(keyed["store"].to_numpy(), dtype=torch.int64),
        "obs.brand": torch.as_tensor(keyed["brand"].to_numpy(), dtype=torch.int64),
        "obs.price": torch.as_tensor(np.exp(own), dtype=torch.float64),
        "obs.deal": torch.as_tensor(data["deal"].to_numpy(dtype=float), dtype=torch.float64),
        "obs.feat": torch.as_tensor(data["feat"].to_numpy(dtype=float), dtype=torch.float64),
        "obs.comp": torch.as_tensor(comp, dtype=torch.float64),
        "obs.log_units": torch.as_tensor(data["logmove"].to_numpy(dtype=float), dtype=torch.float64),
    }
    metrics = {
        "rows": len(data),
        "series": len(medians),
        "elasticities": {str(b): round(d.own_elasticity, 3) for b, d in model.brands.items()},
        "noise_sd": {str(b): round(d.noise_sd, 3) for b, d in model.brands.items()},
    }
    lineage = Lineage(
        parent=None,
        data_fingerprint=fingerprint_frame(data),
        method="central",
        details={"source": "dominicks" if rows is None else "rows passed in", "rows": len(data)},
    )
    version = registry.publish(MEMBER, tensors=tensors, config=config, metrics=metrics, lineage=lineage)
    logger.info("published %s (%s store x brand series)", version.id, len(medians))
    return version


def _context(context: dict[str, Any] | None) -> tuple[PriceContext, str]:
    values = dict(context or {})
    unknown = set(values) - CONTEXT_FIELDS
    if unknown:
        raise DataError(
            f"unknown price context field(s) {sorted(unknown)}; allowed: {sorted(CONTEXT_FIELDS)}",
            column=sorted(unknown)[0],
        )
    policy = str(values.pop("policy", "thompson"))
    if policy not in ("thompson", "mean"):
        raise DataError(f"policy must be 'thompson' or 'mean'; got {policy!r}", column="policy", value=policy)
    try:
        parsed = PriceContext(
            deal=float(values.get("deal", 0.0)),
            feat=float(values.get("feat", 0.0)),
            competitor_log_price=None
            if values.get("competitor_log_price") is None
            else float(values["competitor_log_price"]),
            previous_price=None if values.get("previous_price") is None else float(values["previous_price"]),
        )
    except (TypeError, ValueError) as err:
        raise DataError(f"price context values must be numbers; got {context}: {err}") from err
    if parsed.previous_price is not None and parsed.previous_price <= 0:
        raise DataError(f"previous_price must be positive; got {parsed.previous_price}", column="previous_price")
    return parsed, policy


class PricingService:
    """Answers price recommendations from one loaded ``pricer`` version."""

    def __init__(self, artifact: LoadedArtifact) -> None:
        try:
            cfg = artifact.config
            self.guardrails = Guardrails(**cfg["guardrails"])
            keys = [(int(s), int(b), float(p), float(c)) for s, b, p, c in cfg["keys"]]
            costs = {int(b): float(d["unit_cost"]) for b, d in cfg["brands"].items()}
            seed = int(cfg.get("seed", 0))
            obs = {name: artifact.tensors[f"obs.{name}"].numpy() for name in _OBS}
        except (KeyError, TypeError, ValueError) as err:
            raise ModelError(
                f"{artifact.path} is not a pricer artifact (missing or bad {err}); publish one with "
                "fit_pricing_version()"
            ) from err
        reference, competitor = reference_tables(
            [k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys], [k[3] for k in keys]
        )
        self._pricer = ThompsonPricer(reference, costs, competitor, self.guardrails, seed=seed, thompson=True)
        self._pricer.observe(*(obs[name] for name in _OBS))
        self.keys = [(store, brand) for store, brand, _, _ in keys]  # the (store, brand) pairs it prices
        self.version_id = artifact.version.id
        self.cost_assumption = str(cfg.get("cost_assumption", COST_ASSUMPTION))

    @classmethod
    def load(cls, registry: Registry, version: str | None = None) -> PricingService:
        """Load a verified version (the newest when ``version`` is None)."""
        return cls(registry.load(MEMBER, version))

    def price(self, store: int, brand: int, context: dict[str, Any] | None = None) -> dict[str, Any]:
        """The recommended price for one (store, brand) next week. ``context`` may hold ``deal``, ``feat``,
        ``competitor_log_price``, ``previous_price`` and ``policy`` (``"thompson"``, the default, samples the
        posterior; ``"mean"`` uses its mean and is deterministic). Raises
        :class:`~ensemble.errors.UnknownPricingKeyError` for an unknown store or brand."""
        parsed, policy = _context(context)
        self._pricer.thompson = policy == "thompson"
        try:
            decision = self._pricer.recommend_price(int(store), int(brand), parsed)
        finally:
            self._pricer.thompson = True
        return {
            "store": decision.store,
            "brand": decision.brand,
            "price": decision.price,
            "multiplier": decision.multiplier,
            "expected_units": decision.expected_units,
            "expected_profit": decision.expected_profit,
            "unit_cost": self._pricer.unit_cost[decision.brand],
            "reason": decision.reason,
            "binding_guardrails": list(decision.binding_guardrails),
            "guardrails": asdict(self.guardrails),
            "cost_assumption": self.cost_assumption,
            "policy": policy,
            "members_ran": ["demand_posterior", "thompson_pricer" if policy == "thompson" else "posterior_mean_pricer"],
            "version": self.version_id,
        }
