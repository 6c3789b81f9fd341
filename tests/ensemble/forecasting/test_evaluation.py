from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from ensemble.errors import DataError, SeriesTooShortError
from ensemble.forecasting import NeuralConfig, evaluate_forecast, forecast_baselines, to_series_frame

torch.set_num_threads(1)
TINY = NeuralConfig(input_window=8, hidden=16, max_epochs=30, patience=5)


def _periodic_frame(n_series: int = 4, length: int = 48) -> pd.DataFrame:
    pattern = np.array([10.0, 20.0, 30.0, 40.0])
    rows = []
    for i in range(n_series):
        values = np.tile(pattern * (i + 1), length // 4)
        dates = pd.date_range("2020-01-06", periods=length, freq="7D")
        rows.append(pd.DataFrame({"unique_id": f"s{i}", "ds": dates, "y": values}))
    return pd.concat(rows, ignore_index=True)


def test_seasonal_naive_is_exact_on_periodic_series() -> None:
    # Prepare
    history = {"a": np.tile([1.0, 5.0, 3.0, 7.0], 5)}
    # Execute
    result = forecast_baselines(history, horizon=4, season_length=4)
    # Assert
    np.testing.assert_allclose(result["seasonal_naive"].point["a"], [1.0, 5.0, 3.0, 7.0])


def test_evaluate_forecast_returns_all_models_and_zero_naive_error() -> None:
    # Execute
    report = evaluate_forecast(_periodic_frame(), horizon=4, season_length=4, config=TINY)
    # Assert: seasonal naive on a perfectly periodic series has zero error; MASE undefined (zero scale)
    assert set(report["models"]) == {"seasonal_naive", "auto_ets", "neural"}
    assert report["series"] == 4 and report["horizon"] == 4
    assert report["models"]["seasonal_naive"]["smape"] == pytest.approx(0.0)
    assert report["models"]["seasonal_naive"]["series_scored_mase"] == 0
    assert 0.0 <= report["models"]["neural"]["coverage_p10_p90"] <= 1.0


def test_too_short_series_names_the_series_and_length() -> None:
    frame = _periodic_frame(length=12)
    with pytest.raises(SeriesTooShortError, match=r"'s0' has 12 observations.*at least 28"):
        evaluate_forecast(frame, horizon=4, season_length=1, config=NeuralConfig(input_window=16))


def test_user_frame_validation() -> None:
    raw = pd.DataFrame({"sku": ["a", "a"], "when": ["2020-01-01", "2020-01-08"], "units": ["3", "x"]})
    with pytest.raises(DataError, match="'units' must be numeric"):
        to_series_frame(raw, "sku", "when", "units")
    with pytest.raises(DataError, match=r"lacks column\(s\) \['qty'\]"):
        to_series_frame(raw, "sku", "when", "qty")
