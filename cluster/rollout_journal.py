"""What the cluster has served, kept on disk under its ``state_dir`` so that any process can read it.

Two tables in one SQLite file (``rollouts.sqlite``):

- ``served``: every version a rollout or rollback put in service, per member, in order. ``shopmesh rollback``
  returns to the entry before the last one, so "the previous version" survives the process that rolled out.
- ``reports``: what each replica did with a rollout's ``user_config`` (the version it was asked for, the one it
  serves now and, when it kept the old one, why). The rollout command waits for a report from every running
  replica of the deployment before it says whether the rollout took.

Replicas and the command may run on different nodes: the state directory must then be shared, as it already
must be for the ingress's idempotency keys.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cluster.errors import RolloutError

__all__ = ["JOURNAL_NAME", "ReplicaReport", "RolloutJournal", "ServedEntry"]

JOURNAL_NAME = "rollouts.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS served (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    member TEXT NOT NULL,
    target TEXT NOT NULL,
    version TEXT NOT NULL,
    action TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS reports (
    rollout TEXT NOT NULL,
    replica TEXT NOT NULL,
    member TEXT NOT NULL,
    wanted TEXT NOT NULL,
    serving TEXT,
    error TEXT,
    at REAL NOT NULL,
    PRIMARY KEY (rollout, replica, member)
);
"""


@dataclass(frozen=True)
class ServedEntry:
    """One version put in service: ``target`` is what the deployment was given (a version id, or a graph
    directory), ``version`` the id it reported serving."""

    member: str
    target: str
    version: str
    action: str
    at: float


@dataclass(frozen=True)
class ReplicaReport:
    """What one replica did with one rollout: ``serving`` is the version it serves now; ``error`` says why it
    kept the old one (``None`` when it took the new one)."""

    rollout: str
    replica: str
    member: str
    wanted: str
    serving: str | None
    error: str | None


class RolloutJournal:
    """The ``rollouts.sqlite`` file of one cluster's state directory."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with self._connect() as db:
                db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as err:
            raise RolloutError(
                f"cannot open the rollout journal {path}: {err}; the cluster's state_dir must be writable from "
                "here (and shared by every node)"
            ) from err

    @classmethod
    def in_state_dir(cls, state_dir: Path) -> RolloutJournal:
        return cls(state_dir / JOURNAL_NAME)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30.0)
        try:
            with db:
                yield db
        finally:
            db.close()

    def record_served(self, member: str, target: str, version: str, action: str) -> None:
        """Append a version put in service (``action``: ``rollout``, ``rollback`` or ``initial``)."""
        with self._connect() as db:
            db.execute(
                "INSERT INTO served (member, target, version, action, at) VALUES (?, ?, ?, ?, ?)",
                (member, target, version, action, time.time()),
            )

    def history(self, member: str) -> list[ServedEntry]:
        """The versions put in service for ``member``, oldest first."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT member, target, version, action, at FROM served WHERE member = ? ORDER BY seq", (member,)
            ).fetchall()
        return [ServedEntry(*row) for row in rows]

    def drop_last(self, member: str) -> None:
        """Forget the last version put in service for ``member`` (a rollback returns to the one before)."""
        with self._connect() as db:
            db.execute("DELETE FROM served WHERE seq = (SELECT MAX(seq) FROM served WHERE member = ?)", (member,))

    def report(self, *reports: ReplicaReport) -> None:
        """Keep replicas' answers to a rollout, all in one transaction (a later answer of the same replica for
        the same member replaces the earlier one)."""
        with self._connect() as db:
            db.executemany(
                "INSERT OR REPLACE INTO reports (rollout, replica, member, wanted, serving, error, at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(r.rollout, r.replica, r.member, r.wanted, r.serving, r.error, time.time()) for r in reports],
            )

    def reports(self, rollout: str, member: str | None = None) -> list[ReplicaReport]:
        """Every replica's answer to one rollout (for one member, when ``member`` is given)."""
        query = "SELECT rollout, replica, member, wanted, serving, error FROM reports WHERE rollout = ?"
        with self._connect() as db:
            if member is None:
                rows = db.execute(query, (rollout,)).fetchall()
            else:
                rows = db.execute(query + " AND member = ?", (rollout, member)).fetchall()
        return [ReplicaReport(*row) for row in rows]

    def members(self) -> list[str]:
        """Every member with a version put in service or a replica report, sorted."""
        with self._connect() as db:
            rows = db.execute("SELECT member FROM served UNION SELECT member FROM reports ORDER BY member").fetchall()
        return [str(row[0]) for row in rows]

    def last_rollout(self, member: str) -> tuple[str, float] | None:
        """The id of the latest rollout any replica of ``member`` reported on, and when (``None``: none yet)."""
        with self._connect() as db:
            row = db.execute(
                "SELECT rollout, MAX(at) FROM reports WHERE member = ? GROUP BY rollout ORDER BY MAX(at) DESC LIMIT 1",
                (member,),
            ).fetchone()
        return None if row is None else (str(row[0]), float(row[1]))
