from __future__ import annotations

import math

import numpy as np
import pytest

from ensemble.errors import DataError
from ensemble.forecasting import mase, pinball_loss, reorder_point, smape
from ensemble.forecasting.reorder import conformal_reorder


def test_mase_hand_computed() -> None:
    # Prepare: in-sample naive (season 1) errors |2-1|,|4-2|,|3-4| -> mean 4/3
    history = np.array([1.0, 2.0, 4.0, 3.0])
    actual, forecast = np.array([5.0, 1.0]), np.array([3.0, 2.0])
    # Execute
    value = mase(actual, forecast, history, season_length=1)
    # Assert: MAE 1.5 / (4/3)
    assert value == pytest.approx(1.5 / (4 / 3))


def test_smape_hand_computed_and_zero_over_zero() -> None:
    assert smape(np.array([100.0, 0.0]), np.array([50.0, 0.0])) == pytest.approx((200 * 50 / 150 + 0) / 2)


def test_pinball_loss_hand_computed() -> None:
    # y - f = [2, -1]; q = 0.9: 0.9*2 = 1.8 and 0.1*1 = 0.1 -> mean 0.95
    assert pinball_loss(np.array([3.0, 0.0]), np.array([1.0, 1.0]), 0.9) == pytest.approx(0.95)


def test_reorder_point_hand_computed() -> None:
    # Prepare: constant weekly P50 = 100, P10 = 100 - 1.2816*10, P90 = 100 + 1.2816*10 -> weekly sd 10
    z90 = 1.2815515655446004
    quantiles = {0.1: [100 - z90 * 10] * 6, 0.5: [100.0] * 6, 0.9: [100 + z90 * 10] * 6}
    # Execute: lead time 4 weeks, 95 % service, 300 on hand
    suggestion = reorder_point(quantiles, lead_time_weeks=4, service_level=0.95, on_hand=300)
    # Assert: 400 + 1.6449 * sqrt(4 * 100) = 432.9 -> 433; order up to 433 + 100 (one review week) - 300
    expected_point = 400 + 1.6448536269514722 * 20
    assert suggestion.reorder_point == math.ceil(expected_point)
    assert suggestion.order_quantity == math.ceil(expected_point + 100 - 300)
    assert suggestion.safety_stock == pytest.approx(1.6448536269514722 * 20)
    assert "lead time" in suggestion.explanation


def test_reorder_point_no_order_when_stock_is_high() -> None:
    quantiles = {0.1: [8.0] * 4, 0.5: [10.0] * 4, 0.9: [12.0] * 4}
    assert reorder_point(quantiles, 2, 0.9, on_hand=1000).order_quantity == 0


def test_reorder_point_rejects_short_forecast() -> None:
    with pytest.raises(DataError, match="cover"):
        reorder_point({0.1: [1.0], 0.5: [2.0], 0.9: [3.0]}, lead_time_weeks=2, service_level=0.9, on_hand=0)


def test_expected_fill_rate_hand_computed() -> None:
    # Prepare: weekly P50 100, sd 10 (as above); lead time 4, review 1 -> protection period 5 weeks:
    # mean 500, sigma sqrt(5) * 10; order-up-to = 400 + z * 20 + 100
    z90 = 1.2815515655446004
    quantiles = {0.1: [100 - z90 * 10] * 6, 0.5: [100.0] * 6, 0.9: [100 + z90 * 10] * 6}
    # Execute
    suggestion = reorder_point(quantiles, lead_time_weeks=4, service_level=0.95, on_hand=0)
    # Assert: k = (S - 500) / sigma, fill = 1 - sigma G(k) / 100 with G(k) = phi(k) - k (1 - Phi(k))
    z = 1.6448536269514722
    sigma = math.sqrt(5) * 10
    k = (z * 20) / sigma
    phi = math.exp(-k * k / 2) / math.sqrt(2 * math.pi)
    tail = 0.5 * math.erfc(k / math.sqrt(2))
    expected = 1 - sigma * (phi - k * tail) / 100
    assert suggestion.expected_fill_rate == pytest.approx(expected)
    assert suggestion.service_level == 0.95
    assert suggestion.order_up_to_level == pytest.approx(400 + z * 20 + 100)
    assert "fill rate" in suggestion.explanation


def test_conformal_reorder_hand_computed() -> None:
    # Prepare: point 10 a week over 4 weeks; 9 validation error rows, row k has error k - 5 every week
    # (k = 1..9), scale 2. Lead time 2: error sums 2 (k - 5); cover (3 weeks): 3 (k - 5).
    errors = np.array([[k - 5.0] * 4 for k in range(1, 10)])
    # Execute: service 0.8 -> rank ceil(10 * 0.8) = 8 of 9 -> k = 8, error 3
    suggestion = conformal_reorder([10.0] * 4, errors, 2.0, lead_time_weeks=2, service_level=0.8, on_hand=25)
    # Assert: reorder point 20 + 2 x 2 x 3 = 32; level 30 + 2 x 3 x 3 = 48; order 48 - 25 = 23
    assert suggestion.reorder_point == 32
    assert suggestion.order_up_to_level == pytest.approx(48.0)
    assert suggestion.order_quantity == 23
    # Cycle k: review demand 10 + 2 (3 - 2)(k - 5); only k = 9 exceeds the level: short min(2 (12 - 9), 18) = 6
    # of 18, so that cycle serves 2/3 and the other eight serve all
    assert suggestion.expected_fill_rate == pytest.approx((8 + 2 / 3) / 9)
    assert "validation forecasts" in suggestion.explanation


def test_conformal_reorder_rejects_errors_of_the_wrong_shape() -> None:
    with pytest.raises(DataError, match="errors must be"):
        conformal_reorder([1.0] * 4, np.zeros((3, 2)), 1.0, lead_time_weeks=2, service_level=0.9, on_hand=0)
