from __future__ import annotations

import pytest

from ensemble.datasets import load_dominicks, load_online_retail, shared_data_dir
from ensemble.forecasting import dominicks_weekly_units, evaluate_forecast, online_retail_frame


@pytest.mark.integration
def test_online_retail_rolling_evaluation_ranks_products_before_the_first_cutoff() -> None:
    # Execute
    report = evaluate_forecast(online_retail_frame(load_online_retail(), top_n=20))
    # Assert: 4 test windows, products chosen on weeks before 2011-03-28 (the first cutoff)
    assert report["protocol"]["series"] == 20
    assert report["protocol"]["first_cutoff"] == "2011-03-28"
    assert len(report["windows"]) == 4
    for model in report["models"].values():
        assert model["mase"] > 0


@pytest.mark.integration
def test_dominicks_learn_even_report_odd() -> None:
    path = shared_data_dir() / "dominicks-orange-juice" / "orangeJuice_yx.csv.gz"
    if not path.exists():
        pytest.skip(f"Dominick's data not found at {path}; set SHOPMESH_SHARED_DATA to the shared data dir")
    rows = load_dominicks()
    frame = dominicks_weekly_units(rows.loc[rows["store"] <= 14])
    ids = frame["unique_id"].unique()
    even = [i for i in ids if int(i.split("-")[0]) % 2 == 0]
    odd = [i for i in ids if int(i.split("-")[0]) % 2 == 1]
    report = evaluate_forecast(frame, learn_ids=even, report_ids=odd)
    protocol = report["protocol"]
    assert protocol["covariates"] == ["log_price", "deal", "feat"]
    assert 0 < protocol["series"] <= len(odd) and 0 < protocol["learn_series"] <= len(even)
