"""HTTP request and response bodies of the ingress (pydantic; FastAPI validates requests against them)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, field_validator, model_validator

from cluster.config import MAX_TEXT_LENGTH

__all__ = [
    "ChatMode",
    "ChatRequest",
    "ChatResponse",
    "Grounding",
    "HealthResponse",
    "MemberRun",
    "RecommendItem",
    "RecommendMode",
    "RecommendRequest",
    "RecommendResponse",
    "RecommenderRun",
]


class ChatMode(StrEnum):
    """How the members of a chat request run: one after another (intent first), side by side where they can,
    or with the intent members' outputs fused."""

    SERIAL = "serial"
    PARALLEL = "parallel"
    FUSION = "fusion"


class ChatRequest(BaseModel):
    """``POST /v1/chat``: a customer's message and optional context."""

    model_config = ConfigDict(extra="forbid")

    text: StrictStr = Field(min_length=1, max_length=MAX_TEXT_LENGTH, description="the customer's message")
    mode: ChatMode = ChatMode.SERIAL
    customer_id: StrictInt | None = Field(default=None, ge=0)
    order_id: StrictStr | None = Field(default=None, min_length=1, max_length=32)

    @field_validator("text")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("text is blank: send the customer's message as a non-empty string")
        return value


class RecommendMode(StrEnum):
    """How the recommenders answer: the knowledge graph alone (the default), every member's list side by
    side, or the members' lists fused by weighted reciprocal rank."""

    GRAPH = "graph"
    PARALLEL = "parallel"
    FUSION = "fusion"


class RecommendRequest(BaseModel):
    """``POST /v1/recommend``: a customer id, how many products to return and the ensemble mode."""

    model_config = ConfigDict(extra="forbid")

    customer_id: StrictInt = Field(ge=0)
    k: StrictInt = Field(default=10, ge=1, le=100)
    mode: RecommendMode = RecommendMode.GRAPH


class MemberRun(BaseModel):
    """One ensemble member that ran for a request: its output, its weight in the answer, how long the call
    took and, when it failed, the error."""

    name: str
    output: dict[str, Any]
    weight: float
    latency_ms: float
    error: str | None = None


class Grounding(BaseModel):
    """The verifier's verdict on the final reply: each claim it found, supported or not."""

    checked: bool
    grounded: bool | None
    supported: list[dict[str, Any]]
    unsupported: list[dict[str, Any]]


class ChatResponse(BaseModel):
    """The answer to ``POST /v1/chat``."""

    intent: str
    confidence: float
    out_of_scope: bool
    entities: dict[str, Any]
    products: list[dict[str, Any]]
    reply: str
    grounding: Grounding
    fallback: bool
    fallback_reason: str | None
    slots: dict[str, list[str]]
    version: str
    mode: ChatMode
    members: list[MemberRun]
    degraded: list[str]


class RecommendItem(BaseModel):
    """A recommended product with the reason for it; ``sources`` maps member name to the product's 1-based
    rank in that member's list."""

    stock_code: str
    description: str
    score: float
    explanation: str
    via_stock_code: str | None
    sources: dict[str, int] = Field(default_factory=dict)


class RecommenderRun(BaseModel):
    """One recommendation member and what it did for a request: ``ran``, ``failed``, ``idle`` (not asked in
    this mode), ``skipped`` (could not be fitted) or ``not_served`` (no registry version), and why."""

    name: str
    status: str
    reason: str
    weight: float | None
    items: int
    latency_ms: float


class RecommendResponse(BaseModel):
    """The answer to ``POST /v1/recommend``: ``items`` and, in parallel mode, each member's list; which
    members ran, the fusion weights and their source; ``fallback`` names the member that answered for a
    customer no member can personalise for (``popularity``), with ``fallback_reason``."""

    customer_id: int
    mode: RecommendMode
    items: list[RecommendItem]
    lists: dict[str, list[RecommendItem]]
    members: list[RecommenderRun]
    weights: dict[str, float]
    weights_source: str
    fallback: str | None
    fallback_reason: str | None
    reason: str
    latency_ms: float


class HealthResponse(BaseModel):
    """``GET /healthz``: what each deployment has loaded."""

    status: str
    intent: dict[str, Any]
    graph: dict[str, Any]
    reply: dict[str, Any]
    forecaster: dict[str, Any]
    pricer: dict[str, Any]


class ForecastRequest(BaseModel):
    """``POST /v1/forecast``: a product by stock code, or a series of weekly values, and the horizon in weeks."""

    model_config = ConfigDict(extra="forbid")

    product: str | None = Field(default=None, min_length=1, max_length=32)
    series: list[float] | None = Field(default=None, min_length=1, max_length=10_000)
    dates: list[str] | None = None
    horizon: StrictInt = Field(default=8, ge=1, le=52)
    lead_time_weeks: float = Field(default=2.0, gt=0, le=52)
    service_level: float = Field(default=0.95, gt=0.5, lt=1.0)
    on_hand: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _one_target(self) -> ForecastRequest:
        if (self.product is None) == (self.series is None):
            raise ValueError("send exactly one of `product` (a stock code) or `series` (weekly values)")
        return self


class PriceRequest(BaseModel):
    """``POST /v1/price``: a Dominick's store and brand, and optional context (deal, feat, previous_price, ...)."""

    model_config = ConfigDict(extra="forbid")

    store: StrictInt = Field(ge=0)
    brand: StrictInt = Field(ge=0)
    context: dict[str, Any] | None = None
