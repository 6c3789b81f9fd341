"""``GET /v1/federation/runs``: the federated rounds that produced the registry's intent versions, newest
first — strategy, participants, accuracy per round, what each round sent compared with a full fine-tune, and
the privacy budget where one was spent.

Everything comes from the lineage each federated version carries (:func:`federation.publish`'s record of the
run), read from the registry the cluster serves; no weights are loaded.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from cluster.config import registry_dir_from_env
from cluster.schemas import ValidationErrorResponse
from ensemble.registry import Registry
from ensemble.registry.store import LINEAGE_NAME, METRICS_NAME

__all__ = ["FederatedRound", "FederatedRun", "FederationRunsResponse", "federated_runs", "router"]

logger = logging.getLogger(__name__)

RUNS_PATH = "/v1/federation/runs"
FEDERATED_MEMBER = "intent"  # federated rounds fine-tune the intent member's adapters

router = APIRouter(tags=["operations"])


class FederatedRound(BaseModel):
    """One server round: how many merchants trained and failed, the aggregated evaluation accuracy and train
    loss (``null`` when no merchant reported it), and the bytes sent both ways."""

    round: int
    participants: int
    failures: int
    accuracy: float | None
    train_loss: float | None
    bytes_sent: int | None


class FederatedRun(BaseModel):
    """The run behind one federated version: its base (``parent``), Flower strategy, rounds, merchants and
    their examples, the published version's validation metrics, the mean ratio of a round's bytes to a full
    fine-tune's, and the privacy budget (``null``: the run added no differential-privacy noise)."""

    version: str
    created_at: str
    parent: str | None
    strategy: str | None
    rounds: int
    participants: int
    num_examples: int
    validation: dict[str, float]
    traffic_ratio: float | None
    privacy: dict[str, Any] | None
    per_round: list[FederatedRound]


class FederationRunsResponse(BaseModel):
    """The federated versions of the intent member, newest first (empty when none was federated)."""

    runs: list[FederatedRun]


def registry_root() -> Path:
    """The registry the cluster serves from (a dependency, so an app can read another one)."""
    return registry_dir_from_env()


def _number(values: Any, key: str) -> float | None:
    value = values.get(key) if isinstance(values, dict) else None
    return float(value) if isinstance(value, int | float) else None


def _round(record: dict[str, Any]) -> FederatedRound:
    traffic = record.get("traffic") or {}
    ways = [way for phase in traffic.values() if isinstance(phase, dict) for way in phase.values()]
    sent = [int(way.get("total_bytes", 0)) for way in ways if isinstance(way, dict)]
    return FederatedRound(
        round=int(record.get("round", 0)),
        participants=len(record.get("participants") or []),
        failures=len(record.get("failures") or {}),
        accuracy=_number(record.get("evaluate_aggregate"), "accuracy"),
        train_loss=_number(record.get("train_aggregate"), "train-loss"),
        bytes_sent=sum(sent) if sent else None,
    )


def _run(version_id: str, folder: Path) -> FederatedRun | None:
    lineage = json.loads((folder / LINEAGE_NAME).read_text(encoding="utf-8"))
    if lineage.get("method") != "federated":
        return None
    details: dict[str, Any] = lineage.get("details") or {}
    metrics_path = folder / METRICS_NAME
    metrics = json.loads(metrics_path.read_text(encoding="utf-8")) if metrics_path.is_file() else {}
    strategy = details.get("strategy") or {}
    traffic = details.get("traffic") or {}
    return FederatedRun(
        version=version_id,
        created_at=str(lineage.get("created_at", "")),
        parent=lineage.get("parent"),
        strategy=strategy.get("name") if isinstance(strategy, dict) else None,
        rounds=int(details.get("rounds", 0)),
        participants=len(details.get("participants") or []),
        num_examples=int(details.get("num_examples", 0)),
        validation={k: float(v) for k, v in metrics.items() if isinstance(v, int | float)},
        traffic_ratio=_number(traffic, "ratio"),
        privacy=details.get("privacy"),
        per_round=[_round(r) for r in details.get("round_metrics") or [] if isinstance(r, dict)],
    )


def federated_runs(root: Path, limit: int) -> list[FederatedRun]:
    """The ``limit`` newest federated intent versions of the registry at ``root``; a version whose lineage
    cannot be read is left out and logged."""
    runs: list[FederatedRun] = []
    for version in reversed(Registry(root).list(FEDERATED_MEMBER)):
        try:
            run = _run(version.id, version.path)
        except (OSError, ValueError, TypeError, AttributeError) as err:
            logger.warning("left %s out of the federation runs: its lineage cannot be read (%s)", version.id, err)
            continue
        if run is not None:
            runs.append(run)
        if len(runs) == limit:
            break
    return runs


@router.get(
    RUNS_PATH,
    response_model=FederationRunsResponse,
    responses={422: {"model": ValidationErrorResponse, "description": "limit is not a number from 1 to 50"}},
)
async def federation_runs(
    root: Annotated[Path, Depends(registry_root)],
    limit: Annotated[int, Query(ge=1, le=50, description="how many runs, newest first")] = 5,
) -> FederationRunsResponse:
    """The federated runs behind the registry's intent versions, newest first."""
    # The lineage files are read off the event loop, which keeps answering other requests meanwhile.
    return FederationRunsResponse(runs=await asyncio.to_thread(federated_runs, root, limit))
