"""Answering requests from member outputs: the ingress's logic as plain async functions.

The members are passed in as async calls (in the cluster: calls through deployment handles; in tests: plain
objects), so everything here runs and is tested without Ray. A chat request runs the customer-service chain
of :mod:`ensemble.chat`.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from cluster.errors import RequestRejectedError
from cluster.schemas import (
    ChatRequest,
    ChatResponse,
    RecommendRequest,
    RecommendResponse,
)
from ensemble.chat import ChatAnswer, ChatInputError, ChatMembers, answer_message
from ensemble.chat import ChatMode as ChainMode
from ensemble.chat import ChatRequest as ChainRequest

__all__ = ["RecommendCall", "answer_chat", "answer_recommend", "to_response"]

RecommendCall = Callable[[int, int, str], Awaitable[dict[str, Any]]]

T = TypeVar("T")


async def _timed(call: Awaitable[T]) -> tuple[T, float]:
    started = time.perf_counter()
    result = await call
    return result, round(1000 * (time.perf_counter() - started), 3)


def to_response(answer: ChatAnswer) -> ChatResponse:
    """The HTTP body of a chain answer."""
    data = answer.to_dict()
    return ChatResponse.model_validate(data)


async def answer_chat(request: ChatRequest, members: ChatMembers, max_text_length: int) -> ChatResponse:
    """Run the chain (:func:`ensemble.chat.answer_message`) for one request; members fail soft inside it."""
    if len(request.text) > max_text_length:
        raise RequestRejectedError(
            "text",
            f"text has {len(request.text)} characters; this cluster accepts at most {max_text_length}",
        )
    try:
        chain_request = ChainRequest(
            text=request.text,
            mode=ChainMode(request.mode.value),
            customer_id=request.customer_id,
            order_id=request.order_id,
            max_length=max_text_length,
        )
    except ChatInputError as err:
        raise RequestRejectedError("text", str(err)) from err
    return to_response(await answer_message(chain_request, members))


async def answer_recommend(request: RecommendRequest, recommend: RecommendCall) -> RecommendResponse:
    """Top-k products with explanations in the request's mode; an unknown customer gets the popularity
    fallback; ``recommend`` raises :class:`NotFoundError` only when nothing can answer (no popularity
    member either)."""
    body, latency_ms = await _timed(recommend(request.customer_id, request.k, request.mode.value))
    return RecommendResponse.model_validate({**body, "latency_ms": latency_ms})
