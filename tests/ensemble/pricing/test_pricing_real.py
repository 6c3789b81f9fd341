from __future__ import annotations

from pathlib import Path

import pytest

from ensemble.datasets import shared_data_dir
from ensemble.pricing import check_demand_model, evaluate_pricing, evaluate_pricing_seeds


def _require_dominicks() -> None:
    path = shared_data_dir() / "dominicks-orange-juice" / "orangeJuice_yx.csv.gz"
    if not path.exists():
        pytest.skip(f"Dominick's data not found at {path}; set SHOPMESH_SHARED_DATA to the shared data dir")


@pytest.mark.integration
def test_evaluate_pricing_on_dominicks(tmp_path: Path) -> None:
    _require_dominicks()
    weekly: dict[str, tuple[int, ...]] = {}
    report = evaluate_pricing(
        weeks=20, seed=0, on_weekly_profit=lambda profit: weekly.update({k: v.shape for k, v in profit.items()})
    )
    assert weekly == {"historical": (20,), "greedy": (20,), "thompson": (20,), "oracle": (20,)}
    assert set(report["policies"]) == {"historical", "greedy", "thompson", "oracle"}
    assert report["policies"]["oracle"]["pct_of_oracle"] == pytest.approx(100.0)
    assert report["guardrail_violations"] == {"greedy": 0, "thompson": 0, "oracle": 0}


@pytest.mark.integration
def test_seeded_pricing_with_reacting_competitors_on_dominicks() -> None:
    _require_dominicks()
    report = evaluate_pricing_seeds(seeds=2, weeks=12, competitor_reaction=0.5)
    thompson = report["policies"]["thompson"]["pct_of_oracle"]
    assert thompson["low"] <= thompson["mean"] <= thompson["high"]
    assert 50.0 < thompson["mean"] < 100.0
    assert len(report["policies"]["thompson"]["per_seed"]) == 2
    assert report["guardrail_violations"] == {"greedy": 0, "thompson": 0, "oracle": 0}


@pytest.mark.integration
def test_demand_model_beats_the_series_mean_on_held_out_odd_store_weeks() -> None:
    _require_dominicks()
    report = check_demand_model()
    assert report["full"]["rmse"] < 0.8 * report["series_mean"]["rmse"]
    assert set(report) >= {"full", "no_cross_price", "series_mean", "full_by_brand", "split"}
