"""``GET /v1/rollouts``: what each member serves, the versions rollouts and rollbacks put in service, and what
every replica did with the latest rollout — read from the rollout journal in the cluster's state directory
(:mod:`cluster.rollout_journal`), so the console shows the rollout state of any process's ``shopmesh rollout``.

A cluster that has never been rolled out has no journal yet: the route answers an empty list and creates
nothing.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from cluster.config import state_dir_from_env
from cluster.rollout_journal import JOURNAL_NAME, RolloutJournal
from cluster.schemas import ValidationErrorResponse

__all__ = ["MemberRollouts", "ReplicaAnswer", "RolloutsResponse", "ServedVersion", "router"]

ROLLOUTS_PATH = "/v1/rollouts"

router = APIRouter(tags=["operations"])


class ServedVersion(BaseModel):
    """One version put in service: ``action`` is ``initial`` (what served before the first rollout),
    ``rollout`` or ``rollback``; ``target`` what the deployment was given; ``at`` UTC, ISO 8601."""

    version: str
    target: str
    action: str
    at: str


class ReplicaAnswer(BaseModel):
    """What one replica did with the latest rollout: ``serving`` the version it serves now; ``error`` why it
    kept the old one (``null`` when it took the new one)."""

    replica: str
    wanted: str
    serving: str | None
    error: str | None


class MemberRollouts(BaseModel):
    """One member's rollout state: the version last put in service, the recent ones (newest first) and the
    replicas' answers to the latest rollout."""

    member: str
    serving: str | None
    history: list[ServedVersion]
    last_rollout: str | None
    last_rollout_at: str | None
    replicas: list[ReplicaAnswer]


class RolloutsResponse(BaseModel):
    """Every member the journal knows, by name."""

    members: list[MemberRollouts]


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds")


def journal_path() -> Path:
    """The journal of the cluster's state directory (a dependency, so an app can read another one)."""
    return state_dir_from_env() / JOURNAL_NAME


def member_rollouts(journal: RolloutJournal, member: str, limit: int) -> MemberRollouts:
    """The state of one member in ``journal``, with at most ``limit`` served versions."""
    served = journal.history(member)
    last = journal.last_rollout(member)
    replicas = [] if last is None else journal.reports(last[0], member)
    return MemberRollouts(
        member=member,
        serving=served[-1].version if served else None,
        history=[ServedVersion(version=e.version, target=e.target, action=e.action, at=_iso(e.at)) for e in served][
            ::-1
        ][:limit],
        last_rollout=None if last is None else last[0],
        last_rollout_at=None if last is None else _iso(last[1]),
        replicas=[
            ReplicaAnswer(replica=r.replica, wanted=r.wanted, serving=r.serving, error=r.error)
            for r in sorted(replicas, key=lambda r: r.replica)
        ],
    )


@router.get(
    ROLLOUTS_PATH,
    response_model=RolloutsResponse,
    responses={422: {"model": ValidationErrorResponse, "description": "limit is not a number from 1 to 100"}},
)
async def rollouts(
    path: Annotated[Path, Depends(journal_path)],
    limit: Annotated[int, Query(ge=1, le=100, description="served versions per member, newest first")] = 10,
) -> RolloutsResponse:
    """The rollout state of every member that was rolled out or rolled back (empty before the first)."""

    def read() -> list[MemberRollouts]:
        if not path.is_file():
            return []
        journal = RolloutJournal(path)
        return [member_rollouts(journal, m, limit) for m in journal.members()]

    # The journal is a file: read it off the event loop, which keeps answering other requests meanwhile.
    return RolloutsResponse(members=await asyncio.to_thread(read))
