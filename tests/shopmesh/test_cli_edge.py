"""`shopmesh edge export` fits the escalation threshold on the validation split; `edge publish` finds that bundle."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ensemble.datasets.seeds import bundled_intent_splits
from ensemble.members.intent import IntentModel
from ensemble.members.intent_artifact import save_intent
from ensemble.registry import Lineage, Registry
from shopmesh.cli import main
from shopmesh.config import Workspace


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    """A workspace whose registry holds one random-weight intent version, intent:v0001."""
    ws = Workspace(tmp_path / "ws")
    model = IntentModel.tiny(["track_order", "cancel_order", "get_refund"], seed=0)
    save_intent(Registry(ws.registry), model, metrics={}, lineage=Lineage(None, "test", "central"))
    return ws


def test_export_fits_the_threshold_against_the_cluster_answers_and_publish_finds_the_bundle(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    # Execute
    exported = main(["--home", str(workspace.root), "edge", "export", "--version", "v0001"])
    summary = json.loads(capsys.readouterr().out)
    published = main(["--home", str(workspace.root), "edge", "publish", "1", "--rollout", "20"])
    rollout = json.loads(capsys.readouterr().out)

    # Assert: fitted on every validation text against the version's own answers (no ensemble built on it)
    fit = summary["threshold_fit"]
    assert exported == 0 and published == 0
    assert fit["teacher"] == "intent:v0001 (torch fp32)"
    assert fit["n_texts"] == len(bundled_intent_splits().val)
    assert fit["disagreement"] <= fit["max_loss"] == 0.005
    assert summary["confidence_threshold"] == fit["threshold"]
    assert (rollout["target"], rollout["percent"], rollout["stable"]) == ("intent:v0001", 20, None)
    assert Path(rollout["catalog"]) == workspace.root / "cluster-state" / "edge-bundles"


def test_export_with_a_fixed_threshold_stores_it_without_a_fit(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    # Execute
    code = main(["--home", str(workspace.root), "edge", "export", "--threshold", "0.8"])

    # Assert
    summary = json.loads(capsys.readouterr().out)
    assert code == 0 and summary["confidence_threshold"] == 0.8 and summary["threshold_fit"] is None
