from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ensemble.errors import DataError, SeriesTooShortError
from ensemble.forecasting import Member, RollingConfig, evaluate_forecast, forecast_baselines, to_series_frame

SMALL = RollingConfig(horizon=4, step=2, test_windows=2, validation_windows=2)


def _noisy_frame(n_series: int = 6, length: int = 48, seed: int = 0) -> pd.DataFrame:
    """Series whose level follows a price covariate: units = 50 (i + 1) exp(-2 log_price) + noise."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2020-01-06", periods=length, freq="7D")
    rows = []
    for i in range(n_series):
        log_price = rng.choice([0.0, -0.3], size=length, p=[0.7, 0.3])
        units = 50.0 * (i + 1) * np.exp(-2.0 * log_price) + rng.normal(0, 5, size=length)
        rows.append(
            pd.DataFrame({"unique_id": f"s{i}", "ds": dates, "y": np.maximum(units, 0), "log_price": log_price})
        )
    return pd.concat(rows, ignore_index=True)


def test_seasonal_naive_is_exact_on_periodic_series() -> None:
    # Prepare
    history = {"a": np.tile([1.0, 5.0, 3.0, 7.0], 5)}
    # Execute
    result = forecast_baselines(history, horizon=4, season_length=4)
    # Assert
    np.testing.assert_allclose(result["seasonal_naive"].point["a"], [1.0, 5.0, 3.0, 7.0])


def test_rolling_cutoffs_follow_the_layout() -> None:
    # 48 steps, h 4, step 2: test cutoffs 42, 44; validation of 42 is 36, 38; of 44 is 38, 40
    assert SMALL.cutoffs(48) == [36, 38, 40, 42, 44]
    assert SMALL.test_cutoffs(48) == [42, 44]
    assert SMALL.validation_cutoffs(42) == [36, 38]
    assert all(c + SMALL.horizon <= 42 for c in SMALL.validation_cutoffs(42))


def test_rolling_evaluation_reports_every_member_and_window() -> None:
    # Execute
    report = evaluate_forecast(_noisy_frame(), SMALL)
    # Assert
    assert set(report["models"]) == {"served", *(str(m) for m in Member)}
    assert report["protocol"]["test_cutoffs"] == ["2020-10-26", "2020-11-09"]
    assert report["protocol"]["covariates"] == ["log_price"]
    assert len(report["windows"]) == 2
    for window in report["windows"]:
        assert 0.0 <= window["models"]["served"]["coverage_conformal"] <= 1.0
        assert window["models"]["auto_ets"]["coverage_native"] is not None
        assert window["models"]["lightgbm"]["coverage_native"] is None
    # The price covariate drives demand: the global model that sees it beats the naive forecast.
    assert report["models"]["lightgbm"]["mase"] < report["models"]["seasonal_naive"]["mase"]


def test_too_short_series_say_how_many_steps_the_layout_needs() -> None:
    frame = _noisy_frame(length=20)
    with pytest.raises(SeriesTooShortError, match="too short"):
        evaluate_forecast(frame, SMALL)


def test_step_must_divide_the_horizon() -> None:
    with pytest.raises(DataError, match="multiple of step"):
        evaluate_forecast(_noisy_frame(), RollingConfig(horizon=4, step=3))


def test_user_frame_validation() -> None:
    raw = pd.DataFrame({"sku": ["a", "a"], "when": ["2020-01-01", "2020-01-08"], "units": ["3", "x"]})
    with pytest.raises(DataError, match="'units' must be numeric"):
        to_series_frame(raw, "sku", "when", "units")
    with pytest.raises(DataError, match=r"lacks column\(s\) \['qty'\]"):
        to_series_frame(raw, "sku", "when", "qty")
