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
    report = evaluate_pricing(weeks=20, seed=0, plot_path=tmp_path / "regret.png")
    assert (tmp_path / "regret.png").stat().st_size > 0
    assert set(report["policies"]) == {"historical", "greedy", "thompson", "oracle"}
    assert report["policies"]["oracle"]["pct_of_oracle"] == pytest.approx(100.0)
    assert report["guardrail_violations"] == {"greedy": 0, "thompson": 0, "oracle": 0}
