"""The experiment routes through the ingress's FastAPI app (its error handlers included) on a real store file,
the enrolment rule, and the ``shopmesh experiment`` commands on a state directory."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cluster.auth import KeyCache, key_cache
from cluster.experiment_definition import Experiment, ExperimentTarget
from cluster.experiment_routes import enrolment, experiment_store
from cluster.experiment_stats import StopRule
from cluster.experiments import ExperimentStore
from cluster.ingress import api
from cluster.tenants import TenantStore
from shopmesh.cli import main


@pytest.fixture()
def store(tmp_path: Path) -> Iterator[ExperimentStore]:
    store = ExperimentStore(tmp_path / "experiments.sqlite")
    keys = KeyCache(TenantStore.in_state_dir(tmp_path))  # no key: the routes are open
    api.dependency_overrides[experiment_store] = lambda: store
    api.dependency_overrides[key_cache] = lambda: keys
    try:
        yield store
    finally:
        api.dependency_overrides.pop(experiment_store, None)
        api.dependency_overrides.pop(key_cache, None)


@pytest.fixture()
def client(store: ExperimentStore) -> TestClient:
    return TestClient(api, raise_server_exceptions=False)


def test_feedback_is_recorded_once_replayed_alike_and_refused_when_changed(
    client: TestClient, store: ExperimentStore
) -> None:
    # Prepare
    experiment = store.start(Experiment.define("reply-modes", "chat", ["serial", "fusion"]))
    arm = store.enroll(experiment, "req-1", "customer:12001")

    # Execute / Assert
    first = client.post("/v1/feedback", json={"request_id": "req-1", "outcome": True})
    assert first.status_code == 200, first.text
    assert first.json() == {
        "request_id": "req-1",
        "experiment": "reply-modes",
        "arm": arm.name,
        "outcome": 1.0,
        "replayed": False,
    }
    assert client.post("/v1/feedback", json={"request_id": "req-1", "outcome": True}).json()["replayed"] is True
    changed = client.post("/v1/feedback", json={"request_id": "req-1", "outcome": False})
    assert changed.status_code == 409
    assert "already has the outcome 1" in changed.json()["detail"]

    store.enroll(experiment, "req-2", "customer:12002")
    wrong_kind = client.post("/v1/feedback", json={"request_id": "req-2", "outcome": 3.5})
    assert wrong_kind.status_code == 409
    assert "records binary outcomes: send true or false" in wrong_kind.json()["detail"]

    unknown = client.post("/v1/feedback", json={"request_id": "never-seen", "outcome": True})
    assert unknown.status_code == 404
    assert unknown.json()["field"] == "request_id" and "was not enrolled" in unknown.json()["detail"]

    malformed = client.post("/v1/feedback", json={"request_id": "req-2", "outcome": "yes"})
    assert malformed.status_code == 422
    assert "outcome" in malformed.json()["message"]


def test_the_report_and_the_list_say_counts_tests_and_decision(client: TestClient, store: ExperimentStore) -> None:
    # Prepare: B resolves everything, A nothing
    experiment = store.start(
        Experiment.define("reply-modes", "chat", ["serial", "fusion"], rule=StopRule(min_samples=10))
    )
    for i in range(80):
        arm = store.enroll(experiment, f"req-{i}", f"customer:{i}")
        store.record_outcome(f"req-{i}", arm.label == "B")
    store.start(Experiment.define("recs", "recommend", ["graph", "fusion"], outcome="numeric"))

    # Execute
    report = client.get("/v1/experiments/reply-modes")
    listing = client.get("/v1/experiments")

    # Assert
    assert report.status_code == 200, report.text
    body = report.json()
    a, b = body["analysis"]["arms"]
    assert (a["arm"], b["arm"]) == ("A: serial", "B: fusion")
    assert a["n"] + b["n"] == 80 and a["mean"] == 0.0 and b["mean"] == 1.0
    assert body["analysis"]["decision"] == "arm B better"
    assert body["analysis"]["fixed_horizon"]["test"] == "two-proportion z test (pooled)"
    assert body["analysis"]["sequential"]["p_value"] <= 0.05
    assert "10 outcomes" in body["analysis"]["stop_rule"]
    assert sum(body["exposures"].values()) == 80
    assert listing.status_code == 200
    empty = next(e for e in listing.json()["experiments"] if e["name"] == "recs")
    assert empty["analysis"]["decision"] == "continue"
    assert empty["analysis"]["arms"][0]["mean"] is None  # no outcomes yet: null, never NaN
    assert client.get("/v1/experiments/nope").status_code == 404


def test_a_request_is_enrolled_only_with_a_unit_and_without_its_own_mode(store: ExperimentStore) -> None:
    assert asyncio.run(enrolment(store, ExperimentTarget.CHAT, "customer:1", False)) is None  # nothing running
    experiment = store.start(Experiment.define("reply-modes", "chat", ["serial", "fusion"]))

    enrolled = asyncio.run(enrolment(store, ExperimentTarget.CHAT, "session:s-1", False))
    assert enrolled is not None and enrolled.arm == experiment.assign("session:s-1")
    assert asyncio.run(enrolment(store, ExperimentTarget.CHAT, None, False)) is None
    assert asyncio.run(enrolment(store, ExperimentTarget.CHAT, "customer:1", True)) is None
    assert asyncio.run(enrolment(store, ExperimentTarget.RECOMMEND, "customer:1", False)) is None


def test_the_commands_start_report_and_stop_on_a_state_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = str(tmp_path / "state")
    home = ["--home", str(tmp_path / "home")]

    assert main([*home, "experiment", "start", "reply-modes", "--target", "chat", "--arms", "serial,fusion",
                 "--split", "30", "--min-samples", "20", "--state-dir", state]) == 0  # fmt: skip
    started = json.loads(capsys.readouterr().out)
    assert started["split"] == 30 and started["arms"][1]["value"] == "fusion"
    assert "20 outcomes" in started["stop_rule"]

    assert main([*home, "experiment", "start", "again", "--target", "chat", "--arms", "serial,parallel",
                 "--state-dir", state]) == 2  # fmt: skip
    assert "'reply-modes' is running on chat; stop it first" in capsys.readouterr().err
    assert main([*home, "experiment", "start", "bad", "--target", "chat", "--arms", "serial,graph",
                 "--state-dir", state]) == 2  # fmt: skip
    assert "arms must be two different chat modes" in capsys.readouterr().err

    assert main([*home, "experiment", "report", "reply-modes", "--state-dir", state]) == 0
    assert json.loads(capsys.readouterr().out)["analysis"]["decision"] == "continue"
    assert main([*home, "experiment", "stop", "reply-modes", "--state-dir", state]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "stopped"
    assert main([*home, "experiment", "list", "--state-dir", state]) == 0
    assert json.loads(capsys.readouterr().out)["experiments"][0]["status"] == "stopped"
    assert main([*home, "experiment", "report", "nope", "--state-dir", state]) == 2
    assert "no experiment named 'nope'" in capsys.readouterr().err
