"""The chat chain's members in one Ray Serve deployment (the ``colocated`` topology).

One replica loads the intent stage (:class:`IntentRunner`), the product graph (:class:`GraphService`) and the
reply service, and answers a whole chat request in one call: ``@serve.batch`` groups concurrent chat requests,
the batch goes through the intent stage once per chat mode, and the rest of each chain runs in this process
(:class:`~cluster.colocated.ColocatedChain`). It also answers the graph's routes (``recommend``, ``facts``,
``product_context``) and each co-located member's ``status``, so the separate intent, graph and reply deployments
are not started.

The members are set up as their own deployments set them up (:class:`IntentRunner`, :meth:`GraphService.load`,
:func:`~cluster.reply_deployment.open_reply_service`). ``user_config`` is the intent deployment's (``{"version",
"ensemble_version", "max_batch_size", "batch_wait_timeout_s"}``) plus ``reply_version`` and ``graph_dir`` for the
other co-located members: a new version is loaded in a worker thread, smoke-checked and swapped in while the
old one keeps answering (:mod:`cluster.reloading`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ray import serve

from cluster.colocated import ColocatedChain
from cluster.graph_deployment import GraphService, reload_graph
from cluster.intent_deployment import AdapterCache, IntentRunner
from cluster.members import MemberName
from cluster.metrics import ReplicaMetrics, placement
from cluster.outcomes import MemberOutcome
from cluster.reloading import report_outcomes, wanted
from cluster.reply_deployment import open_reply_service, reload_reply
from ensemble.chat import ChatRequest, ReplyService
from ensemble.recommendation import RecommendMode
from ensemble.registry import Registry

__all__ = ["EnsembleDeployment"]

logger = logging.getLogger(__name__)


@serve.deployment(name="EnsembleDeployment")
class EnsembleDeployment:
    """Hosts the intent runner, the graph service and the reply service of one replica."""

    def __init__(
        self,
        registry_dir: str,
        intent_version: str | None,
        graph_dir: str,
        reply_version: str | None,
        reply_model_path: str | None,
        reference_data: str | None,
        max_batch_size: int,
        batch_wait_timeout_s: float,
        engine: str = "torch",
        cache_dir: str | None = None,
        max_adapters: int = 4,
    ) -> None:
        self._registry = Registry(Path(registry_dir))
        self._chain = ColocatedChain(
            IntentRunner(self._registry, intent_version, engine, Path(cache_dir) if cache_dir is not None else None),
            GraphService.load(Path(graph_dir)),
            open_reply_service(self._registry, reply_version, reply_model_path, reference_data),
        )
        self._adapters = AdapterCache(self._chain.intent.adapters, max_adapters)
        self._metrics = ReplicaMetrics(MemberName.INTENT)  # a batch is one pass of the intent stage
        self._set_batching(max_batch_size, batch_wait_timeout_s)
        logger.info("ensemble deployment ready: reply %s", self._chain.replies.status())

    def _set_batching(self, max_batch_size: int | None, batch_wait_timeout_s: float | None) -> None:
        # @serve.batch adds these setters to the method; its type hints do not declare them.
        batched: Any = self.chat
        if max_batch_size is not None:
            batched.set_max_batch_size(int(max_batch_size))
        if batch_wait_timeout_s is not None:
            batched.set_batch_wait_timeout_s(float(batch_wait_timeout_s))

    async def reconfigure(self, user_config: Mapping[str, Any]) -> None:
        """Apply a new ``user_config``; a version that fails to load or its smoke check leaves the current one
        serving (and the replica reports it to the rollout that asked)."""
        self._set_batching(user_config.get("max_batch_size"), user_config.get("batch_wait_timeout_s"))
        outcomes = [await asyncio.to_thread(self._chain.intent.apply, user_config)]
        candidate = await asyncio.to_thread(self._chain.intent.apply_candidate, user_config)
        if candidate is not None:
            outcomes.append(candidate)
        if "reply_version" in user_config:
            outcomes.append(
                await asyncio.to_thread(
                    reload_reply,
                    self._registry,
                    self._chain.replies,
                    wanted(user_config, "reply_version"),
                    self._swap_reply,
                )
            )
        if user_config.get("graph_dir"):
            outcomes.append(
                await asyncio.to_thread(
                    reload_graph, self._chain.graph, str(user_config["graph_dir"]), self._swap_graph
                )
            )
        report_outcomes(user_config, outcomes)

    def _swap_reply(self, service: ReplyService) -> None:
        self._chain.replies = service

    def _swap_graph(self, service: GraphService) -> None:
        self._chain.graph = service

    @serve.batch(max_batch_size=8, batch_wait_timeout_s=0.005)
    async def chat(self, requests: list[tuple[ChatRequest, str, str | None, str | None]]) -> list[dict[str, Any]]:
        """Whole chain answers for a batch of ``(request, request_id, unit, merchant)`` (``unit``: the customer or
        session a canary's share is sticky by; ``merchant``: the caller's, whose intent adapter the batch's
        multiplexed model id names), in a thread so the replica keeps accepting requests; each answer says how
        many requests its batch held (``batch_size``)."""
        started = time.perf_counter()
        adapter, adapter_error = await self._adapters.for_batch()
        answers = await asyncio.to_thread(
            self._chain.answer_batch,
            [request[0] for request in requests],
            [request[2] if len(request) > 2 else None for request in requests],
            [request[1] for request in requests],
            adapter,
            [request[3] if len(request) > 3 else None for request in requests],
            adapter_error,
        )
        self._metrics.observe_batch(len(requests), time.perf_counter() - started)
        logger.debug("chat batch of %s for requests %s", len(requests), [request[1] for request in requests])
        return [{**answer, "batch_size": len(requests)} for answer in answers]

    def facts(self, stock_code: str) -> MemberOutcome:
        return self._chain.graph.facts(stock_code)

    def product_context(self, product_id: str, k: int = 5, request_id: str = "") -> dict[str, Any]:
        return self._chain.graph.product_context(product_id, k)

    def recommend(
        self, customer_id: int, k: int, mode: str = RecommendMode.GRAPH, request_id: str = ""
    ) -> MemberOutcome:
        logger.debug("recommending for request %s", request_id)
        return self._chain.graph.recommend(customer_id, k, mode)

    def status(self, member: str = MemberName.INTENT) -> dict[str, Any]:
        """The status of one co-located member, as its own deployment would give it, with where it runs."""
        chain = self._chain
        where = {**placement(), "deployment": "EnsembleDeployment"}
        if member == MemberName.GRAPH:
            return {**chain.graph.status(), **where}
        if member == MemberName.REPLY:
            status = {**chain.replies.status(), **where}
        elif member == MemberName.INTENT:
            status = {**chain.intent.status(), **where}
        else:
            raise ValueError(f"member {member!r} is not served by the ensemble deployment")
        self._metrics.serving(status["version"], member)
        return status
