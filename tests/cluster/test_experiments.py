"""The experiment store on a real SQLite file: definitions, sticky assignment, exposures, one outcome per request,
conflicts, concurrent writers and a restart (a new store object on the same file sees everything)."""

from __future__ import annotations

import hashlib
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from cluster.errors import ExperimentConflictError, ExperimentError, ForbiddenError, NotFoundError
from cluster.experiment_simulation import clopper_pearson
from cluster.experiment_stats import Decision, OutcomeKind, StopRule
from cluster.experiments import Experiment, ExperimentStatus, ExperimentStore, ExperimentTarget, assign


def _chat(name: str = "reply-modes", **kwargs: object) -> Experiment:
    return Experiment.define(name, "chat", ["serial", "fusion"], **kwargs)  # type: ignore[arg-type]


def test_definitions_are_checked_with_the_value_and_what_to_send() -> None:
    with pytest.raises(ExperimentError, match="two different chat modes"):
        Experiment.define("x", "chat", ["serial", "serial"])
    with pytest.raises(ExperimentError, match="recommend modes out of \\['graph', 'parallel', 'fusion'\\]"):
        Experiment.define("x", "recommend", ["graph", "serial"])
    with pytest.raises(ExperimentError, match="unknown target 'price'"):
        Experiment.define("x", "price", ["a", "b"])
    with pytest.raises(ExperimentError, match=r"split .* in 1\.\.99, got 0"):
        _chat(split=0)
    with pytest.raises(ExperimentError, match="experiment name 'a b'"):
        Experiment.define("a b", "chat", ["serial", "fusion"])
    with pytest.raises(ExperimentError, match="unknown outcome 'ratio'"):
        _chat(outcome="ratio")


def test_assignment_is_a_stable_hash_with_the_configured_split() -> None:
    # Prepare: the bucket computed independently from the documented rule
    units = [f"customer:{i}" for i in range(5000)]

    def bucket(unit: str) -> int:
        return int(hashlib.sha256(f"split-test\x1f{unit}".encode()).hexdigest()[:16], 16) % 100

    # Execute
    arms = [assign("split-test", unit, 30) for unit in units]

    # Assert
    assert arms == [1 if bucket(u) < 30 else 0 for u in units]
    low, high = clopper_pearson(sum(arms), len(arms), confidence=0.999)
    assert low <= 0.30 <= high
    assert [assign("split-test", u, 30) for u in units] == arms  # the same on every call
    assert assign("another-name", "customer:1", 50) in (0, 1)


def test_one_running_experiment_per_target_and_unique_names(tmp_path: Path) -> None:
    store = ExperimentStore(tmp_path / "experiments.sqlite")
    store.start(_chat())

    with pytest.raises(ExperimentConflictError, match="exists already"):
        store.start(Experiment.define("reply-modes", "recommend", ["graph", "fusion"]))
    with pytest.raises(ExperimentConflictError, match="'reply-modes' is running on chat; stop it first"):
        store.start(_chat("second"))
    store.start(Experiment.define("recs", "recommend", ["graph", "parallel"]))  # another target is free

    stopped = store.stop("reply-modes")
    assert stopped.status is ExperimentStatus.STOPPED and stopped.stopped_at is not None
    assert store.stop("reply-modes").stopped_at == stopped.stopped_at  # stopping twice changes nothing
    store.start(_chat("second"))
    assert store.running(ExperimentTarget.CHAT) is not None
    assert [e.name for e in store.list()] == ["second", "recs", "reply-modes"]
    with pytest.raises(NotFoundError, match="no experiment named 'nope'"):
        store.get("nope")


def test_outcomes_are_kept_once_per_request_and_checked_against_the_kind(tmp_path: Path) -> None:
    store = ExperimentStore(tmp_path / "experiments.sqlite")
    binary = store.start(_chat())
    arm = store.enroll(binary, "req-1", "customer:12001")
    assert arm == binary.assign("customer:12001")

    first = store.record_outcome("req-1", True)
    assert (first.experiment, first.arm, first.value, first.replayed) == ("reply-modes", arm.name, 1.0, False)
    assert store.record_outcome("req-1", True).replayed is True  # the same outcome again: idempotent
    with pytest.raises(ExperimentConflictError, match="already has the outcome 1"):
        store.record_outcome("req-1", False)
    store.enroll(binary, "req-2", "session:s-9")
    with pytest.raises(ExperimentConflictError, match="binary outcomes: send true or false, not 1"):
        store.record_outcome("req-2", 1)
    with pytest.raises(NotFoundError, match="'req-unknown' was not enrolled"):
        store.record_outcome("req-unknown", True)

    numeric = store.start(Experiment.define("basket", "recommend", ["graph", "fusion"], outcome="numeric"))
    store.enroll(numeric, "req-3", "customer:12002")
    with pytest.raises(ExperimentConflictError, match="numeric outcomes: send a finite number, not True"):
        store.record_outcome("req-3", True)
    assert store.record_outcome("req-3", 23.5).value == 23.5


def test_feedback_on_a_merchants_answer_comes_from_that_merchant_or_an_operator(tmp_path: Path) -> None:
    store = ExperimentStore(tmp_path / "experiments.sqlite")
    experiment = store.start(_chat())
    store.enroll(experiment, "req-a", "customer:12001", "acme")
    store.enroll(experiment, "req-b", "customer:12002", "acme")
    store.enroll(experiment, "req-open", "customer:12003")  # answered while the cluster had no keys

    with pytest.raises(ForbiddenError, match="'req-a' was answered for another merchant"):
        store.record_outcome("req-a", True, "globex")
    assert store.record_outcome("req-a", True, "acme").replayed is False  # the refused one left nothing behind
    assert store.record_outcome("req-b", False, "ops", admin=True).value == 0.0
    assert store.record_outcome("req-open", True, "globex").replayed is False


def test_a_store_written_before_exposures_named_their_merchant_opens_with_its_data(tmp_path: Path) -> None:
    # Prepare: the file as an older store left it, exposures without a merchant column
    path = tmp_path / "experiments.sqlite"
    store = ExperimentStore(path)
    experiment = store.start(_chat())
    store.close()
    with sqlite3.connect(path) as db:
        db.execute("DROP TABLE exposures")
        db.execute(
            "CREATE TABLE exposures (request_id TEXT PRIMARY KEY, experiment TEXT NOT NULL, arm INTEGER NOT NULL, "
            "unit TEXT NOT NULL, at REAL NOT NULL)"
        )
        db.execute("INSERT INTO exposures VALUES ('req-old', 'reply-modes', 0, 'customer:12001', 1.0)")

    # Execute
    reopened = ExperimentStore(path)
    reopened.enroll(experiment, "req-new", "customer:12002", "acme")

    # Assert
    assert reopened.record_outcome("req-old", True, "acme").replayed is False
    with pytest.raises(ForbiddenError):
        reopened.record_outcome("req-new", True, "globex")


def test_a_new_store_on_the_same_file_sees_everything_and_reports_alike(tmp_path: Path) -> None:
    # Prepare: 400 customers, B resolves more often
    path = tmp_path / "experiments.sqlite"
    store = ExperimentStore(path)
    experiment = store.start(_chat(rule=StopRule(min_samples=20)))
    rng = np.random.default_rng(3)
    for i in range(400):
        arm = store.enroll(experiment, f"req-{i}", f"customer:{i}")
        store.record_outcome(f"req-{i}", bool(rng.random() < (0.8 if arm.label == "B" else 0.3)))
    before = store.report("reply-modes")

    # Execute: what a restarted replica does
    again = ExperimentStore(path)

    # Assert
    assert again.get("reply-modes") == experiment
    after = again.report("reply-modes")
    assert after == before
    assert sum(after.exposures) == 400
    assert after.analysis.arms[0].n + after.analysis.arms[1].n == 400
    assert after.analysis.decision is Decision.B_BETTER
    assert after.to_dict()["exposures"] == {"A: serial": after.exposures[0], "B: fusion": after.exposures[1]}


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "experiments.sqlite"
    experiment = ExperimentStore(path).start(_chat(outcome="numeric"))

    def replica(index: int) -> None:
        store = ExperimentStore(path)  # each writer its own store object, as each replica has
        for i in range(50):
            rid = f"r{index}-{i}"
            store.enroll(experiment, rid, f"customer:{index * 1000 + i}")
            store.record_outcome(rid, float(i))

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(replica, range(4)))

    report = ExperimentStore(path).report("reply-modes")
    assert sum(report.exposures) == 200
    assert report.analysis.arms[0].n + report.analysis.arms[1].n == 200
    assert report.analysis.outcome is OutcomeKind.NUMERIC
