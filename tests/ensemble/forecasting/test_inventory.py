from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ensemble.errors import DataError
from ensemble.forecasting import InventoryConfig, Member, RollingConfig, build_panel, rolling_forecasts
from ensemble.forecasting.inventory import simulate_inventory
from ensemble.forecasting.rolling import SERVED, Band, Calibration, HeldOutWindow, RollingForecasts


def _window(band: Band, actual: np.ndarray, validation: Calibration | None = None) -> HeldOutWindow:
    from ensemble.forecasting.combine import Combination

    combination = Combination(members=(Member.AUTO_ETS,), how="mean", fallback={}, validation_mase=1.0)
    bands = {SERVED: band, Member.SEASONAL_NAIVE: band, Member.AUTO_ETS: band}
    return HeldOutWindow(
        cutoff=20,
        actual=actual,
        scales=np.ones(1),
        combination=combination,
        native=dict(bands),
        conformal=dict(bands),
        validation=validation,
    )


def _result(window: HeldOutWindow) -> RollingForecasts:
    dates = pd.date_range("2021-01-04", periods=28, freq="7D")
    panel = build_panel(pd.DataFrame({"unique_id": "a", "ds": dates, "y": 1.0}), min_length=10)
    return RollingForecasts(panel, RollingConfig(horizon=4, step=2), 1, [window], {})


def test_exact_forecast_of_constant_demand_never_runs_out() -> None:
    # Prepare: demand 10 every week, forecast P10 = P50 = P90 = 10 (no spread): order up to 2 x 10 + 10
    band = Band(np.full((1, 4), 10.0), np.full((1, 4), 10.0), np.full((1, 4), 10.0))
    result = _result(_window(band, np.full((1, 4), 10.0)))
    # Execute: lead time 2, 4-week window -> weeks 0 and 1 simulated
    table = simulate_inventory(result, InventoryConfig(lead_time_weeks=2, order_cost=5.0, holding_cost=1.0))
    # Assert: start 30, week 0 sells 10 -> 20 left, week 1: position 20 <= reorder point 20, order 30 - 20 = 10,
    # sells 10 -> 10 left. Average stock (20 + 10) / 2 = 15; one order; cost 5 + 1 x 30.
    served = table["models"][SERVED]
    assert served["fill_rate"] == 1.0 and served["stockout_week_share"] == 0.0
    assert served["average_stock_units"] == pytest.approx(15.0)
    assert served["orders"] == 1 and served["cost"] == pytest.approx(35.0)


def test_under_forecast_runs_out_and_loses_sales() -> None:
    # Prepare: forecast 5 a week, actual 20: start at 15, week 0 sells 15 of 20
    band = Band(np.full((1, 4), 5.0), np.full((1, 4), 5.0), np.full((1, 4), 5.0))
    result = _result(_window(band, np.full((1, 4), 20.0)))
    # Execute
    table = simulate_inventory(result, InventoryConfig(lead_time_weeks=2))
    # Assert: week 0 sells 15, week 1 sells 0 (the order placed then arrives in week 3): 15 / 40
    served = table["models"][SERVED]
    assert served["fill_rate"] == pytest.approx(15.0 / 40.0)
    assert served["stockout_week_share"] == 1.0


def test_inventory_rejects_a_lead_time_the_forecast_cannot_cover() -> None:
    band = Band(np.ones((1, 4)), np.ones((1, 4)), np.ones((1, 4)))
    with pytest.raises(DataError, match="lead time"):
        simulate_inventory(_result(_window(band, np.ones((1, 4)))), InventoryConfig(lead_time_weeks=4))


def test_inventory_runs_on_rolling_forecasts() -> None:
    # Prepare: 4 Poisson series of 40 weeks
    rng = np.random.default_rng(0)
    dates = pd.date_range("2021-01-04", periods=40, freq="7D")
    frame = pd.concat(
        [pd.DataFrame({"unique_id": f"p{i}", "ds": dates, "y": rng.poisson(20 * (i + 1), 40)}) for i in range(4)]
    )
    config = RollingConfig(horizon=4, step=2, test_windows=2, validation_windows=2)
    result = rolling_forecasts(build_panel(frame, min_length=20), config)
    # Execute
    table = simulate_inventory(result)
    # Assert
    assert set(table["models"]) == {SERVED, "seasonal_naive", "auto_ets"}
    assert all(0.0 <= m["fill_rate"] <= 1.0 for m in table["models"].values())
    assert table["policy"]["simulated_weeks_per_window"] == 2


def test_conformal_policy_orders_up_to_the_calibrated_level() -> None:
    # Prepare: point 10 a week; on validation the actual was 12 a week, so the 3-week protection period's error
    # is 6 (one score): every order-up-to level is 30 + 6 = 36. Actual demand 12 a week.
    band = Band(np.full((1, 4), 10.0), np.full((1, 4), 10.0), np.full((1, 4), 10.0))
    points = {name: np.full((1, 1, 4), 10.0) for name in (SERVED, "seasonal_naive", "auto_ets")}
    calibration = Calibration(
        points=points, actual=np.full((1, 1, 4), 12.0), scales=np.ones((1, 1)), test_scales=np.ones(1)
    )
    result = _result(_window(band, np.full((1, 4), 12.0), calibration))
    # Execute
    table = simulate_inventory(result, InventoryConfig(lead_time_weeks=2))["conformal_policy"][SERVED]
    # Assert: start 36, sell 12 -> 24; week 1 orders 36 - 24 = 12, sells 12 -> 12. Average stock 18.
    assert table["fill_rate"] == 1.0 and table["orders"] == 1
    assert table["average_stock_units"] == pytest.approx(18.0)
