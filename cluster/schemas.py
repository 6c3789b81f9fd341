"""HTTP request and response bodies of the ingress (pydantic; FastAPI validates requests against them)."""

from __future__ import annotations

from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictStr,
    ValidationError,
    ValidatorFunctionWrapHandler,
    field_validator,
)

from cluster.config import MAX_TEXT_LENGTH
from cluster.members import MemberName
from cluster.schema_types import CustomerId, JsonInt
from ensemble.chat import ChatMode
from ensemble.recommendation import MemberStatus as RecommenderStatus
from ensemble.recommendation import RecommendMode

__all__ = [
    "ChatMode",
    "ChatRequest",
    "ChatResponse",
    "ErrorResponse",
    "ExperimentAssignment",
    "Grounding",
    "HealthResponse",
    "MemberRun",
    "MemberStatus",
    "NotFoundResponse",
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


# Characters a message may not hold: C0 controls other than tab, line feed and carriage return, and DEL.
_CONTROL = "\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f"
# What str.strip() removes (str.isspace), spelt out so that every regex engine reads the pattern alike.
_SPACE = "\\t\\n\\x0b\\x0c\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000"
# Some character that is neither space nor control, and no control character anywhere.
MESSAGE_PATTERN = f"^[^{_CONTROL}]*[^{_SPACE}{_CONTROL}][^{_CONTROL}]*$"


def _is_control(char: str) -> bool:
    """A C0 control character other than tab, line feed and carriage return, or DEL."""
    return (ord(char) < 0x20 and char not in "\t\n\r") or char == "\x7f"


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
    adapter: str | None = Field(
        default=None,
        description="the caller's merchant intent adapter that decided the intent (None: the global version)",
    )
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
