"""What the device sends to the cluster and how it reads the answer; shared by the sync and async clients."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import httpx

from edge.runtime.bundle import DevicePrediction
from edge.runtime.errors import ClusterError

__all__ = [
    "BUNDLES_LATEST_PATH",
    "CHAT_PATH",
    "IDEMPOTENCY_HEADER",
    "ClusterAnswer",
    "EdgeAnswer",
    "Source",
    "authorize",
    "chat_headers",
    "cluster_text_answer",
    "device_text_answer",
    "error_for_response",
    "error_for_transport",
    "is_permanent_rejection",
    "parse_answer",
]

CHAT_PATH = "/v1/chat"
BUNDLES_LATEST_PATH = "/v1/edge/bundles/latest"  # ?device=ID: the bundle of the device's rollout bucket
IDEMPOTENCY_HEADER = "Idempotency-Key"
Source = Literal["device", "cluster", "device-offline"]
# Client errors that retrying may fix; any other 4xx is the cluster refusing this message for good.
_RETRYABLE_4XX = frozenset({408, 409, 425, 429})


@dataclass(frozen=True)
class EdgeAnswer:
    """One classified message and where the answer came from."""

    text: str
    intent: str
    confidence: float
    source: Source
    latency_ms: float
    version: str  # the bundle's version id, or the cluster's when the cluster answered
    out_of_scope: bool = False  # the device (or, when it answered, the cluster) found the message out of scope
    oos_score: float | None = None  # the device's out-of-scope score; None when the bundle has no detection


@dataclass(frozen=True)
class ClusterAnswer:
    intent: str
    confidence: float
    version: str
    out_of_scope: bool = False


def device_text_answer(
    text: str, guess: DevicePrediction, source: Source, latency_ms: float, version: str
) -> EdgeAnswer:
    """The device's own answer to a message (``device``, or ``device-offline`` when the cluster was unreachable)."""
    return EdgeAnswer(
        text, guess.intent, guess.confidence, source, latency_ms, version, guess.out_of_scope, guess.oos_score
    )


def cluster_text_answer(text: str, guess: DevicePrediction, reply: ClusterAnswer, latency_ms: float) -> EdgeAnswer:
    """The cluster's answer to an escalated message; the out-of-scope verdict is the cluster's, the score the
    device's."""
    return EdgeAnswer(
        text, reply.intent, reply.confidence, "cluster", latency_ms, reply.version, reply.out_of_scope, guess.oos_score
    )


def authorize(http: httpx.Client | httpx.AsyncClient, api_key: str | None) -> None:
    """Send ``api_key`` as a bearer key with every request of ``http`` (nothing changes without a key)."""
    if api_key is not None:
        http.headers["Authorization"] = f"Bearer {api_key}"


def chat_headers(device_id: str, key: str, *, replay: bool) -> dict[str, str]:
    return {"X-Edge-Device": device_id, "X-Edge-Replay": "1" if replay else "0", IDEMPOTENCY_HEADER: key}


def error_for_transport(url: str, err: httpx.HTTPError) -> ClusterError:
    """A timeout is not worth retrying (it already cost the whole timeout); a refused connection may be."""
    retryable = not isinstance(err, httpx.TimeoutException)
    return ClusterError(f"POST {url} failed: {err!r}", retryable=retryable)


def error_for_response(url: str, response: httpx.Response) -> ClusterError | None:
    status = response.status_code
    if status < 400:
        return None
    retryable = status >= 500 or status in _RETRYABLE_4XX
    return ClusterError(f"POST {url} answered HTTP {status}", status=status, retryable=retryable)


def is_permanent_rejection(err: ClusterError) -> bool:
    """The cluster answered and refused this message for good (a 4xx that retrying cannot fix)."""
    return err.status is not None and 400 <= err.status < 500 and err.status not in _RETRYABLE_4XX


def parse_answer(url: str, response: httpx.Response) -> ClusterAnswer:
    try:
        body: Any = response.json()
    except ValueError as err:
        raise ClusterError(f"POST {url} answered a body that is not JSON: {response.text[:80]!r}") from err
    if not isinstance(body, dict):
        raise ClusterError(f"cluster answer must be a JSON object, got {type(body).__name__}")
    intent, confidence = body.get("intent"), body.get("confidence")
    if not isinstance(intent, str) or isinstance(confidence, bool) or not isinstance(confidence, int | float):
        raise ClusterError(f"cluster answer lacks a string 'intent' and a numeric 'confidence': {str(body)[:120]}")
    version = body.get("version")
    out_of_scope = body.get("out_of_scope") is True  # a cluster that does not say is taken as in scope
    return ClusterAnswer(intent, float(confidence), version if isinstance(version, str) else "cluster", out_of_scope)
