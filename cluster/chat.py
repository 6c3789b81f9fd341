"""Answering requests from member outputs: the ingress's logic as plain async functions.

The members are passed in as async callables (in the cluster: calls through deployment handles; in tests:
plain functions), so everything here runs and is tested without Ray.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from cluster.errors import NotFoundError, RequestRejectedError
from cluster.schemas import (
    ChatMode,
    ChatRequest,
    ChatResponse,
    MemberRun,
    RecommendItem,
    RecommendRequest,
    RecommendResponse,
)

__all__ = ["ClassifyCall", "LookupCall", "RecommendCall", "answer_chat", "answer_recommend"]

ClassifyCall = Callable[[str], Awaitable[dict[str, Any]]]
LookupCall = Callable[[str, str | None, int | None], Awaitable[dict[str, Any]]]
RecommendCall = Callable[[int, int], Awaitable[dict[str, Any]]]

INTENT_MEMBER = "intent"
GRAPH_MEMBER = "knowledge_graph"

T = TypeVar("T")


async def _timed(call: Awaitable[T]) -> tuple[T, float]:
    started = time.perf_counter()
    result = await call
    return result, round(1000 * (time.perf_counter() - started), 3)


async def answer_chat(
    request: ChatRequest, classify: ClassifyCall, lookup: LookupCall, max_text_length: int
) -> ChatResponse:
    """Classify the message and find the products it names; in ``parallel`` mode both members run at once."""
    if len(request.text) > max_text_length:
        raise RequestRejectedError(
            "text",
            f"text has {len(request.text)} characters; this cluster accepts at most {max_text_length}",
        )
    intent_call = classify(request.text)
    if request.mode is ChatMode.PARALLEL:
        (intent, intent_ms), (graph, graph_ms) = await asyncio.gather(
            _timed(intent_call), _timed(lookup(request.text, request.order_id, request.customer_id))
        )
    else:
        intent, intent_ms = await _timed(intent_call)
        graph, graph_ms = await _timed(lookup(request.text, request.order_id, request.customer_id))
    graph_output = {key: value for key, value in graph.items() if key != "products"}
    graph_output["stock_codes"] = [product["stock_code"] for product in graph["products"]]
    return ChatResponse(
        intent=intent["intent"],
        confidence=intent["confidence"],
        products=graph["products"],
        version=intent["version"],
        mode=request.mode,
        members=[
            MemberRun(name=INTENT_MEMBER, output=intent, latency_ms=intent_ms),
            MemberRun(name=GRAPH_MEMBER, output=graph_output, latency_ms=graph_ms),
        ],
    )


async def answer_recommend(request: RecommendRequest, recommend: RecommendCall) -> RecommendResponse:
    """Top-k products with explanations; raises :class:`NotFoundError` for a customer not in the graph."""
    outcome, latency_ms = await _timed(recommend(request.customer_id, request.k))
    if not outcome["found"]:
        raise NotFoundError("customer_id", request.customer_id, outcome["error"])
    return RecommendResponse(
        customer_id=request.customer_id,
        items=[RecommendItem(**item) for item in outcome["items"]],
        latency_ms=latency_ms,
    )
