"""The request-size limit and the request id of the HTTP ingress, applied before a route sees the request.

:class:`BodyLimit` is ASGI middleware: a body over the limit is refused with 413, told by ``Content-Length`` or
counted while it is streamed, before any of it is parsed. :func:`request_id` is the id every answer carries
(``X-Request-ID``, taken from the request when usable, else a new one).
"""

from __future__ import annotations

import uuid
from typing import ClassVar

from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cluster.config import MAX_BODY_BYTES
from cluster.schemas import ErrorResponse

__all__ = ["MAX_REQUEST_ID", "REQUEST_ID_HEADER", "BodyLimit", "request_id"]

REQUEST_ID_HEADER = "x-request-id"
MAX_REQUEST_ID = 128


class BodyLimit:
    """ASGI middleware: 413 for a body over the limit, told by ``Content-Length`` or counted while it is
    streamed, before any of it is parsed.

    Serve runs a frozen copy of the FastAPI app made when the ingress class is decorated, so the limit cannot
    travel on the app's state; it is a class attribute, set by the one :class:`Ingress` of the replica process.
    ``route_limits`` gives paths a limit of their own (a photo upload is larger than a chat message).
    """

    max_bytes = MAX_BODY_BYTES
    route_limits: ClassVar[dict[str, int]] = {}

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = BodyLimit.route_limits.get(str(scope.get("path", "")), BodyLimit.max_bytes)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _too_large(scope, send, int(declared), limit)
            return
        # Read the body up to the limit before the app sees any of it (Serve's proxy streams bodies in chunks
        # and need not pass Content-Length on), then replay it.
        chunks: list[bytes] = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            seen += len(chunk)
            if seen > limit:
                await _too_large(scope, send, seen, limit)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def _too_large(scope: Scope, send: Send, size: int, limit: int) -> None:
    request_id = _request_id_of(dict(scope.get("headers") or []).get(REQUEST_ID_HEADER.encode(), b"").decode())
    body = ErrorResponse(
        detail=f"request body has {size} bytes or more; this cluster accepts at most {limit} bytes: send less",
        request_id=request_id,
    )
    await JSONResponse(status_code=413, content=body.model_dump())(scope, _noop_receive, send)


async def _noop_receive() -> Message:
    return {"type": "http.disconnect"}


def _request_id_of(value: str | None) -> str:
    """The caller's request id when it is usable (printable, at most 128 characters), else a new one."""
    if value and len(value) <= MAX_REQUEST_ID and value.isprintable():
        return value
    return uuid.uuid4().hex


def request_id(request: Request) -> str:
    """This request's id (set by Serve's proxy from ``X-Request-ID``, or generated)."""
    found: str | None = getattr(request.state, "request_id", None)
    if found is None:
        found = _request_id_of(request.headers.get(REQUEST_ID_HEADER))
        request.state.request_id = found
    return found
