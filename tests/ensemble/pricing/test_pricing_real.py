from __future__ import annotations

from pathlib import Path

import pytest

from ensemble.datasets import shared_data_dir
from ensemble.pricing import evaluate_pricing


@pytest.mark.integration
def test_evaluate_pricing_on_dominicks(tmp_path: Path) -> None:
    path = shared_data_dir() / "dominicks-orange-juice" / "orangeJuice_yx.csv.gz"
    if not path.exists():
        pytest.skip(f"Dominick's data not found at {path}; set SHOPMESH_SHARED_DATA to the shared data dir")
    weekly: dict[str, tuple[int, ...]] = {}
    report = evaluate_pricing(
        weeks=20, seed=0, on_weekly_profit=lambda profit: weekly.update({k: v.shape for k, v in profit.items()})
    )
    assert weekly == {"historical": (20,), "greedy": (20,), "thompson": (20,), "oracle": (20,)}
    assert set(report["policies"]) == {"historical", "greedy", "thompson", "oracle"}
    assert report["policies"]["oracle"]["pct_of_oracle"] == pytest.approx(100.0)
    assert report["guardrail_violations"] == {"greedy": 0, "thompson": 0, "oracle": 0}
