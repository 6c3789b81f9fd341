"""Answering requests from member outputs: the ingress's logic as plain async functions.

The members are passed in as async calls (in the cluster: calls through deployment handles; in tests: plain
objects), so everything here runs and is tested without Ray. A chat request runs the customer-service chain
of :mod:`ensemble.chat`: member by member from here (:func:`answer_chat`, the ``composed`` topology), or in one
call to the deployment that holds every member (:func:`answer_chat_in_one_call`, the ``colocated`` topology).
"""

from __future__ import annotations

import logging
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

__all__ = [
    "ChainCall",
    "RecommendCall",
    "UnreachableMembers",
    "answer_chat",
    "answer_chat_in_one_call",
    "answer_recommend",
    "to_response",
]

RecommendCall = Callable[[int, int, str], Awaitable[dict[str, Any]]]
ChainCall = Callable[[ChainRequest], Awaitable[dict[str, Any]]]

logger = logging.getLogger(__name__)

T = TypeVar("T")


async def _timed(call: Awaitable[T]) -> tuple[T, float]:
    started = time.perf_counter()
    result = await call
    return result, round(1000 * (time.perf_counter() - started), 3)


def to_response(answer: ChatAnswer) -> ChatResponse:
    """The HTTP body of a chain answer."""
    data = answer.to_dict()
    return ChatResponse.model_validate(data)


def _chain_request(request: ChatRequest, max_text_length: int) -> ChainRequest:
    """The chain's request for an HTTP body, or :class:`RequestRejectedError` naming what is wrong."""
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
    return chain_request


async def answer_chat(request: ChatRequest, members: ChatMembers, max_text_length: int) -> ChatResponse:
    """Run the chain (:func:`ensemble.chat.answer_message`) for one request; members fail soft inside it."""
    return to_response(await answer_message(_chain_request(request, max_text_length), members))


class UnreachableMembers:
    """:class:`ChatMembers` that all fail with the error of the one call that should have reached them."""

    def __init__(self, error: Exception) -> None:
        self._error = error

    async def classify(self, text: str, mode: ChainMode) -> dict[str, Any]:
        raise self._error

    async def ground(self, text: str, order_id: str | None, customer_id: int | None) -> dict[str, Any]:
        raise self._error

    async def reply(self, prompt: str) -> dict[str, Any]:
        raise self._error

    async def verify(
        self, reply: str, customer_id: int | None, invoice_no: str | None, stock_codes: list[str]
    ) -> dict[str, Any]:
        raise self._error

    async def reference(self, text: str, intent: str | None) -> dict[str, Any]:
        raise self._error


async def answer_chat_in_one_call(
    request: ChatRequest, chain: ChainCall, max_text_length: int
) -> tuple[ChatResponse, int | None]:
    """The chain's answer from one call to the deployment holding every member, with the size of the batch it
    was answered in. When that call fails or times out, every member counts as failed and the answer degrades
    (200, each member named in ``degraded``), as it does when every member deployment fails."""
    chain_request = _chain_request(request, max_text_length)
    try:
        data = dict(await chain(chain_request))
    except Exception as err:  # the member boundary of the colocated chain: degrade, never fail the request
        logger.exception("the co-located chat chain failed")
        return to_response(await answer_message(chain_request, UnreachableMembers(err))), None
    batch_size = data.pop("batch_size", None)
    return ChatResponse.model_validate(data), int(batch_size) if batch_size is not None else None


async def answer_recommend(request: RecommendRequest, recommend: RecommendCall) -> RecommendResponse:
    """Top-k products with explanations in the request's mode; an unknown customer gets the popularity
    fallback; ``recommend`` raises :class:`NotFoundError` only when nothing can answer (no popularity
    member either)."""
    body, latency_ms = await _timed(recommend(request.customer_id, request.k, request.mode.value))
    return RecommendResponse.model_validate({**body, "latency_ms": latency_ms})
