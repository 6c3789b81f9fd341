"""What the device sends to the cluster's ``POST /v1/vision`` and how it reads the answer.

The request is the JSON form ``{"image_base64": <standard base64 of the photo's bytes>, "top_k": k}`` with the
same ``Idempotency-Key`` and device headers as a chat escalation. A 200 answer carries ``product`` (the catalogue
entry of the predicted class), ``coarse_id``, ``coarse_name``, ``coarse_confidence``, ``confidence``,
``out_of_catalogue``, ``similar``, ``facts``, ``related``, ``version`` and ``request_id``.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import httpx

from edge.runtime.errors import ClusterError, OutboxError
from edge.runtime.outbox import OutboxRecord, Route
from edge.runtime.protocol import CHAT_PATH, Source
from edge.runtime.vision import ProductMatch, VisionGuess

__all__ = [
    "MAX_TOP_K",
    "VISION_PATH",
    "VisionAnswer",
    "device_answer",
    "parse_vision_answer",
    "replay_request",
    "vision_body",
]

VISION_PATH = "/v1/vision"
MAX_TOP_K = 20


@dataclass(frozen=True)
class VisionAnswer:
    """One classified photo and where the answer came from (the cluster adds graph facts and neighbours)."""

    product: ProductMatch
    coarse_id: int
    coarse_name: str
    coarse_confidence: float
    confidence: float
    out_of_catalogue: bool
    similar: tuple[ProductMatch, ...]
    source: Source
    latency_ms: float
    version: str  # the bundle's vision version id, or the cluster's when the cluster answered
    facts: tuple[Any, ...] = ()
    related: tuple[Any, ...] = ()
    request_id: str | None = None


def vision_body(photo: bytes, top_k: int) -> dict[str, object]:
    return {"image_base64": base64.b64encode(photo).decode("ascii"), "top_k": top_k}


def device_answer(guess: VisionGuess, source: Source, latency_ms: float, version: str) -> VisionAnswer:
    return VisionAnswer(
        product=guess.product,
        coarse_id=guess.coarse_id,
        coarse_name=guess.coarse_name,
        coarse_confidence=guess.coarse_confidence,
        confidence=guess.confidence,
        out_of_catalogue=guess.out_of_catalogue,
        similar=guess.similar,
        source=source,
        latency_ms=latency_ms,
        version=version,
    )


def _number(body: dict[str, Any], key: str, where: str) -> float:
    value = body.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ClusterError(f"{where} lacks a numeric {key!r}: {str(body)[:160]}")
    return float(value)


def _text(body: dict[str, Any], key: str, where: str) -> str:
    value = body.get(key)
    if not isinstance(value, str):
        raise ClusterError(f"{where} lacks a string {key!r}: {str(body)[:160]}")
    return value


def _product(value: object, where: str) -> ProductMatch:
    if not isinstance(value, dict):
        raise ClusterError(f"{where} must be an object, got {str(value)[:120]}")
    class_id = value.get("class_id")
    if isinstance(class_id, bool) or not isinstance(class_id, int):
        raise ClusterError(f"{where} lacks an integer 'class_id': {str(value)[:160]}")
    return ProductMatch(
        class_id=class_id,
        class_name=_text(value, "class_name", where),
        coarse_name=_text(value, "coarse_name", where),
        department=_text(value, "department", where),
        description=_text(value, "description", where),
        iconic_image=_text(value, "iconic_image", where),
        score=_number(value, "score", where),
    )


def parse_vision_answer(url: str, response: httpx.Response, latency_ms: float) -> VisionAnswer:
    """The cluster's answer as a :class:`VisionAnswer` (``source="cluster"``); :class:`ClusterError` if unusable."""
    try:
        body: Any = response.json()
    except ValueError as err:
        raise ClusterError(f"POST {url} answered a body that is not JSON: {response.text[:80]!r}") from err
    where = f"the answer of POST {url}"
    if not isinstance(body, dict):
        raise ClusterError(f"{where} must be a JSON object, got {type(body).__name__}")
    similar, facts, related = body.get("similar", []), body.get("facts", []), body.get("related", [])
    if not all(isinstance(v, list) for v in (similar, facts, related)):
        raise ClusterError(f"{where} has 'similar', 'facts' or 'related' that is not a list: {str(body)[:160]}")
    coarse_id, out_of_catalogue = body.get("coarse_id"), body.get("out_of_catalogue")
    if isinstance(coarse_id, bool) or not isinstance(coarse_id, int) or not isinstance(out_of_catalogue, bool):
        raise ClusterError(f"{where} lacks an integer 'coarse_id' and a boolean 'out_of_catalogue'")
    version, request_id = body.get("version"), body.get("request_id")
    return VisionAnswer(
        product=_product(body.get("product"), f"{where}: product"),
        coarse_id=coarse_id,
        coarse_name=_text(body, "coarse_name", where),
        coarse_confidence=_number(body, "coarse_confidence", where),
        confidence=_number(body, "confidence", where),
        out_of_catalogue=out_of_catalogue,
        similar=tuple(_product(item, f"{where}: similar") for item in similar),
        source="cluster",
        latency_ms=latency_ms,
        version=version if isinstance(version, str) else "cluster",
        facts=tuple(facts),
        related=tuple(related),
        request_id=request_id if isinstance(request_id, str) else None,
    )


def replay_request(record: OutboxRecord) -> tuple[str, dict[str, object]]:
    """The route and JSON body that deliver a queued record: a photo to /v1/vision, a message to /v1/chat."""
    if record.route is Route.VISION:
        if record.photo is None:
            raise OutboxError(f"queued photo record {record.id} holds no photo bytes; the outbox file is damaged")
        return VISION_PATH, vision_body(record.photo, 1)
    return CHAT_PATH, {"text": record.text}
