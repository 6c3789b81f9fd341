"""The chat chain's members as calls through Ray Serve deployment handles (the ingress's side of the chain).

Every call carries the request's id, so a member's log lines name the request they served, and is bounded by
a timeout: a member that does not answer in time fails that call (the chain marks the answer ``degraded``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from ray.serve.handle import DeploymentHandle

from cluster.members import MemberName
from ensemble.chat import ChatMode

__all__ = ["HandleMembers", "await_member"]


async def await_member(response: Any, timeout_s: float) -> Any:
    """The result of a handle call (a ``DeploymentResponse``), or :class:`TimeoutError` after ``timeout_s``
    (the call is cancelled)."""
    try:
        return await asyncio.wait_for(response, timeout_s)
    except TimeoutError:
        response.cancel()
        raise


class HandleMembers:
    """:class:`ensemble.chat.ChatMembers` over the intent, graph and reply deployments for one request."""

    def __init__(self, handles: Mapping[str, DeploymentHandle[Any]], request_id: str, timeout_s: float) -> None:
        self._intent = handles[MemberName.INTENT]
        self._graph = handles[MemberName.GRAPH]
        self._reply = handles[MemberName.REPLY]
        self._request_id = request_id
        self._timeout_s = timeout_s
        self.batch_sizes: dict[str, int] = {}

    async def _call(self, response: Any) -> dict[str, Any]:
        result: dict[str, Any] = await await_member(response, self._timeout_s)
        return result

    async def classify(self, text: str, mode: ChatMode) -> dict[str, Any]:
        result = await self._call(self._intent.decide.remote((text, ChatMode(mode).value, self._request_id)))
        if "batch_size" in result:
            self.batch_sizes[MemberName.INTENT] = int(result["batch_size"])
        return result

    async def ground(self, text: str, order_id: str | None, customer_id: int | None) -> dict[str, Any]:
        return await self._call(self._graph.ground.remote(text, order_id, customer_id, request_id=self._request_id))

    async def reply(self, prompt: str) -> dict[str, Any]:
        result = await self._call(self._reply.generate.remote((prompt, self._request_id)))
        if "batch_size" in result:
            self.batch_sizes[MemberName.REPLY] = int(result["batch_size"])
        return result

    async def verify(
        self, reply: str, customer_id: int | None, invoice_no: str | None, stock_codes: list[str]
    ) -> dict[str, Any]:
        return await self._call(
            self._graph.verify.remote(reply, customer_id, invoice_no, stock_codes, request_id=self._request_id)
        )

    async def reference(self, text: str, intent: str | None) -> dict[str, Any]:
        return await self._call(self._reply.reference.remote(text, intent, request_id=self._request_id))
