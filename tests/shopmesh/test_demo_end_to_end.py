"""``shopmesh demo --no-serve`` run as a user would: every tier for real, then a clean exit."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from ensemble.registry import Registry

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.mark.timeout(1800)
def test_demo_runs_every_tier_and_exits_cleanly(tmp_path: Path, cli: Any, free_port: int) -> None:
    # Execute
    result = cli("demo", "--no-serve", "--port", str(free_port), home=tmp_path, timeout=1700)
    # Assert
    out = result.stdout
    assert result.returncode == 0, out[-4000:] + result.stderr[-4000:]
    assert "Summary" in out
    for stage in (
        "knowledge graph",
        "central training",
        "federated LoRA rounds",
        "intent ensemble",
        "reply, forecaster and pricer",
        "vision member",
        "edge export",
        "Ray Serve",
        "edge SDK",
    ):
        assert re.search(rf"\[\d/9\] [^\n]*{re.escape(stage)}[^\n]*: done in", out), f"stage {stage!r} did not finish"
    accuracy = float(re.search(r"val accuracy (\d\.\d+)", out).group(1))  # type: ignore[union-attr]
    assert accuracy > 0.9
    assert re.search(r"int8 agrees (\d\.\d+)", out)
    assert re.search(r"\d+ (device|cluster)", out), "the edge stage reported no answers"
    versions = Registry(tmp_path / "registry").list("intent")
    assert [v.version for v in versions] == ["v0001", "v0002"]
    lineage = Registry(tmp_path / "registry").load("intent", "v0002").lineage
    assert lineage.method == "federated" and lineage.parent == "intent:v0001"
    ensemble = Registry(tmp_path / "registry").load("intent-ensemble", "v0001").lineage
    assert ensemble.parent == "intent:v0002"
    # every member the cluster serves has a trained version (the pricer where Dominick's data is at hand)
    assert Registry(tmp_path / "registry").list("reply") and Registry(tmp_path / "registry").list("forecaster")
    # the cluster holds the demo's key, so /v1 answers only calls that send it (as the probes and the device do)
    assert re.search(r"demo API key \(merchant demo, admin; shown once\): smk_[0-9a-f]{8}_\S{43}\n", out)
    assert re.search(r"/v1/forecast \S+ -> 200 \(4 weeks\)", out)
    assert re.search(r"/v1/vision Orange_001\.jpg -> 200: \S+ \(", out), "the cluster did not classify the photo"
    assert Registry(tmp_path / "registry").list("vision")
    # the device classifies a bundled photo with the bundle's photo model, and says where it was answered
    assert re.search(r"photo model vision:v\d+ [\d.]+ MB int8", out), "the bundle carries no photo model"
    assert re.search(r"photo Orange_001\.jpg: (answered on the device|escalated to the cluster): \S+ \(", out)
    assert "serving intent intent:v0002" in out
