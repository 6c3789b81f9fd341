from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ensemble.errors import DataError, UnknownPricingKeyError
from ensemble.pricing import Guardrails
from ensemble.pricing.service import PricingService, fit_pricing_version
from ensemble.registry import Registry, fingerprint_frame


def dominicks_like_rows(seed: int = 0) -> pd.DataFrame:
    """Two brands in stores 2 and 4 over 30 weeks, elasticity -2.5, margin 25 %."""
    rng = np.random.default_rng(seed)
    rows = []
    for store in (2, 4):
        for week in range(1, 31):
            prices = np.exp(rng.normal(np.log(0.04), 0.15, size=11))
            deal, feat = float(rng.random() < 0.3), float(rng.random() < 0.2)
            for brand in (1, 2):
                comp = (np.log(prices).sum() - np.log(prices[brand - 1])) / 10
                logmove = 2.0 + 0.1 * store - 2.5 * np.log(prices[brand - 1]) + 0.5 * comp + 0.3 * deal
                row = {"store": store, "brand": brand, "week": week, "logmove": logmove + rng.normal(0, 0.1)}
                row.update({f"price{b + 1}": prices[b] for b in range(11)})
                row.update(deal=deal, feat=feat, profit=25.0)
                rows.append(row)
    return pd.DataFrame(rows)


def test_round_trip_publishes_keys_costs_and_lineage(tmp_path: Path) -> None:
    # Prepare
    rows = dominicks_like_rows()
    registry = Registry(tmp_path)

    # Execute
    version = fit_pricing_version(registry, rows)
    artifact = registry.load("pricer")

    # Assert
    own = rows[[f"price{b}" for b in range(1, 12)]].to_numpy()[np.arange(len(rows)), rows["brand"] - 1]
    expected_cost = np.median(own[rows["brand"] == 1] * 0.75)
    assert version.id == "pricer:v0001"
    assert artifact.lineage.data_fingerprint == fingerprint_frame(rows)
    assert artifact.config["brands"]["1"]["unit_cost"] == pytest.approx(expected_cost)
    assert sorted((int(s), int(b)) for s, b, _, _ in artifact.config["keys"]) == [(2, 1), (2, 2), (4, 1), (4, 2)]
    assert artifact.config["guardrails"] == Guardrails().__dict__


def test_price_respects_guardrails_and_explains(tmp_path: Path) -> None:
    # Prepare
    rows = dominicks_like_rows()
    registry = Registry(tmp_path)
    fit_pricing_version(registry, rows)
    service = PricingService.load(registry)
    own = rows[[f"price{b}" for b in range(1, 12)]].to_numpy()[np.arange(len(rows)), rows["brand"] - 1]
    reference = float(np.median(own[(rows["store"] == 2) & (rows["brand"] == 1)]))

    # Execute
    result = service.price(2, 1, {"previous_price": reference, "deal": 0, "policy": "mean"})

    # Assert
    assert reference * 0.9 - 1e-9 <= result["price"] <= reference * 1.1 + 1e-9
    assert result["expected_profit"] == pytest.approx(
        result["expected_units"] * (result["price"] - result["unit_cost"])
    )
    assert result["reason"] and result["members_ran"] == ["demand_posterior", "posterior_mean_pricer"]
    assert service.price(2, 1, {"policy": "mean"}) == service.price(2, 1, {"policy": "mean"})


def test_unknown_store_or_brand_and_bad_context_are_rejected(tmp_path: Path) -> None:
    registry = Registry(tmp_path)
    fit_pricing_version(registry, dominicks_like_rows())
    service = PricingService.load(registry)

    with pytest.raises(UnknownPricingKeyError, match="store 99"):
        service.price(99, 1, None)
    with pytest.raises(UnknownPricingKeyError, match="brand 7"):
        service.price(2, 7, None)
    with pytest.raises(DataError, match="colour"):
        service.price(2, 1, {"colour": "red"})
