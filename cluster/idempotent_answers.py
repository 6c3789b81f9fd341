"""Answering a request sent with an ``Idempotency-Key`` once, and its repeats with the first answer.

Devices replaying their outbox send each event with the key it was first sent with. The first request with a key
is answered and its answer kept (in the ingress's :class:`~cluster.idempotency.IdempotencyStore`); a repeat of the
same request gets that answer again with ``Idempotent-Replayed: true`` and is not answered twice; the key with
another request (told apart by a fingerprint of the request) is :class:`~cluster.errors.KeyReusedError` (409).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

from fastapi import Header, Response
from pydantic import BaseModel

from cluster.errors import KeyReusedError
from cluster.idempotency import MAX_KEY_LENGTH, IdempotencyStore

__all__ = ["IdempotencyKey", "answer_once"]

Answer = TypeVar("Answer", bound=BaseModel)

# The header devices send with each event they replay from their outbox.
IdempotencyKey = Annotated[
    str | None, Header(alias="Idempotency-Key", min_length=1, max_length=MAX_KEY_LENGTH, pattern="^[!-~]+$")
]


async def answer_once(
    delivered: IdempotencyStore,
    key: str,
    fingerprint: str,
    response: Response,
    model: type[Answer],
    answer: Callable[[], Awaitable[Answer]],
) -> Answer:
    """The first answer again for a repeat of the same request (``Idempotent-Replayed: true`` set on
    ``response``), :class:`KeyReusedError` for the key with another request, else ``answer()``, kept for the
    repeats."""
    kept = await asyncio.to_thread(delivered.recall, key)
    if kept is not None:
        if kept[0] != fingerprint:
            raise KeyReusedError(key)
        response.headers["Idempotent-Replayed"] = "true"
        return model.model_validate_json(kept[1])
    await asyncio.to_thread(delivered.seen_or_record, key)
    given = await answer()
    await asyncio.to_thread(delivered.remember, key, fingerprint, given.model_dump_json())
    return given
