"""The chat chain with every member in one process: one intent pass per batch, the rest of each chain in-process.

In the ``colocated`` topology one deployment (:mod:`cluster.ensemble_deployment`) holds the intent stage, the
product graph and the reply service, and the ingress calls it once per chat request. :class:`ColocatedChain` is
that replica's logic without Ray, so it is tested directly: :meth:`ColocatedChain.answer_batch` classifies a
batch of requests with one pass through the intent stage per chat mode (:meth:`IntentRunner.decide`), then runs
the rest of each request's chain (:func:`ensemble.chat.answer_message`) against the graph and reply service in
this process. The answers are the ones the composed topology gives, member for member; only the latencies
differ (no handle hop between members). A failing intent pass degrades every answer of its batch the way a
failing intent deployment does.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from cluster.graph_deployment import GraphService
from cluster.intent_deployment import IntentRunner
from ensemble.chat import ChatMode, ChatRequest, ReplyService, answer_message
from ensemble.members.intent_adapter import ServedAdapter

__all__ = ["ColocatedChain", "PreparedMembers"]


class PreparedMembers:
    """:class:`ensemble.chat.ChatMembers` for one request whose intent decision was made with its batch.

    ``classify`` returns that decision (or raises the batch's error); the other members are direct calls on the
    objects of this process. Every intent member of the decision that reports no latency of its own gets the
    batch's intent time."""

    def __init__(
        self,
        decision: dict[str, Any] | None,
        intent_error: Exception | None,
        intent_ms: float,
        graph: GraphService,
        replies: ReplyService,
    ) -> None:
        self._decision = decision
        self._intent_error = intent_error
        self._intent_ms = intent_ms
        self._graph = graph
        self._replies = replies

    async def classify(self, text: str, mode: ChatMode) -> dict[str, Any]:
        if self._decision is None:
            raise self._intent_error or RuntimeError("no intent decision was made for this request")
        members = [{"latency_ms": self._intent_ms, **member} for member in self._decision.get("members", [])]
        return {**self._decision, "members": members}

    async def ground(self, text: str, order_id: str | None, customer_id: int | None) -> dict[str, Any]:
        return self._graph.ground(text, order_id, customer_id)

    async def reply(self, prompt: str) -> dict[str, Any]:
        return self._replies.generate([prompt])[0]

    async def verify(
        self, reply: str, customer_id: int | None, invoice_no: str | None, stock_codes: list[str]
    ) -> dict[str, Any]:
        return self._graph.verify(reply, customer_id, invoice_no, stock_codes)

    async def reference(self, text: str, intent: str | None) -> dict[str, Any]:
        return self._replies.reference(text, intent)


class ColocatedChain:
    """The chat chain over an intent runner, a graph service and a reply service loaded in this process."""

    def __init__(self, intent: IntentRunner, graph: GraphService, replies: ReplyService) -> None:
        self.intent = intent
        self.graph = graph
        self.replies = replies

    def answer_batch(
        self,
        requests: Sequence[ChatRequest],
        units: Sequence[str | None] | None = None,
        request_ids: Sequence[str] | None = None,
        adapter: ServedAdapter | None = None,
        merchants: Sequence[str | None] | None = None,
        adapter_error: str | None = None,
    ) -> list[dict[str, Any]]:
        """``ChatAnswer.to_dict()`` of every request, in order; blocking (run it in a worker thread). ``units``
        and ``request_ids`` pick a canary's requests, ``adapter`` answers its merchant's requests
        (:meth:`IntentRunner.decide`)."""
        started = time.perf_counter()
        decisions: list[dict[str, Any]] | None = None
        error: Exception | None = None
        try:
            decisions = self.intent.decide(
                [(r.text, ChatMode(r.mode).value) for r in requests],
                units,
                request_ids,
                adapter,
                merchants,
                adapter_error,
            )
        except Exception as err:  # a member boundary: every answer of the batch degrades, none fails
            error = err
        intent_ms = round(1000 * (time.perf_counter() - started), 3)

        async def answer_all() -> list[dict[str, Any]]:
            answers = []
            for i, request in enumerate(requests):
                decision = decisions[i] if decisions is not None else None
                members = PreparedMembers(decision, error, intent_ms, self.graph, self.replies)
                answers.append((await answer_message(request, members)).to_dict())
            return answers

        return asyncio.run(answer_all())
