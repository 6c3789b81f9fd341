from __future__ import annotations

import pytest
import torch

from ensemble.datasets import load_dominicks, load_online_retail, shared_data_dir
from ensemble.forecasting import NeuralConfig, dominicks_weekly_units, evaluate_forecast, weekly_product_units

torch.set_num_threads(1)


@pytest.mark.integration
def test_online_retail_weekly_units_evaluates() -> None:
    frame = weekly_product_units(load_online_retail(), top_n=20, select_before="2011-10-01")
    report = evaluate_forecast(frame, horizon=8, season_length=1, config=NeuralConfig(input_window=8))
    assert report["series"] == 20
    for model in report["models"].values():
        assert model["mase"] > 0


@pytest.mark.integration
def test_dominicks_learn_even_report_odd() -> None:
    path = shared_data_dir() / "dominicks-orange-juice" / "orangeJuice_yx.csv.gz"
    if not path.exists():
        pytest.skip(f"Dominick's data not found at {path}; set SHOPMESH_SHARED_DATA to the shared data dir")
    rows = load_dominicks()
    frame = dominicks_weekly_units(rows.loc[rows["store"] <= 20])
    ids = frame["unique_id"].unique()
    even = [i for i in ids if int(i.split("-")[0]) % 2 == 0]
    odd = [i for i in ids if int(i.split("-")[0]) % 2 == 1]
    report = evaluate_forecast(frame, 8, 1, NeuralConfig(input_window=8), learn_ids=even, report_ids=odd)
    assert report["series"] == len(odd) and report["learn_series"] == len(even)
    assert report["covariates"] == ["log_price", "deal", "feat"]
