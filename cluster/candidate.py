"""A candidate intent version served beside the live one: a canary that answers a share of the traffic, or a
shadow that answers a copy of it in the background and is only logged.

``shopmesh rollout intent VERSION --canary 10`` puts ``{"candidate": {"mode": "canary", "version", "percent"}}``
in the intent deployment's ``user_config``; ``--shadow`` puts ``{"mode": "shadow", "version", "log"}``. Every
replica loads the candidate beside the version it serves (smoke-checked like any rollout) and reports it under
the member name :data:`CANDIDATE_MEMBER`. ``promote`` rolls the candidate out as the live version; ``abort``
drops it. Both take the ``candidate`` key out of the ``user_config`` again.

A canary's share is sticky: the unit of a request (``customer:ID`` or ``session:ID``; the request id when it
has neither) is hashed with the canary's name into a bucket 0..99 (:func:`cluster.experiment_definition.assign`)
and buckets below ``percent`` go to the candidate, so one customer sees one version on every replica and after
every restart.

A shadow's answers are compared with the live ones in the ``shadow`` table of the rollout journal
(:class:`ShadowLog`): the intent each version chose and its confidence, per request. They never reach a caller.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from cluster.errors import RolloutError
from cluster.experiment_definition import assign
from cluster.sqlite_store import SqliteStore

__all__ = [
    "CANDIDATE_MEMBER",
    "CandidateMode",
    "CandidatePlan",
    "ShadowLog",
    "ShadowRow",
    "ShadowSummary",
]

CANDIDATE_MEMBER = "intent-candidate"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS shadow (
    candidate TEXT NOT NULL,
    request_id TEXT NOT NULL,
    unit TEXT,
    live_version TEXT NOT NULL,
    live_intent TEXT,
    live_confidence REAL,
    shadow_version TEXT NOT NULL,
    shadow_intent TEXT,
    shadow_confidence REAL,
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS shadow_by_candidate ON shadow (candidate);
"""


class CandidateMode(StrEnum):
    """How a candidate is served: ``canary`` answers a share of requests, ``shadow`` a logged copy of all."""

    CANARY = "canary"
    SHADOW = "shadow"


@dataclass(frozen=True)
class CandidatePlan:
    """The candidate a deployment's ``user_config`` names: its registry version, how it is served, the canary's
    share (``percent`` of units, 1..99) and, for a shadow, the journal its comparisons are written to."""

    mode: CandidateMode
    version: str
    percent: int = 0
    log: str | None = None

    def __post_init__(self) -> None:
        if self.mode is CandidateMode.CANARY and not 1 <= self.percent <= 99:
            raise RolloutError(
                f"a canary answers 1..99 percent of the traffic, got {self.percent}; to serve the version to "
                "everyone roll it out without --canary"
            )
        if self.mode is CandidateMode.SHADOW and not self.log:
            raise RolloutError("a shadow candidate needs the journal its comparisons are logged to")

    @property
    def name(self) -> str:
        """What the canary's buckets are hashed with: a new canary version reshuffles who sees it."""
        return f"canary:intent:{self.version}"

    def answers(self, unit: str | None) -> bool:
        """Whether the candidate answers a request of ``unit`` (always False for a shadow or without a unit)."""
        if self.mode is not CandidateMode.CANARY or not unit:
            return False
        return assign(self.name, unit, self.percent) == 1

    def to_user_config(self) -> dict[str, Any]:
        data: dict[str, Any] = {"mode": self.mode.value, "version": self.version}
        if self.mode is CandidateMode.CANARY:
            data["percent"] = self.percent
        else:
            data["log"] = self.log
        return data

    @classmethod
    def from_user_config(cls, value: object) -> CandidatePlan | None:
        """The plan a ``user_config["candidate"]`` value gives; None when there is none."""
        if value in (None, {}, ""):
            return None
        if not isinstance(value, Mapping):
            raise RolloutError(f"user_config candidate must be a mapping, got {type(value).__name__}")
        try:
            mode = CandidateMode(str(value.get("mode")))
        except ValueError as err:
            modes = [m.value for m in CandidateMode]
            raise RolloutError(f"candidate mode {value.get('mode')!r} is not one of {modes}") from err
        version = value.get("version")
        if not isinstance(version, str) or not version:
            raise RolloutError("the candidate names no version; give the registry version it serves")
        percent = value.get("percent", 0)
        if not isinstance(percent, int) or isinstance(percent, bool):
            raise RolloutError(f"candidate percent must be an integer 1..99, got {percent!r}")
        log = value.get("log")
        return cls(mode, version, percent, None if log is None else str(log))


@dataclass(frozen=True)
class ShadowRow:
    """One request answered by the live version and, in the background, by the shadow."""

    request_id: str
    unit: str | None
    live_version: str
    live_intent: str | None
    live_confidence: float | None
    shadow_version: str
    shadow_intent: str | None
    shadow_confidence: float | None


@dataclass(frozen=True)
class ShadowSummary:
    """How a shadow compared with the live version: requests compared, how many got the same intent, and the
    mean confidence of each."""

    candidate: str
    compared: int
    agreed: int
    live_confidence: float | None
    shadow_confidence: float | None

    @property
    def agreement(self) -> float | None:
        return None if self.compared == 0 else self.agreed / self.compared

    def describe(self) -> str:
        if self.compared == 0:
            return f"shadow {self.candidate}: no request compared yet"
        return (
            f"shadow {self.candidate}: {self.compared} requests compared, same intent on {self.agreed} "
            f"({100 * (self.agreement or 0.0):.1f} %); mean confidence live {self.live_confidence:.3f}, "
            f"shadow {self.shadow_confidence:.3f}"
        )


class ShadowLog(SqliteStore):
    """The ``shadow`` table of a rollout journal file (``rollouts.sqlite``), shared by every replica."""

    def __init__(self, path: Path) -> None:
        # NORMAL: a power cut may lose the last comparisons, never the file; they are evidence, not state.
        super().__init__(path, _SCHEMA, describe="shadow log", error=RolloutError, synchronous="NORMAL")

    def record(self, candidate: str, rows: Sequence[ShadowRow]) -> None:
        """Keep a batch of comparisons for shadow version ``candidate`` in one transaction."""
        now = time.time()
        with self._write() as db:
            db.executemany(
                "INSERT INTO shadow (candidate, request_id, unit, live_version, live_intent, live_confidence, "
                "shadow_version, shadow_intent, shadow_confidence, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        candidate,
                        r.request_id,
                        r.unit,
                        r.live_version,
                        r.live_intent,
                        r.live_confidence,
                        r.shadow_version,
                        r.shadow_intent,
                        r.shadow_confidence,
                        now,
                    )
                    for r in rows
                ],
            )

    def rows(self, candidate: str) -> list[ShadowRow]:
        """Every comparison kept for ``candidate``, in the order written."""
        with self._connect() as db:
            found = db.execute(
                "SELECT request_id, unit, live_version, live_intent, live_confidence, shadow_version, shadow_intent, "
                "shadow_confidence FROM shadow WHERE candidate = ? ORDER BY rowid",
                (candidate,),
            ).fetchall()
        return [ShadowRow(*row) for row in found]

    def summary(self, candidate: str) -> ShadowSummary:
        with self._connect() as db:
            compared, agreed, live, shadow = db.execute(
                "SELECT COUNT(*), COALESCE(SUM(live_intent IS shadow_intent), 0), AVG(live_confidence), "
                "AVG(shadow_confidence) FROM shadow WHERE candidate = ?",
                (candidate,),
            ).fetchone()
        return ShadowSummary(candidate, int(compared), int(agreed), live, shadow)

    def __enter__(self) -> ShadowLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
