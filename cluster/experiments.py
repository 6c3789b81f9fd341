"""A/B experiments kept in the cluster's state directory: definitions, exposures, outcomes and reports.

One SQLite file (``experiments.sqlite``, WAL, a 30 s busy timeout, one writer at a time), three tables:

- ``experiments``: name, target (``chat`` or ``recommend``), the two arms, the outcome kind, the split (the
  percentage of units in arm B), the stop rule (alpha, minimum and maximum sample per arm, minimum detectable
  effect), status (``running``/``stopped``) and times. A partial unique index lets at most one experiment run
  per target, which SQLite enforces whichever process starts it.
- ``exposures``: one row per enrolled request (request id, experiment, arm, unit, time).
- ``outcomes``: at most one per request (request id, value, time). The same outcome sent again for a request
  is idempotent (answered as a replay); a different one is refused (:class:`ExperimentConflictError`, 409).
  Outcomes arrive later: a stopped experiment still takes them for requests it enrolled while running.

Assignment is a hash of the experiment's name and the unit (:mod:`cluster.experiment_definition`). Every
ingress replica on one node opens the same file; every operation is its own connection and transaction, so
replicas, the command line and restarts all see one state. Several
nodes need one shared database instead: SQLite's WAL needs shared memory on one host and must not be used over
a network file system, so a multi-node cluster would put these three tables in a server database (e.g.
PostgreSQL) behind the same :class:`ExperimentStore` methods.
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from cluster.errors import ExperimentConflictError, ExperimentError, ForbiddenError, NotFoundError
from cluster.experiment_definition import (
    Arm,
    ArmKind,
    Experiment,
    ExperimentStatus,
    ExperimentTarget,
    assign,
)
from cluster.experiment_stats import ExperimentAnalysis, OutcomeKind, StopRule, analyse
from cluster.sqlite_store import SqliteStore

__all__ = [
    "EXPERIMENTS_NAME",
    "Arm",
    "ArmKind",
    "Experiment",
    "ExperimentReport",
    "ExperimentStatus",
    "ExperimentStore",
    "ExperimentTarget",
    "Feedback",
    "assign",
]

EXPERIMENTS_NAME = "experiments.sqlite"
MAX_OUTCOME = 1e12  # larger numbers would swamp the sums of squares the tests run on

_SCHEMA = """
CREATE TABLE IF NOT EXISTS experiments (
    name TEXT PRIMARY KEY,
    target TEXT NOT NULL,
    arms TEXT NOT NULL,
    outcome TEXT NOT NULL,
    split INTEGER NOT NULL,
    rule TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at REAL NOT NULL,
    stopped_at REAL
);
CREATE UNIQUE INDEX IF NOT EXISTS one_running_per_target ON experiments (target) WHERE status = 'running';
CREATE TABLE IF NOT EXISTS exposures (
    request_id TEXT PRIMARY KEY,
    experiment TEXT NOT NULL REFERENCES experiments (name),
    arm INTEGER NOT NULL,
    unit TEXT NOT NULL,
    at REAL NOT NULL,
    merchant TEXT
);
CREATE INDEX IF NOT EXISTS exposures_by_experiment ON exposures (experiment, arm);
CREATE TABLE IF NOT EXISTS outcomes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id TEXT NOT NULL UNIQUE REFERENCES exposures (request_id),
    value REAL NOT NULL,
    at REAL NOT NULL
);
"""


@dataclass(frozen=True)
class Feedback:
    """A recorded outcome: for which request, experiment and arm; ``replayed`` when it had come before."""

    request_id: str
    experiment: str
    arm: str
    value: float
    replayed: bool


@dataclass(frozen=True)
class ExperimentReport:
    """An experiment with its exposures per arm (enrolled requests, outcomes or not) and the statistics."""

    experiment: Experiment
    exposures: tuple[int, int]
    analysis: ExperimentAnalysis

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.experiment.to_dict(),
            "exposures": {arm.name: n for arm, n in zip(self.experiment.arms, self.exposures, strict=True)},
            "analysis": self.analysis.to_dict(),
        }


def _rule_text(rule: StopRule) -> str:
    return json.dumps(asdict(rule))


def _row(row: sqlite3.Row) -> Experiment:
    arms = json.loads(row["arms"])
    pair = tuple(Arm(a["label"], ArmKind(a["kind"]), a["value"]) for a in arms)
    return Experiment(
        name=row["name"],
        target=ExperimentTarget(row["target"]),
        arms=(pair[0], pair[1]),
        outcome=OutcomeKind(row["outcome"]),
        split=int(row["split"]),
        rule=StopRule(**json.loads(row["rule"])),
        status=ExperimentStatus(row["status"]),
        created_at=float(row["created_at"]),
        stopped_at=None if row["stopped_at"] is None else float(row["stopped_at"]),
    )


class ExperimentStore(SqliteStore):
    """The ``experiments.sqlite`` file of one cluster's state directory."""

    def __init__(self, path: Path) -> None:
        # with WAL, NORMAL never corrupts the file; a power cut may lose the last commits
        super().__init__(path, _SCHEMA, describe="experiment store", error=ExperimentError, synchronous="NORMAL")
        with self._connect() as db:
            columns = {row["name"] for row in db.execute("PRAGMA table_info(exposures)")}
            if "merchant" not in columns:  # a store written before exposures named their merchant
                db.execute("ALTER TABLE exposures ADD COLUMN merchant TEXT")

    @classmethod
    def in_state_dir(cls, state_dir: Path) -> ExperimentStore:
        return cls(state_dir / EXPERIMENTS_NAME)

    def start(self, experiment: Experiment) -> Experiment:
        """Keep a new running experiment; :class:`ExperimentConflictError` if the name is taken or its target
        already runs one."""
        with self._write() as db:
            if db.execute("SELECT 1 FROM experiments WHERE name = ?", (experiment.name,)).fetchone():
                raise ExperimentConflictError(
                    f"an experiment named {experiment.name!r} exists already; choose another name"
                )
            running = db.execute(
                "SELECT name FROM experiments WHERE target = ? AND status = 'running'", (experiment.target.value,)
            ).fetchone()
            if running:
                raise ExperimentConflictError(
                    f"experiment {running['name']!r} is running on {experiment.target}; stop it first "
                    f"(shopmesh experiment stop {running['name']})"
                )
            db.execute(
                "INSERT INTO experiments (name, target, arms, outcome, split, rule, status, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, 'running', ?)",
                (
                    experiment.name,
                    experiment.target.value,
                    json.dumps(experiment.to_dict()["arms"]),
                    experiment.outcome.value,
                    experiment.split,
                    _rule_text(experiment.rule),
                    experiment.created_at,
                ),
            )
        return experiment

    def stop(self, name: str) -> Experiment:
        """Stop enrolling requests (outcomes of enrolled ones are still taken); stopping twice is a no-op."""
        with self._write() as db:
            found = self._get(db, name)
            if found.status is ExperimentStatus.STOPPED:
                return found
            now = time.time()
            db.execute("UPDATE experiments SET status = 'stopped', stopped_at = ? WHERE name = ?", (now, name))
        return replace(found, status=ExperimentStatus.STOPPED, stopped_at=now)

    def _get(self, db: sqlite3.Connection, name: str) -> Experiment:
        row = db.execute("SELECT * FROM experiments WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise NotFoundError(
                "name", name, f"no experiment named {name!r:.80}; `GET /v1/experiments` lists the experiments"
            )
        return _row(row)

    def get(self, name: str) -> Experiment:
        """One experiment; :class:`NotFoundError` (404) when there is none of that name."""
        with self._connect() as db:
            return self._get(db, name)

    def list(self) -> list[Experiment]:
        """Every experiment, newest first."""
        with self._connect() as db:
            rows = db.execute("SELECT * FROM experiments ORDER BY created_at DESC, name").fetchall()
        return [_row(row) for row in rows]

    def running(self, target: ExperimentTarget) -> Experiment | None:
        """The experiment running on ``target``, if any."""
        with self._connect() as db:
            row = db.execute(
                "SELECT * FROM experiments WHERE target = ? AND status = 'running'", (target.value,)
            ).fetchone()
        return None if row is None else _row(row)

    def enroll(self, experiment: Experiment, request_id: str, unit: str, merchant: str | None = None) -> Arm:
        """Record that request ``request_id`` of ``unit`` was answered by its arm, for ``merchant`` (the caller's
        tenant; ``None`` on a cluster without keys); a request id seen before keeps its first exposure."""
        arm = assign(experiment.name, unit, experiment.split)
        with self._write() as db:
            db.execute(
                "INSERT OR IGNORE INTO exposures (request_id, experiment, arm, unit, at, merchant) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (request_id, experiment.name, arm, unit, time.time(), merchant),
            )
        return experiment.arms[arm]

    def record_outcome(
        self, request_id: str, outcome: bool | float, merchant: str | None = None, *, admin: bool = False
    ) -> Feedback:
        """Keep the outcome of an enrolled request, sent by ``merchant`` (``None`` on a cluster without keys;
        ``admin`` for an operator's key): :class:`NotFoundError` (404) for a request the experiments never
        enrolled; :class:`ForbiddenError` (403) for another merchant's request; :class:`ExperimentConflictError`
        (409) for an outcome of another kind than the experiment's (the body is well formed; the experiment's
        state refuses it) and for a second, different outcome (the same one again is a replay)."""
        with self._write() as db:
            row = db.execute(
                "SELECT e.experiment, e.arm, e.merchant, x.outcome, x.arms FROM exposures e "
                "JOIN experiments x ON x.name = e.experiment WHERE e.request_id = ?",
                (request_id,),
            ).fetchone()
            if row is None:
                raise NotFoundError(
                    "request_id",
                    request_id,
                    f"request {request_id!r:.80} was not enrolled in any experiment (unknown id, no experiment "
                    "running on its route, no customer_id or session_id, or an explicit mode); send feedback only "
                    "for answers that name an experiment",
                )
            owner = row["merchant"]
            if owner is not None and merchant is not None and merchant != owner and not admin:
                raise ForbiddenError(
                    f"request {request_id!r:.80} was answered for another merchant; send feedback only for your "
                    "own answers"
                )
            value = _checked(OutcomeKind(row["outcome"]), outcome, row["experiment"])
            arm = json.loads(row["arms"])[int(row["arm"])]
            label = f"{arm['label']}: {arm['value']}"
            kept = db.execute("SELECT value FROM outcomes WHERE request_id = ?", (request_id,)).fetchone()
            if kept is not None:
                if float(kept["value"]) != value:
                    raise ExperimentConflictError(
                        f"request {request_id!r:.80} already has the outcome {float(kept['value']):g}; an outcome "
                        "is recorded once and cannot be changed"
                    )
                return Feedback(request_id, row["experiment"], label, value, replayed=True)
            db.execute(
                "INSERT INTO outcomes (request_id, value, at) VALUES (?, ?, ?)", (request_id, value, time.time())
            )
        return Feedback(request_id, row["experiment"], label, value, replayed=False)

    def report(self, name: str) -> ExperimentReport:
        """The experiment's statistics over its outcomes in the order they arrived."""
        with self._connect() as db:
            experiment = self._get(db, name)
            counts = dict(
                db.execute("SELECT arm, COUNT(*) FROM exposures WHERE experiment = ? GROUP BY arm", (name,)).fetchall()
            )
            rows = db.execute(
                "SELECT e.arm, o.value FROM outcomes o JOIN exposures e ON e.request_id = o.request_id "
                "WHERE e.experiment = ? ORDER BY o.seq",
                (name,),
            ).fetchall()
        arms = np.array([r[0] for r in rows], dtype=np.int_)
        values = np.array([r[1] for r in rows], dtype=np.float64)
        names = (experiment.arms[0].name, experiment.arms[1].name)
        analysis = analyse(experiment.outcome, arms == 1, values, experiment.rule, names)
        return ExperimentReport(experiment, (int(counts.get(0, 0)), int(counts.get(1, 0))), analysis)


def _checked(kind: OutcomeKind, outcome: bool | float, name: str) -> float:
    if kind is OutcomeKind.BINARY:
        if not isinstance(outcome, bool):
            raise ExperimentConflictError(
                f"experiment {name!r} records binary outcomes: send true or false, not {outcome!r}"
            )
        return float(outcome)
    if isinstance(outcome, bool) or not isinstance(outcome, int | float) or not math.isfinite(outcome):
        raise ExperimentConflictError(
            f"experiment {name!r} records numeric outcomes: send a finite number, not {outcome!r}"
        )
    if abs(outcome) > MAX_OUTCOME:
        raise ExperimentConflictError(f"outcome {outcome:g} is beyond +-{MAX_OUTCOME:g}; send it in other units")
    return float(outcome)
