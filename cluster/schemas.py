"""HTTP request and response bodies of the ingress (pydantic; FastAPI validates requests against them)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, field_validator, model_validator

from cluster.config import MAX_TEXT_LENGTH
from cluster.members import MemberName
from ensemble.chat import ChatMode
from ensemble.recommendation import MemberStatus as RecommenderStatus
from ensemble.recommendation import RecommendMode

__all__ = [
    "ChatMode",
    "ChatRequest",
    "ChatResponse",
    "ErrorResponse",
    "ForecastRequest",
    "ForecastResponse",
    "Grounding",
    "HealthResponse",
    "MemberRun",
    "MemberStatus",
    "NotFoundResponse",
    "PriceRequest",
    "PriceResponse",
    "Problem",
    "ProductFactsResponse",
    "RecommendItem",
    "RecommendMode",
    "RecommendRequest",
    "RecommendResponse",
    "RecommenderRun",
    "UnavailableResponse",
    "ValidationErrorResponse",
]


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
    request_id: str | None = None


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
    status: RecommenderStatus
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
    request_id: str | None = None


class MemberStatus(BaseModel):
    """What one member's deployment has loaded: ``version`` (``None`` when it has none, with ``error``
    saying why) and the member's own details."""

    model_config = ConfigDict(extra="allow")

    version: str | None = None
    error: str | None = None


class HealthResponse(BaseModel):
    """``GET /healthz``: ``ok`` when every member answered, ``degraded`` when one has no version loaded;
    one entry per served member, keyed by its name (``intent``, ``graph``, ...)."""

    model_config = ConfigDict(extra="allow")

    status: str
    request_id: str | None = None


def member_statuses(health: HealthResponse) -> dict[str, MemberStatus]:
    """The per-member entries of a health answer."""
    extra = health.model_extra or {}
    return {name.value: MemberStatus.model_validate(extra[name.value]) for name in MemberName if name.value in extra}


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


class PriceContext(BaseModel):
    """What is known of next week at the store: promotion flags and prices (all optional)."""

    model_config = ConfigDict(extra="forbid")

    deal: float | None = Field(default=None, ge=0, le=1, description="1 when the brand is on deal that week")
    feat: float | None = Field(default=None, ge=0, le=1, description="share of the week the brand is featured")
    competitor_log_price: float | None = Field(default=None, ge=-10, le=10)
    previous_price: float | None = Field(default=None, gt=0, le=1000)
    policy: Literal["thompson", "mean"] | None = None


class PriceRequest(BaseModel):
    """``POST /v1/price``: a Dominick's store and brand, and optional context (deal, feat, previous_price, ...)."""

    model_config = ConfigDict(extra="forbid")

    store: StrictInt = Field(ge=0, le=10_000)
    brand: StrictInt = Field(ge=0, le=10_000)
    context: PriceContext | None = None


class ForecastWeek(BaseModel):
    """One forecast step: the week (or step number for a request series) and its P10/P50/P90 units."""

    model_config = ConfigDict(extra="allow")

    p10: float
    p50: float
    p90: float


class ForecastResponse(BaseModel):
    """The answer to ``POST /v1/forecast``: for a product, ``weeks`` and a ``reorder`` suggestion; for a
    series, ``steps``; ``member`` names the model that answered and ``note`` how."""

    model_config = ConfigDict(extra="allow")

    member: str
    note: str
    stock_code: str | None = None
    version: str | None = None
    weeks: list[ForecastWeek] | None = None
    steps: list[ForecastWeek] | None = None
    reorder: dict[str, Any] | None = None


class PriceResponse(BaseModel):
    """The answer to ``POST /v1/price``: the price, what the demand model expects of it, the guardrails that
    bound it and why."""

    model_config = ConfigDict(extra="allow")

    store: int
    brand: int
    price: float
    expected_units: float
    expected_profit: float
    reason: str
    binding_guardrails: list[str]
    guardrails: dict[str, Any]
    policy: str
    version: str


class CoPurchaseFact(BaseModel):
    model_config = ConfigDict(extra="allow")

    stock_code: str


class ProductFactsResponse(BaseModel):
    """``GET /v1/products/{code}``: what the knowledge graph holds about one product (prices in GBP)."""

    model_config = ConfigDict(extra="allow")

    stock_code: str
    description: str
    price_min: float | None
    price_median: float | None
    price_max: float | None
    n_orders: int
    category: str | None
    attributes: list[str]
    co_purchases: list[CoPurchaseFact]


class Problem(BaseModel):
    """One thing wrong with a request: where (``loc``), what (``msg``) and its kind."""

    loc: list[str | int]
    msg: str
    type: str


class ValidationErrorResponse(BaseModel):
    """422: the request body or a parameter does not match the schema; ``message`` sums the problems up."""

    detail: list[Problem]
    message: str
    request_id: str | None = None


class NotFoundResponse(BaseModel):
    """404: the request names something the cluster does not hold; ``field`` and ``value`` say what."""

    detail: str
    field: str
    value: Any = None
    request_id: str | None = None


class UnavailableResponse(BaseModel):
    """503: a member has no version to serve, or did not answer; ``member`` names it and ``detail`` says what
    to run."""

    detail: str
    member: str
    request_id: str | None = None


class ErrorResponse(BaseModel):
    """400 or 413: the request could not be read (not UTF-8, too large); ``detail`` says what to send."""

    detail: str
    request_id: str | None = None
