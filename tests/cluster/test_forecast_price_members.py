"""The forecast and price deployments' runners, without Ray."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from cluster.forecast_deployment import ForecastRunner
from cluster.price_deployment import PriceRunner
from ensemble.forecasting.service import publish_forecaster
from ensemble.pricing.service import fit_pricing_version
from ensemble.registry import Registry

torch.set_num_threads(1)


def _weekly_frame() -> pd.DataFrame:
    dates = pd.date_range("2020-01-06", periods=32, freq="7D")
    pattern = np.array([10.0, 20.0, 30.0, 40.0])
    return pd.concat(
        [pd.DataFrame({"unique_id": f"P{i}", "ds": dates, "y": np.tile(pattern * (i + 1), 8)}) for i in range(3)],
        ignore_index=True,
    )


def _price_rows() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    rows = []
    for week in range(1, 21):
        prices = np.exp(rng.normal(np.log(0.04), 0.15, size=11))
        logmove = 2.0 - 2.0 * np.log(prices[0]) + rng.normal(0, 0.1)
        row = {"store": 2, "brand": 1, "week": week, "logmove": logmove, "deal": 0.0, "feat": 0.0, "profit": 30.0}
        row.update({f"price{b + 1}": prices[b] for b in range(11)})
        rows.append(row)
    return pd.DataFrame(rows)


def test_runners_say_not_trained_when_the_registry_is_empty(tmp_path: Path) -> None:
    registry = Registry(tmp_path)

    forecast = ForecastRunner(registry).forecast({"stock_code": "P0", "horizon": 2})
    price = PriceRunner(registry).price({"store": 2, "brand": 1})

    assert forecast["status"] == "not_trained" and "shopmesh train forecaster" in forecast["error"]
    assert price["status"] == "not_trained" and "shopmesh train pricer" in price["error"]


def test_forecast_runner_answers_found_missing_and_invalid(tmp_path: Path) -> None:
    # Prepare
    registry = Registry(tmp_path)
    publish_forecaster(registry, _weekly_frame(), top_n=2, horizon=4, evaluate=False)
    runner = ForecastRunner(registry)

    # Execute
    found = runner.forecast({"stock_code": "P2", "horizon": 2, "on_hand": 3})
    fallback = runner.forecast({"stock_code": "P0", "horizon": 2})
    missing = runner.forecast({"stock_code": "ZZZ", "horizon": 2})
    invalid = runner.forecast({"stock_code": "P2", "horizon": 9})

    # Assert
    assert found["status"] == "ok" and found["result"]["member"] == "ensemble"
    assert fallback["result"]["member"] == "seasonal_naive"
    assert missing == {"status": "not_found", "what": "stock_code", "value": "ZZZ", "error": missing["error"]}
    assert "ZZZ" in missing["error"]
    assert invalid["status"] == "invalid" and "1..4" in invalid["error"]
    assert runner.status()["version"] == "forecaster:v0001"


def test_price_runner_answers_found_missing_and_invalid(tmp_path: Path) -> None:
    registry = Registry(tmp_path)
    fit_pricing_version(registry, _price_rows())
    runner = PriceRunner(registry)

    found = runner.price({"store": 2, "brand": 1, "context": {"policy": "mean"}})
    missing = runner.price({"store": 3, "brand": 1})
    invalid = runner.price({"brand": 1})

    assert found["status"] == "ok" and found["result"]["version"] == "pricer:v0001"
    assert missing["status"] == "not_found" and "store 3" in missing["error"]
    assert invalid["status"] == "invalid" and "store" in invalid["error"]
