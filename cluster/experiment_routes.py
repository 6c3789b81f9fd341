"""The experiment routes, and how a chat or recommendation request is enrolled in the experiment on its route.

``POST /v1/feedback`` records the outcome of an answer that named an experiment (``{"request_id", "outcome"}``;
``true``/``false`` for a binary experiment, a number for a numeric one). An unknown or never-enrolled request
id answers 404; an outcome of the other kind, or a second outcome different from the first, answers 409; the
same outcome sent again answers 200 with ``replayed: true``. ``GET /v1/experiments`` lists every experiment
with its decision; ``GET /v1/experiments/{name}`` is one experiment's report.

Enrolment (:func:`enrolment`): while an experiment runs on ``chat`` or ``recommend``, a request on that route
is enrolled when it has a unit (its ``customer_id``, else for chat its ``session_id``) and does not name a
``mode`` itself. It is then answered in its arm's mode and the answer carries ``experiment``; requests with
neither id, and requests with an explicit ``mode`` (the caller's choice wins, and mixing chosen modes into an
arm would bias it), are answered as usual and not enrolled.

Starting and stopping experiments is the command line's job (``shopmesh experiment``), on the state directory
the cluster reads. The reports show every merchant's traffic, so once the cluster holds API keys they need an
admin key (:data:`cluster.auth.ADMIN_ROUTES`); feedback takes any valid key.
"""

from __future__ import annotations

import asyncio
import logging
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path as FilePath
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Request
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr

from cluster.auth import caller
from cluster.config import state_dir_from_env
from cluster.experiment_definition import NAME_PATTERN, Arm, Experiment, ExperimentTarget
from cluster.experiments import EXPERIMENTS_NAME, MAX_OUTCOME, ExperimentReport, ExperimentStore
from cluster.schemas import ErrorResponse, ExperimentAssignment, NotFoundResponse, ValidationErrorResponse

__all__ = [
    "Enrolment",
    "ExperimentListResponse",
    "ExperimentReportResponse",
    "FeedbackRequest",
    "FeedbackResponse",
    "enrolment",
    "experiment_store",
    "router",
]

logger = logging.getLogger(__name__)

router = APIRouter(tags=["experiments"])

EXAMPLE_REQUEST_ID = "example-request-0001"
EXAMPLE_EXPERIMENT = "reply-modes"

_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": NotFoundResponse, "description": "no experiment of that name, or a request never enrolled"}
}
_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {
        "model": ErrorResponse,
        "description": "the outcome is of the other kind than the experiment's, or differs from the one recorded",
    }
}
_FORBIDDEN: dict[int | str, dict[str, Any]] = {
    403: {"model": ErrorResponse, "description": "the request was answered for another merchant"}
}
_INVALID: dict[int | str, dict[str, Any]] = {
    422: {"model": ValidationErrorResponse, "description": "the body or a parameter does not match the schema"}
}
_UNREADABLE: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "the body could not be read (for example not UTF-8)"},
    413: {"model": ErrorResponse, "description": "the body is larger than the cluster accepts"},
}


@lru_cache(maxsize=8)
def _store_at(path: FilePath) -> ExperimentStore:
    return ExperimentStore(path)


def experiment_store() -> ExperimentStore:
    """The store of the cluster's state directory, one per process (a dependency, so an app can serve
    another one)."""
    return _store_at(state_dir_from_env() / EXPERIMENTS_NAME)


Store = Annotated[ExperimentStore, Depends(experiment_store)]
NameParam = Annotated[
    str, Path(description="an experiment's name", pattern=NAME_PATTERN, examples=[EXAMPLE_EXPERIMENT])
]
Outcome = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=-MAX_OUTCOME, le=MAX_OUTCOME)]


@dataclass(frozen=True)
class Enrolment:
    """A request in an experiment: the arm its unit is assigned to answers it."""

    experiment: Experiment
    arm: Arm
    unit: str

    def assignment(self) -> ExperimentAssignment:
        return ExperimentAssignment(name=self.experiment.name, arm=self.arm.label, mode=self.arm.value)

    async def expose(self, store: ExperimentStore, request_id: str, merchant: str | None) -> None:
        """Record that the arm answered request ``request_id`` for ``merchant`` (after the answer is made,
        before it is sent)."""
        await asyncio.to_thread(store.enroll, self.experiment, request_id, self.unit, merchant)


async def enrolment(
    store: ExperimentStore, target: ExperimentTarget, unit: str | None, explicit_mode: bool
) -> Enrolment | None:
    """The experiment running on ``target`` and the arm of ``unit``, or ``None`` when the request is not
    enrolled (no experiment, no unit, or a mode the request chose)."""
    if unit is None or explicit_mode:
        return None
    running = await asyncio.to_thread(store.running, target)
    if running is None:
        return None
    return Enrolment(running, running.assign(unit), unit)


class FeedbackRequest(BaseModel):
    """``POST /v1/feedback``: the outcome of an answer that named an experiment."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"request_id": EXAMPLE_REQUEST_ID, "outcome": True}]}
    )

    request_id: StrictStr = Field(
        min_length=1, max_length=200, pattern="^[!-~]+$", description="the answer's `request_id`"
    )
    outcome: StrictBool | Outcome = Field(
        description="true/false (resolved, clicked, bought) for a binary experiment; a number for a numeric one"
    )


class FeedbackResponse(BaseModel):
    """The recorded outcome; ``replayed`` when this outcome had been recorded before."""

    request_id: str
    experiment: str
    arm: str
    outcome: float
    replayed: bool


class ArmDefinition(BaseModel):
    label: str
    kind: str
    value: str


class StopRuleSettings(BaseModel):
    alpha: float
    min_samples: int
    max_samples: int | None
    mde: float | None
    mixture_scale: float


class ArmStatistics(BaseModel):
    """One arm's outcomes; ``mean`` is the rate for a binary experiment; ``null`` where undefined."""

    arm: str
    n: int
    mean: float | None
    std: float | None
    ci_low: float | None
    ci_high: float | None
    successes: int | None


class FixedHorizonResult(BaseModel):
    test: str
    statistic: float
    p_value: float
    ci_low: float
    ci_high: float


class SequentialResult(BaseModel):
    test: str
    p_value: float
    cs_low: float | None
    cs_high: float | None
    mixture_sd: float


class AnalysisResult(BaseModel):
    """The statistics: ``difference`` is B - A; the tests are ``null`` until each arm has two outcomes."""

    outcome: str
    arms: list[ArmStatistics]
    difference: float | None
    fixed_horizon: FixedHorizonResult | None
    sequential: SequentialResult | None
    decision: str
    stop_rule: str
    alpha: float


class ExperimentReportResponse(BaseModel):
    """``GET /v1/experiments/{name}``: the definition, enrolled requests per arm and the statistics."""

    name: str
    target: str
    arms: list[ArmDefinition]
    outcome: str
    split: int
    rule: StopRuleSettings
    status: str
    created_at: float
    stopped_at: float | None
    exposures: dict[str, int]
    analysis: AnalysisResult


class ExperimentListResponse(BaseModel):
    """``GET /v1/experiments``: every experiment's report, newest first."""

    experiments: list[ExperimentReportResponse]


def _finite(value: Any) -> Any:
    """JSON has no NaN or infinity: undefined statistics become ``null``."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def describe(report: ExperimentReport) -> ExperimentReportResponse:
    return ExperimentReportResponse.model_validate(_finite(report.to_dict()))


@router.post(
    "/v1/feedback",
    response_model=FeedbackResponse,
    responses={**_UNREADABLE, **_NOT_FOUND, **_CONFLICT, **_INVALID, **_FORBIDDEN},
)
async def feedback(store: Store, body: Annotated[FeedbackRequest, Body()], http: Request) -> FeedbackResponse:
    """The outcome of an answer that named an experiment; the same outcome again is a replay (200). A merchant's
    key may send feedback only for the answers given to that merchant (403 otherwise)."""
    tenant = caller(http)
    merchant, admin = (None, False) if tenant is None else (tenant.merchant, tenant.admin)
    kept = await asyncio.to_thread(store.record_outcome, body.request_id, body.outcome, merchant, admin=admin)
    return FeedbackResponse(
        request_id=kept.request_id, experiment=kept.experiment, arm=kept.arm, outcome=kept.value, replayed=kept.replayed
    )


@router.get("/v1/experiments", response_model=ExperimentListResponse)
async def list_experiments(store: Store) -> ExperimentListResponse:
    """Every experiment with its arms, counts and current decision (the console's experiments panel)."""

    def reports() -> list[ExperimentReport]:
        return [store.report(experiment.name) for experiment in store.list()]

    return ExperimentListResponse(experiments=[describe(r) for r in await asyncio.to_thread(reports)])


@router.get("/v1/experiments/{name}", response_model=ExperimentReportResponse, responses={**_NOT_FOUND, **_INVALID})
async def experiment_report(store: Store, name: NameParam) -> ExperimentReportResponse:
    """Per-arm counts, rates or means with confidence intervals, the fixed-horizon and the always-valid test,
    and the decision with the stop rule stated."""
    return describe(await asyncio.to_thread(store.report, name))
