"""HTTP request and response bodies of the ingress (pydantic; FastAPI validates requests against them)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictStr,
    ValidationError,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)

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
    "ExperimentAssignment",
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


def _json_integer(value: Any) -> Any:
    """JSON Schema counts 12.0 as an integer: accept integral floats, refuse booleans and strings."""
    if isinstance(value, bool):
        raise ValueError("expected an integer, got a boolean")
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _date_text(value: Any) -> Any:
    """A date must come as ISO text (``2011-12-09``), not as a number of seconds."""
    if not isinstance(value, str | dt.date):
        raise ValueError("expected a date as text, YYYY-MM-DD")
    return value


IsoDate = Annotated[dt.date, BeforeValidator(_date_text)]

# An integer as JSON Schema defines it (12 and 12.0), never a string or a boolean.
JsonInt = Annotated[int, BeforeValidator(_json_integer), Field(strict=True)]
# A number, never a string or a boolean.
JsonFloat = Annotated[float, Field(strict=True, allow_inf_nan=False)]

# Characters a message may not hold: C0 controls other than tab, line feed and carriage return, and DEL.
_CONTROL = "\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f"
# What str.strip() removes (str.isspace), spelt out so that every regex engine reads the pattern alike.
_SPACE = "\\t\\n\\x0b\\x0c\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000"
# Some character that is neither space nor control, and no control character anywhere.
MESSAGE_PATTERN = f"^[^{_CONTROL}]*[^{_SPACE}{_CONTROL}][^{_CONTROL}]*$"


def _is_control(char: str) -> bool:
    """A C0 control character other than tab, line feed and carriage return, or DEL."""
    return (ord(char) < 0x20 and char not in "\t\n\r") or char == "\x7f"


CUSTOMER_ID_MAX = 2**53  # ids beyond what a JSON number holds exactly are refused, not rounded
CustomerId = Annotated[int, Field(strict=True, ge=0, le=CUSTOMER_ID_MAX), BeforeValidator(_json_integer)]


# Numbers with their bounds inside the type, so that the bounds stay in the JSON schema under Optional[...].
Share = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=0, le=1)]
LogPrice = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=-10, le=10)]
Price = Annotated[float, Field(strict=True, allow_inf_nan=False, gt=0, le=1000)]
Units = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=0, le=1e9)]


class ChatRequest(BaseModel):
    """``POST /v1/chat``: a customer's message and optional context."""

    model_config = ConfigDict(extra="forbid")

    text: StrictStr = Field(
        min_length=1,
        max_length=MAX_TEXT_LENGTH,
        pattern=MESSAGE_PATTERN,
        description="the customer's message: some visible text, no control characters other than tab and newline",
    )
    mode: ChatMode = Field(
        default=ChatMode.SERIAL,
        description="the ensemble mode; leave it out to let an experiment running on chat choose it",
    )
    customer_id: CustomerId | None = None
    order_id: StrictStr | None = Field(default=None, min_length=1, max_length=32, pattern="^[0-9A-Za-z-]+$")
    session_id: StrictStr | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        pattern="^[!-~]+$",
        description="a session without a customer id: an experiment assigns it an arm, sticky like a customer",
    )

    @field_validator("text", mode="wrap")
    @classmethod
    def _readable_text(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> str:
        # The pattern states the rule in the schema; this says in words what a message breaking it did.
        try:
            checked: str = handler(value)
        except ValidationError as err:
            if isinstance(value, str) and 0 < len(value) <= MAX_TEXT_LENGTH:
                bad = next((i for i, c in enumerate(value) if _is_control(c)), None)
                if bad is not None:
                    raise ValueError(
                        f"text holds control character U+{ord(value[bad]):04X} at position {bad}; send plain text"
                    ) from err
                if not value.strip():
                    raise ValueError("text is blank: send the customer's message as a non-empty string") from err
            raise
        return checked


class RecommendRequest(BaseModel):
    """``POST /v1/recommend``: a customer id, how many products to return and the ensemble mode."""

    model_config = ConfigDict(extra="forbid")

    customer_id: CustomerId
    k: JsonInt = Field(default=10, ge=1, le=100)
    mode: RecommendMode = Field(
        default=RecommendMode.GRAPH,
        description="the ensemble mode; leave it out to let an experiment running on recommend choose it",
    )


class ExperimentAssignment(BaseModel):
    """The experiment that answered a request: its name, the arm (``A`` or ``B``) and the arm's mode; send
    the outcome to ``POST /v1/feedback`` with the answer's ``request_id``."""

    name: str
    arm: str
    mode: str


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
    experiment: ExperimentAssignment | None = None


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
    version: str | None = None
    request_id: str | None = None
    experiment: ExperimentAssignment | None = None


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


MIN_SERIES = 8  # the shortest series the request forecaster (AutoETS) accepts
SeriesValue = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=-1e9, le=1e9)]


class ForecastRequest(BaseModel):
    """``POST /v1/forecast``: exactly one of a product (its stock code) or a series of weekly values, and the
    horizon in weeks. A product's reorder suggestion uses ``lead_time_weeks``, ``service_level`` and
    ``on_hand``; a series may give the date of its last value (``last_date``) to date the forecast weeks."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "oneOf": [
                {"required": ["product"], "properties": {"product": {"type": "string"}}},
                {"required": ["series"], "properties": {"series": {"type": "array"}}},
            ],
            "examples": [{"product": "85123A", "horizon": 4, "on_hand": 120}, {"series": [3, 4, 5, 4, 3, 4, 5, 4]}],
        },
    )

    product: StrictStr | None = Field(default=None, min_length=1, max_length=32, pattern="^[0-9A-Za-z-]+$")
    series: list[SeriesValue] | None = Field(default=None, min_length=MIN_SERIES, max_length=1_000)
    last_date: IsoDate | None = Field(default=None, description="the date of the series' last value (series only)")
    horizon: JsonInt = Field(default=8, ge=1, le=52)
    lead_time_weeks: JsonFloat = Field(default=2.0, gt=0, le=52)
    service_level: JsonFloat = Field(default=0.95, gt=0.5, lt=1.0)
    on_hand: Units | None = None

    @model_validator(mode="after")
    def _one_target(self) -> ForecastRequest:
        if (self.product is None) == (self.series is None):
            raise ValueError("send exactly one of `product` (a stock code) or `series` (weekly values)")
        return self

    def step_dates(self) -> list[str] | None:
        """The dates of the forecast weeks, a week apart after ``last_date`` (``None`` without it, or when
        they would fall past the calendar's end)."""
        if self.last_date is None:
            return None
        try:
            return [(self.last_date + dt.timedelta(weeks=i + 1)).isoformat() for i in range(self.horizon)]
        except OverflowError:
            return None


class PriceContext(BaseModel):
    """What is known of next week at the store: promotion flags and prices (all optional)."""

    model_config = ConfigDict(extra="forbid")

    deal: Share | None = Field(default=None, description="1 when the brand is on deal that week")
    feat: Share | None = Field(default=None, description="share of the week the brand is featured")
    competitor_log_price: LogPrice | None = None
    previous_price: Price | None = None
    policy: Literal["thompson", "mean"] | None = None


class PriceRequest(BaseModel):
    """``POST /v1/price``: a Dominick's store and brand, and optional context (deal, feat, previous_price, ...)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"store": 2, "brand": 1, "context": {"deal": 1, "policy": "mean"}}]},
    )

    store: JsonInt = Field(ge=0, le=10_000)
    brand: JsonInt = Field(ge=0, le=10_000)
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
