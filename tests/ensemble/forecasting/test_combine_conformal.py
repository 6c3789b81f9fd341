from __future__ import annotations

import numpy as np
import pytest

from ensemble.forecasting import ConformalBand, Member, choose_combination


def test_combination_is_chosen_on_validation_and_falls_back_per_series() -> None:
    # Prepare: 2 series, 1 validation window of 2 steps, scale 1. LightGBM is exact on series 0 and off by 4
    # on series 1; AutoETS is off by 1 on both; seasonal naive off by 3 on both.
    actual = np.array([[[10.0, 10.0]], [[20.0, 20.0]]])  # (n=2, V=1, h=2)
    points = {
        Member.LIGHTGBM: np.array([[[10.0, 10.0]], [[24.0, 24.0]]]),
        Member.AUTO_ETS: np.array([[[11.0, 11.0]], [[21.0, 21.0]]]),
        Member.SEASONAL_NAIVE: np.array([[[13.0, 13.0]], [[23.0, 23.0]]]),
    }
    scales = np.ones((2, 1))
    # Execute
    combination, served = choose_combination(points, actual, scales)
    # Assert: pooled MASE lightgbm 2, auto_ets 1, naive 3; mean(auto_ets, lightgbm) = 10.5 / 22.5 -> 0.5 / 2.5
    # = 1.5; median of the three = 11 / 23 -> 1 / 3 = 2. AutoETS alone wins (1.0) and is the best baseline, so
    # no series falls back.
    assert combination.members == (Member.AUTO_ETS,)
    assert combination.fallback == {}
    np.testing.assert_allclose(served, points[Member.AUTO_ETS])


def test_series_worse_than_the_best_baseline_is_served_by_it() -> None:
    # Prepare: 3 series; LightGBM exact on series 0 and 1, off by 6 on series 2; AutoETS off by 2 everywhere.
    actual = np.zeros((3, 1, 1))
    points = {
        Member.LIGHTGBM: np.array([[[0.0]], [[0.0]], [[6.0]]]),
        Member.AUTO_ETS: np.array([[[2.0]], [[2.0]], [[2.0]]]),
    }
    # Execute: pooled MASE lightgbm (0 + 0 + 6) / 3 = 2, auto_ets 2, their mean [1, 1, 4] -> 2: the tie keeps
    # the first-ranked candidate, LightGBM
    combination, served = choose_combination(points, actual, np.ones((3, 1)))
    # Assert: series 2 (6 > 2) is served by AutoETS, the best (only) baseline
    assert combination.members == (Member.LIGHTGBM,)
    assert combination.fallback == {2: Member.AUTO_ETS}
    np.testing.assert_allclose(served[:, 0, 0], [0.0, 0.0, 2.0])
    assert combination.validation_mase == pytest.approx(2.0 / 3.0)


def test_conformal_band_uses_finite_sample_ranks() -> None:
    # Prepare: 19 scores 1..19 at one step (n=19): ranks floor(20 * 0.1) = 2 and ceil(20 * 0.9) = 18
    errors = np.arange(1.0, 20.0).reshape(19, 1, 1)
    point = np.zeros((19, 1, 1))
    # Execute
    band = ConformalBand.fit(point, errors, np.ones((19, 1)))
    lower, upper = band.apply(np.array([[100.0]]), np.array([2.0]), nonnegative=True)
    # Assert: quantiles 2 and 18 scaled by 2 around 100; clipped at the point (2 > 0 so lower is the point)
    assert band.lower[0] == pytest.approx(2.0) and band.upper[0] == pytest.approx(18.0)
    assert lower[0, 0] == pytest.approx(100.0) and upper[0, 0] == pytest.approx(136.0)


def test_conformal_band_covers_about_80_percent_of_exchangeable_errors() -> None:
    # Prepare: calibration and test errors drawn from one distribution, 400 series x 3 windows x 2 steps
    rng = np.random.default_rng(0)
    calibration = rng.standard_t(4, size=(400, 3, 2))
    test = rng.standard_t(4, size=(4000, 2))
    band = ConformalBand.fit(np.zeros_like(calibration), calibration, np.ones((400, 3)))
    # Execute
    lower, upper = band.apply(np.zeros((4000, 2)), np.ones(4000), nonnegative=False)
    # Assert: within 3 points of 0.80
    assert abs(float(np.mean((test >= lower) & (test <= upper))) - 0.8) < 0.03
