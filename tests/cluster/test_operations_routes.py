"""The console's operations routes without a cluster: ``GET /v1/rollouts`` over a real rollout journal (SQLite)
and ``GET /v1/federation/runs`` over a real registry whose federated versions carry the lineage federation
publishes (:func:`tests.cluster.conftest.federated_lineage`)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from cluster.federation_runs import registry_root
from cluster.federation_runs import router as federation_router
from cluster.rollout_journal import JOURNAL_NAME, ReplicaReport, RolloutJournal
from cluster.rollout_routes import journal_path
from cluster.rollout_routes import router as rollouts_router
from ensemble.registry import Registry
from tests.cluster.conftest import federated_lineage, privacy_ledger, publish_federated_intent, publish_tiny_intent


def _client(state_dir: Path, registry_dir: Path) -> TestClient:
    app = FastAPI()
    app.include_router(rollouts_router)
    app.include_router(federation_router)
    app.dependency_overrides[journal_path] = lambda: state_dir / JOURNAL_NAME
    app.dependency_overrides[registry_root] = lambda: registry_dir
    return TestClient(app)


def test_a_cluster_never_rolled_out_lists_no_member_and_creates_no_journal(tmp_path: Path) -> None:
    client = _client(tmp_path / "state", tmp_path / "registry")

    answer = client.get("/v1/rollouts")

    assert answer.status_code == 200
    assert answer.json() == {"members": []}
    assert not (tmp_path / "state").exists()


def test_rollouts_show_what_serves_the_history_newest_first_and_each_replicas_answer(tmp_path: Path) -> None:
    # Prepare: what `shopmesh rollout intent` and a refused graph rollout leave in the journal
    journal = RolloutJournal.in_state_dir(tmp_path)
    journal.record_served("intent", "intent:v0001", "intent:v0001", "initial")
    journal.record_served("intent", "intent:v0002", "intent:v0002", "rollout")
    journal.report(ReplicaReport("r-1", "b-replica", "intent", "intent:v0002", "intent:v0002", None))
    journal.report(
        ReplicaReport("r-1", "a-replica", "intent", "intent:v0002", "intent:v0002", None),
        ReplicaReport("r-2", "g-replica", "graph", "/graphs/new", "graph:abc", "smoke check failed: no products"),
    )
    client = _client(tmp_path, tmp_path / "registry")

    # Execute
    answer = client.get("/v1/rollouts", params={"limit": 1})

    # Assert
    assert answer.status_code == 200
    members = {m["member"]: m for m in answer.json()["members"]}
    assert sorted(members) == ["graph", "intent"]
    intent = members["intent"]
    assert intent["serving"] == "intent:v0002"
    assert [(h["action"], h["version"]) for h in intent["history"]] == [("rollout", "intent:v0002")]
    assert intent["last_rollout"] == "r-1"
    assert [(r["replica"], r["serving"], r["error"]) for r in intent["replicas"]] == [
        ("a-replica", "intent:v0002", None),
        ("b-replica", "intent:v0002", None),
    ]
    graph = members["graph"]
    assert graph["serving"] is None and graph["history"] == []
    assert graph["replicas"] == [
        {
            "replica": "g-replica",
            "wanted": "/graphs/new",
            "serving": "graph:abc",
            "error": "smoke check failed: no products",
        }
    ]


def test_federation_runs_list_federated_versions_newest_first_with_their_rounds(tmp_path: Path) -> None:
    # Prepare: a central version, two federated runs from it
    registry = Registry(tmp_path / "registry")
    base = publish_tiny_intent(registry, seed=0)
    older = publish_federated_intent(registry, parent=base, accuracy=0.91)
    newer = publish_federated_intent(registry, parent=base, private=True)
    client = _client(tmp_path / "state", registry.root)

    # Execute
    runs = client.get("/v1/federation/runs").json()["runs"]
    latest_only = client.get("/v1/federation/runs", params={"limit": 1}).json()["runs"]

    # Assert: the central version is no run; the newest comes first
    assert [run["version"] for run in runs] == [newer, older]
    assert [run["version"] for run in latest_only] == [newer]
    run = runs[0]
    assert (run["parent"], run["strategy"], run["rounds"], run["participants"], run["num_examples"]) == (
        base,
        "fedavg",
        2,
        2,
        240,
    )
    assert run["validation"] == {"accuracy": 0.93, "macro_f1": 0.92}
    assert run["privacy"] == privacy_ledger().to_dict()
    assert runs[1]["privacy"] is None
    assert run["traffic_ratio"] == pytest.approx(federated_lineage(base).details["traffic"]["ratio"])
    first, second = run["per_round"]
    assert first == {
        "round": 1,
        "participants": 2,
        "failures": 1,
        "accuracy": 0.9,
        "train_loss": 0.5,
        "bytes_sent": 1800,
    }
    assert second["accuracy"] == 0.95 and second["train_loss"] is None and second["bytes_sent"] is None


def test_an_empty_registry_has_no_run_and_a_bad_limit_is_a_422(tmp_path: Path) -> None:
    client = _client(tmp_path / "state", tmp_path / "registry")

    assert client.get("/v1/federation/runs").json() == {"runs": []}
    for path in ("/v1/federation/runs", "/v1/rollouts"):
        refused = client.get(path, params={"limit": 0})
        assert refused.status_code == 422
