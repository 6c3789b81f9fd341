from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ensemble.errors import ModelError, UnknownProductForecastError
from ensemble.forecasting import forecast_baselines, reorder_point
from ensemble.forecasting.reorder import conformal_reorder
from ensemble.forecasting.service import ForecastService, publish_forecaster
from ensemble.registry import Registry


def weekly_frame(n_series: int = 5, length: int = 40) -> pd.DataFrame:
    """Series P0..P{n-1}; P{i} sells (i + 1) x a 4-week pattern plus noise, so P{n-1} sells most."""
    rng = np.random.default_rng(0)
    pattern = np.array([10.0, 20.0, 30.0, 40.0])
    dates = pd.date_range("2020-01-06", periods=length, freq="7D")
    return pd.concat(
        [
            pd.DataFrame(
                {
                    "unique_id": f"P{i}",
                    "ds": dates,
                    "y": np.tile(pattern * (i + 1), length // 4) + rng.integers(0, 3, size=length),
                }
            )
            for i in range(n_series)
        ],
        ignore_index=True,
    )


def publish_tiny(registry: Registry) -> None:
    publish_forecaster(registry, weekly_frame(), top_n=3, horizon=4, evaluate=False)


def test_round_trip_answers_served_quantiles_and_reorder(tmp_path: Path) -> None:
    # Prepare
    registry = Registry(tmp_path)
    publish_tiny(registry)

    # Execute
    service = ForecastService.load(registry)
    result = service.forecast_product("P4", 3, lead_time_weeks=2, service_level=0.9, on_hand=5)

    # Assert
    assert service.version_id == "forecaster:v0001"
    assert service.modelled_products == {"P4", "P3", "P2"}
    assert result["member"] == "ensemble" and result["interval"] == "conformal"
    assert result["members"] and all(isinstance(m, str) for m in result["members"])
    assert [w["week"] for w in result["weeks"]] == ["2020-10-12", "2020-10-19", "2020-10-26"]
    assert all(0 <= w["p10"] <= w["p50"] <= w["p90"] for w in result["weeks"])
    assert result["reorder"]["order_quantity"] is not None and result["reorder"]["explanation"]
    assert result["reorder"]["service_level"] == 0.9
    assert 0.0 <= result["reorder"]["expected_fill_rate"] <= 1.0


def test_reorder_of_a_modelled_product_is_the_conformal_level_on_the_full_stored_horizon(tmp_path: Path) -> None:
    # Prepare
    registry = Registry(tmp_path)
    publish_tiny(registry)
    service = ForecastService.load(registry)
    artifact = registry.load("forecaster")
    row = artifact.config["modelled_products"].index("P3")
    full = service.forecast_product("P3", 4)["weeks"]

    # Execute
    result = service.forecast_product("P3", 2, lead_time_weeks=2, service_level=0.95, on_hand=10)

    # Assert
    expected = conformal_reorder(
        [w["p50"] for w in full],
        artifact.tensors["calibration.errors"].numpy(),
        float(artifact.tensors["calibration.scales"].numpy()[row]),
        2,
        0.95,
        10,
    )
    assert result["reorder"]["method"] == "conformal"
    assert result["reorder"]["reorder_point"] == expected.reorder_point
    assert result["reorder"]["order_quantity"] == expected.order_quantity
    assert result["reorder"]["expected_fill_rate"] == pytest.approx(expected.expected_fill_rate)


def test_reorder_of_a_fallback_product_uses_the_normal_approximation(tmp_path: Path) -> None:
    registry = Registry(tmp_path)
    publish_tiny(registry)
    service = ForecastService.load(registry)
    full = service.forecast_product("P0", 4)["weeks"]

    result = service.forecast_product("P0", 2, lead_time_weeks=2, service_level=0.95, on_hand=10)

    expected = reorder_point(
        {q: [w[name] for w in full] for q, name in ((0.1, "p10"), (0.5, "p50"), (0.9, "p90"))}, 2, 0.95, 10
    )
    assert result["reorder"]["method"] == "normal"
    assert result["reorder"]["reorder_point"] == expected.reorder_point
    assert result["reorder"]["order_quantity"] == expected.order_quantity


def test_stored_forecast_is_the_served_band_of_the_fit(tmp_path: Path) -> None:
    # Prepare
    registry = Registry(tmp_path)
    publish_tiny(registry)
    artifact = registry.load("forecaster")

    # Execute
    stored = artifact.tensors["forecast"].numpy()

    # Assert: one (horizon, 3) block per modelled product, P10 <= P50 <= P90, the combination recorded
    assert stored.shape == (3, 4, 3)
    assert (stored[..., 0] <= stored[..., 1]).all() and (stored[..., 1] <= stored[..., 2]).all()
    assert artifact.metrics["served"]["combination"] == artifact.config["combination"]


def test_product_outside_the_trained_set_falls_back_to_seasonal_naive(tmp_path: Path) -> None:
    # Prepare
    registry = Registry(tmp_path)
    publish_tiny(registry)
    history = weekly_frame().query("unique_id == 'P0'")["y"].to_numpy(dtype=float)

    # Execute
    result = ForecastService.load(registry).forecast_product("P0", 4)

    # Assert
    expected = forecast_baselines({"P0": history}, 4, 1)["seasonal_naive"]
    assert result["member"] == "seasonal_naive"
    assert "outside" in result["note"]
    assert [w["p50"] for w in result["weeks"]] == pytest.approx([history[-1]] * 4)
    assert [w["p90"] for w in result["weeks"]] == pytest.approx(expected.upper["P0"].tolist())


def test_unknown_product_names_what_was_looked_up(tmp_path: Path) -> None:
    registry = Registry(tmp_path)
    publish_tiny(registry)
    service = ForecastService.load(registry)

    with pytest.raises(UnknownProductForecastError, match="'NOPE'") as caught:
        service.forecast_product("NOPE", 2)
    assert caught.value.stock_code == "NOPE"
    assert isinstance(caught.value, ModelError)


def test_forecast_series_uses_auto_ets_and_dates_the_steps(tmp_path: Path) -> None:
    # Prepare
    registry = Registry(tmp_path)
    publish_tiny(registry)
    values = [5.0, 6.0, 7.0, 6.0, 5.0, 6.0, 7.0, 6.0, 5.0, 6.0]
    dates = [d.date().isoformat() for d in pd.date_range("2021-03-01", periods=10, freq="7D")]

    # Execute
    result = ForecastService.load(registry).forecast_series(values, dates, 2)

    # Assert
    expected = forecast_baselines({"request": np.array(values)}, 2, 1)["auto_ets"]
    assert result["member"] == "auto_ets"
    assert [s["step"] for s in result["steps"]] == ["2021-05-10", "2021-05-17"]
    assert [s["p50"] for s in result["steps"]] == pytest.approx(expected.point["request"].tolist())
