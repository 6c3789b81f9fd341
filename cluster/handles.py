"""The chat chain's members as calls through Ray Serve deployment handles (the ingress's side of the chain)."""

from __future__ import annotations

from typing import Any

from ray.serve.handle import DeploymentHandle

from ensemble.chat import ChatMode

__all__ = ["HandleMembers"]


class HandleMembers:
    """:class:`ensemble.chat.ChatMembers` over the intent, graph and reply deployments."""

    def __init__(
        self, intent: DeploymentHandle[Any], graph: DeploymentHandle[Any], reply: DeploymentHandle[Any]
    ) -> None:
        self._intent = intent
        self._graph = graph
        self._reply = reply

    async def classify(self, text: str, mode: ChatMode) -> dict[str, Any]:
        result: dict[str, Any] = await self._intent.decide.remote((text, ChatMode(mode).value))
        return result

    async def ground(self, text: str, order_id: str | None, customer_id: int | None) -> dict[str, Any]:
        result: dict[str, Any] = await self._graph.ground.remote(text, order_id, customer_id)
        return result

    async def reply(self, prompt: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._reply.generate.remote(prompt)
        return result

    async def verify(
        self, reply: str, customer_id: int | None, invoice_no: str | None, stock_codes: list[str]
    ) -> dict[str, Any]:
        result: dict[str, Any] = await self._graph.verify.remote(reply, customer_id, invoice_no, stock_codes)
        return result

    async def reference(self, text: str, intent: str | None) -> dict[str, Any]:
        result: dict[str, Any] = await self._reply.reference.remote(text, intent)
        return result
