"""The chat chain's members as calls through Ray Serve deployment handles (the ingress's side of the chain).

Every call carries the request's id, so a member's log lines name the request they served, and is bounded by
a timeout: a member that does not answer in time fails that call (the chain marks the answer ``degraded``).

A reply deployment without a model answers every prompt "no model"; :class:`ReplyModelAbsence` remembers that
answer for a few seconds, and the chains of those seconds take it instead of a handle call (and a batch wait)
that cannot produce a reply. The answer is the same: the reference response, with the same reason.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

from ray.serve.handle import DeploymentHandle

from cluster.members import MemberName
from ensemble.chat import ChatMode

__all__ = ["HandleMembers", "ReplyModelAbsence", "await_member"]


async def await_member(response: Any, timeout_s: float) -> Any:
    """The result of a handle call (a ``DeploymentResponse``), or :class:`TimeoutError` after ``timeout_s``
    (the call is cancelled)."""
    try:
        return await asyncio.wait_for(response, timeout_s)
    except TimeoutError:
        response.cancel()
        raise


class ReplyModelAbsence:
    """The reply deployment's last "no model" answer, trusted for ``recheck_s`` seconds.

    A reply replica loads its model when it starts, so its answer changes only when the deployment is
    redeployed; after ``recheck_s`` the next chain asks the deployment again."""

    def __init__(self, recheck_s: float = 10.0) -> None:
        self._recheck_s = recheck_s
        self._answer: dict[str, Any] | None = None
        self._until = 0.0

    def known(self) -> dict[str, Any] | None:
        """The "no model" answer while it is trusted, else None (the deployment must be asked)."""
        if self._answer is None or time.monotonic() >= self._until:
            return None
        return dict(self._answer)

    def observe(self, result: dict[str, Any]) -> None:
        """Remember a "no model" answer (``text`` None with a ``reason``); any other answer forgets it."""
        if result.get("text") is None and result.get("reason"):
            self._answer = {"text": None, "version": result.get("version"), "reason": result["reason"]}
            self._until = time.monotonic() + self._recheck_s
        else:
            self._answer = None


class HandleMembers:
    """:class:`ensemble.chat.ChatMembers` over the intent, graph and reply deployments for one request;
    ``no_reply`` (shared by the ingress's requests) skips reply calls while the reply member has no model;
    ``unit`` (``customer:ID`` or ``session:ID``) is what a canary intent version's share is sticky by;
    ``merchant`` is the caller's, whose adapter the intent handle's multiplexed model id names."""

    def __init__(
        self,
        handles: Mapping[str, DeploymentHandle[Any]],
        request_id: str,
        timeout_s: float,
        no_reply: ReplyModelAbsence | None = None,
        unit: str | None = None,
        merchant: str | None = None,
    ) -> None:
        self._intent = handles[MemberName.INTENT]
        self._graph = handles[MemberName.GRAPH]
        self._reply = handles[MemberName.REPLY]
        self._request_id = request_id
        self._unit = unit
        self._merchant = merchant
        self._timeout_s = timeout_s
        self._no_reply = no_reply
        self.batch_sizes: dict[str, int] = {}

    async def _call(self, response: Any) -> dict[str, Any]:
        result: dict[str, Any] = await await_member(response, self._timeout_s)
        return result

    async def classify(self, text: str, mode: ChatMode) -> dict[str, Any]:
        result = await self._call(
            self._intent.decide.remote((text, ChatMode(mode).value, self._request_id, self._unit, self._merchant))
        )
        if "batch_size" in result:
            self.batch_sizes[MemberName.INTENT] = int(result["batch_size"])
        return result

    async def ground(self, text: str, order_id: str | None, customer_id: int | None) -> dict[str, Any]:
        return await self._call(self._graph.ground.remote(text, order_id, customer_id, request_id=self._request_id))

    async def reply(self, prompt: str) -> dict[str, Any]:
        known = self._no_reply.known() if self._no_reply is not None else None
        if known is not None:
            return known
        result = await self._call(self._reply.generate.remote((prompt, self._request_id)))
        if self._no_reply is not None:
            self._no_reply.observe(result)
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
