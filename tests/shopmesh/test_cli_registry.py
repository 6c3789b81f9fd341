"""``shopmesh registry show``: a version's metrics, lineage and per-merchant epsilon ledger; clear errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from ensemble.members.intent import IntentModel
from ensemble.members.intent_artifact import save_intent
from ensemble.registry import Lineage, Registry
from federation.privacy import PrivacyLedger, RoundRelease
from shopmesh.cli import main


def _publish_private_version(home: Path) -> tuple[str, dict[str, object]]:
    ledger = PrivacyLedger(delta=1e-5)
    ledger.set_budget(101, 9.5)
    ledger.record_release(RoundRelease(1, 1.2, 0.5, 0.5), eligible=[101, 202], participants=[101])
    ledger.exclude(2, 202, "privacy budget: epsilon would reach 12 > dp-max-epsilon 10")
    privacy = ledger.to_dict() | {"mode": "server-fixed", "noise_multiplier": 1.2}
    lineage = Lineage(
        parent=None,
        data_fingerprint="sha256:test",
        method="federated",
        details={"privacy": privacy, "rounds": 2, "round_metrics": [{"round": 1}]},
    )
    model = IntentModel.tiny(["track_order", "cancel_order"], seed=0)
    version = save_intent(Registry(home / "registry"), model, metrics={"accuracy": 0.75}, lineage=lineage)
    return version.id, privacy


def test_show_prints_metrics_lineage_and_the_epsilon_ledger_as_a_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Prepare
    home = tmp_path / "home"
    version_id, privacy = _publish_private_version(home)
    epsilon = privacy["merchants"]["101"]["epsilon"]  # type: ignore[index]

    # Execute
    code = main(["--home", str(home), "registry", "show", version_id])

    # Assert
    out = capsys.readouterr().out
    assert code == 0
    assert f"version     {version_id}" in out and "accuracy: 0.75" in out and "method: federated" in out
    lines = out.splitlines()
    header = next(line for line in lines if line.startswith("merchant"))
    assert header.split()[:3] == ["merchant", "epsilon", "delta"]
    row_101 = next(line for line in lines if line.startswith("101 "))
    assert row_101.split()[:4] == ["101", f"{epsilon:.4g}", "1e-05", "9.5"]
    row_202 = next(line for line in lines if line.startswith("202 "))
    assert "round 2: privacy budget" in row_202
    assert "round_metrics" not in out  # only with --rounds


def test_show_json_is_one_object_with_the_ledger(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home = tmp_path / "home"
    version_id, privacy = _publish_private_version(home)
    assert main(["--home", str(home), "registry", "show", version_id, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["version"] == version_id
    assert shown["lineage"]["details"]["privacy"] == privacy


@pytest.mark.parametrize(
    ("version", "message"),
    [("intent:v0042", r"intent:v0042 is not in the registry .*available: v0001"), ("v0001", "MEMBER:VERSION")],
)
def test_show_an_unknown_version_is_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], version: str, message: str
) -> None:
    home = tmp_path / "home"
    _publish_private_version(home)
    assert main(["--home", str(home), "registry", "show", version]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert re.search(message, err)
