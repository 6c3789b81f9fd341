"""Request and response bodies of ``POST /v1/vision`` (pydantic), and the route's OpenAPI description.

A photo comes as JSON (``image_base64``, standard base64 of the file's bytes) or as ``multipart/form-data`` (a
file part ``image``); both carry ``top_k``. The answer is the vision member's prediction
(:meth:`ensemble.vision.VisionPrediction.to_dict`) with the graph's facts and neighbours of the predicted product.
"""

from __future__ import annotations

import base64
import math
from importlib import resources
from typing import Any, Final, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictStr,
    ValidationError,
    ValidatorFunctionWrapHandler,
    field_validator,
)

from cluster.schema_types import CustomerId, JsonInt
from cluster.schemas import ErrorResponse, UnavailableResponse, ValidationErrorResponse
from ensemble.vision.images import MAX_IMAGE_BYTES

__all__ = [
    "BASE64_PATTERN",
    "DEFAULT_TOP_K",
    "MAX_TOP_K",
    "VISION_MAX_BODY_BYTES",
    "VISION_OPENAPI",
    "VISION_RESPONSES",
    "GraphFactItem",
    "GraphNeighbourItem",
    "VisionProduct",
    "VisionRequest",
    "VisionResponse",
    "grocery_product_node",
]

MAX_TOP_K: Final = 20
DEFAULT_TOP_K: Final = 5
# Standard base64 (RFC 4648 section 4): groups of four characters, the last one padded with '='.
BASE64_PATTERN: Final = "^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"
MAX_BASE64_CHARS: Final = 4 * math.ceil(MAX_IMAGE_BYTES / 3)
# A photo at the byte limit, base64-encoded, plus room for the rest of a JSON or multipart body.
VISION_MAX_BODY_BYTES: Final = MAX_BASE64_CHARS + 64 * 1024

# The grocery catalogue's products are graph nodes product:gs-<class_id> (the second merchant's stock codes).
GROCERY_CODE_PREFIX: Final = "gs-"


def grocery_product_node(class_id: int) -> str:
    """The graph node of a grocery catalogue class: ``product:gs-<class_id>``."""
    return f"product:{GROCERY_CODE_PREFIX}{class_id}"


def _example_photo() -> str:
    # A bundled test photo (Orange, 4.7 kB): the documented example reaches the model and gets a real answer.
    photo = resources.files("ensemble.datasets").joinpath("bundled", "grocery-store", "images", "test", "Fruit")
    return base64.b64encode(photo.joinpath("Orange", "Orange_001.jpg").read_bytes()).decode("ascii")


class VisionRequest(BaseModel):
    """``POST /v1/vision`` as JSON: a photo's bytes in standard base64, how many similar products to return,
    and the shopper when known."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"image_base64": _example_photo(), "top_k": 3}]},
    )

    image_base64: StrictStr = Field(
        min_length=4,
        max_length=MAX_BASE64_CHARS,
        pattern=BASE64_PATTERN,
        description=f"the photo file (JPEG, PNG, WebP, ...; at most {MAX_IMAGE_BYTES:,} bytes) in standard base64",
    )
    top_k: JsonInt = Field(default=DEFAULT_TOP_K, ge=1, le=MAX_TOP_K, description="similar products to return")
    customer_id: CustomerId | None = Field(default=None, description="the shopper, when known (kept in the logs)")

    @field_validator("image_base64", mode="wrap")
    @classmethod
    def _readable_base64(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> str:
        # The pattern states the rule in the schema; this says in words what was wrong with the value.
        try:
            checked: str = handler(value)
        except ValidationError as err:
            if isinstance(value, str) and 4 <= len(value) <= MAX_BASE64_CHARS:
                bad = next((i for i, c in enumerate(value) if not (c.isascii() and (c.isalnum() or c in "+/="))), None)
                where = f"character {value[bad]!r} at position {bad}" if bad is not None else f"length {len(value)}"
                raise ValueError(
                    f"image_base64 is not standard base64 ({where}); send the file's bytes encoded with the "
                    "alphabet A-Z a-z 0-9 + / and '=' padding to a multiple of 4 characters, no line breaks"
                ) from err
            if isinstance(value, str) and len(value) > MAX_BASE64_CHARS:
                raise ValueError(
                    f"image_base64 has {len(value):,} characters, more than a {MAX_IMAGE_BYTES:,}-byte photo needs "
                    f"({MAX_BASE64_CHARS:,}); send a smaller photo"
                ) from err
            raise
        return checked

    def photo(self) -> bytes:
        """The photo's bytes."""
        return base64.b64decode(self.image_base64, validate=True)


class VisionProduct(BaseModel):
    """A catalogue product: its class, coarse class, department, catalogue text and photo, and the score that
    ranked it (the calibrated probability for the prediction, cosine similarity for similar products)."""

    class_id: int
    class_name: str
    coarse_name: str
    department: str
    description: str
    iconic_image: str
    score: float


class GraphFactItem(BaseModel):
    """One fact the knowledge graph holds about the product, as subject, predicate and object
    (:class:`knowledge_graph.queries.Statement`); ``object_id`` is the object's node id when it is a node."""

    subject: str
    predicate: str
    object: str | float | int
    object_id: str | None = None


class GraphNeighbourItem(BaseModel):
    """A product that goes with the predicted one (:class:`knowledge_graph.related.RelatedProduct`): bought
    together (``co_purchased``, score = NPMI), else of the same category or department (score = text cosine)."""

    stock_code: str
    name: str
    relation: str
    score: float
    category: str | None = None
    department: str | None = None
    merchant: str


class VisionResponse(BaseModel):
    """The answer to ``POST /v1/vision``: the predicted product, its coarse class, the calibrated confidence,
    whether the photo looks out of the catalogue, similar products, the graph's facts and neighbours of the
    product (empty until the graph holds it), the vision version that answered and the latencies."""

    model_config = ConfigDict(extra="forbid")

    product: VisionProduct
    coarse_id: int
    coarse_name: str
    coarse_confidence: float
    confidence: float
    out_of_catalogue: bool
    similar: list[VisionProduct]
    facts: list[GraphFactItem]
    related: list[GraphNeighbourItem]
    version: str
    member: Literal["vision"] = "vision"
    latency_ms: dict[str, float]
    request_id: str | None = None


_MULTIPART_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "required": ["image"],
    "additionalProperties": False,
    "properties": {
        "image": {"type": "string", "format": "binary", "description": "the photo file"},
        "top_k": {"type": "integer", "minimum": 1, "maximum": MAX_TOP_K, "default": DEFAULT_TOP_K},
    },
}

# The request body of the route: FastAPI cannot declare two body forms, so the route reads the body itself.
VISION_OPENAPI: Final[dict[str, Any]] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": VisionRequest.model_json_schema()},
            "multipart/form-data": {"schema": _MULTIPART_SCHEMA},
        },
    }
}

VISION_RESPONSES: Final[dict[int | str, dict[str, Any]]] = {
    400: {"model": ErrorResponse, "description": "the body could not be read (a malformed multipart body)"},
    409: {"model": ErrorResponse, "description": "the Idempotency-Key was already used for another request"},
    413: {"model": ErrorResponse, "description": "the body or the photo is larger than the cluster accepts"},
    415: {"model": ErrorResponse, "description": "neither JSON nor multipart, or the bytes are not an image"},
    422: {
        "model": ValidationErrorResponse,
        "description": "the body does not match the schema, or the photo is empty, truncated or over the pixel limit",
    },
    503: {"model": UnavailableResponse, "description": "no vision version is trained, or the member did not answer"},
}
