"""The product knowledge graph as a Ray Serve deployment: products named in a message, facts, recommendations.

Expected misses (an unknown product, or a customer nothing can recommend for) are returned as
:class:`~cluster.outcomes.MemberOutcome` values, not raised, so the ingress can answer 404 with what was looked up
without unwrapping exceptions that crossed a process boundary. Recommendations come from the recommendation
ensemble, fitted from the graph's purchase table when the replica starts; an unknown customer gets the
popularity fallback.

``user_config = {"graph_dir"}`` serves the graph saved in another directory (:func:`reload_graph`): it is
loaded beside the one serving, smoke-checked (one recommendation) and swapped in.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ray import serve

from cluster.errors import SmokeCheckError
from cluster.metrics import placement
from cluster.outcomes import MemberOutcome, OutcomeStatus
from cluster.reloading import ReloadOutcome, report_outcomes, swap_in
from ensemble.chat import ground_message, verify_dict
from ensemble.recommendation import RecommendEnsemble, RecommendMode
from knowledge_graph.errors import UnknownOrderError, UnknownProductError
from knowledge_graph.graph import ProductGraph
from knowledge_graph.store import MANIFEST

__all__ = ["GraphDeployment", "GraphService", "graph_version", "reload_graph"]

logger = logging.getLogger(__name__)


def graph_version(graph_dir: Path) -> str:
    """``graph:<first 12 hex digits of the manifest's sha256>``: changes whenever any saved table changes."""
    digest = hashlib.sha256((graph_dir / MANIFEST).read_bytes()).hexdigest()
    return f"graph:{digest[:12]}"


class GraphService:
    """Read-only questions to a loaded :class:`ProductGraph`, answered with JSON-ready dicts."""

    def __init__(self, graph: ProductGraph, source: str, version: str | None = None) -> None:
        self._graph = graph
        self._source = source
        self._version = version
        self._products = len(graph.product_codes())
        self._recommenders = RecommendEnsemble(graph)

    @classmethod
    def load(cls, graph_dir: Path) -> GraphService:
        """Load a graph saved with :meth:`ProductGraph.save`."""
        graph = ProductGraph.load(graph_dir)
        logger.info("product graph loaded from %s", graph_dir)
        return cls(graph, str(graph_dir), graph_version(graph_dir))

    def lookup(self, text: str, order_id: str | None = None, customer_id: int | None = None) -> dict[str, Any]:
        """Products the text mentions with their facts; the order and whether the customer is known."""
        mentions = self._graph.mentions(text)
        products = [self._graph.facts(match.stock_code).to_dict() for match in mentions]
        result: dict[str, Any] = {"mentions": [match.to_dict() for match in mentions], "products": products}
        if order_id is not None:
            try:
                result["order"] = self._graph.order(order_id).to_dict()
            except UnknownOrderError as err:
                result["order"] = None
                result["order_error"] = str(err)
        if customer_id is not None:
            result["customer_known"] = self._graph.has_customer(customer_id)
        return result

    def ground(self, text: str, order_id: str | None = None, customer_id: int | None = None) -> dict[str, Any]:
        """Entities, products, order and customer history of a message (:func:`ensemble.chat.ground_message`)."""
        return ground_message(self._graph, text, order_id, customer_id)

    def verify(
        self, reply: str, customer_id: int | None, invoice_no: str | None, stock_codes: list[str]
    ) -> dict[str, Any]:
        """The grounding report of a reply: every claim it states, supported by the graph or not."""
        return verify_dict(self._graph, reply, customer_id, invoice_no, stock_codes)

    def facts(self, stock_code: str) -> MemberOutcome:
        """The product's facts, or a miss on ``stock_code``."""
        try:
            return MemberOutcome.ok(self._graph.facts(stock_code).to_dict())
        except UnknownProductError as err:
            return MemberOutcome.not_found("stock_code", stock_code, str(err))

    def context(self, node: str, limit: int = 10) -> dict[str, Any]:
        """``{"facts", "related"}`` of a node id (:meth:`ProductGraph.context`): empty lists for a node the
        graph does not hold."""
        facts, related = self._graph.context(node, limit)
        return {"facts": [f.to_dict() for f in facts], "related": [n.to_dict() for n in related]}

    def recommend(self, customer_id: int, k: int, mode: str = RecommendMode.GRAPH) -> MemberOutcome:
        """Items, members and reasons (:meth:`RecommendEnsemble.recommend`), or a miss on ``customer_id``
        when nothing can answer."""
        answer = self._recommenders.recommend(customer_id, k, mode)
        if not answer.pop("found"):
            return MemberOutcome.not_found("customer_id", customer_id, str(answer["error"]))
        return MemberOutcome.ok({**answer, "version": self._version})

    @property
    def version(self) -> str | None:
        """The digest of the graph's saved manifest (:func:`graph_version`)."""
        return self._version

    def status(self) -> dict[str, Any]:
        """The graph's version (the digest of its saved manifest), where it was loaded from, how many products
        it holds and the recommenders served."""
        return {
            "version": self._version,
            "source": self._source,
            "products": self._products,
            "recommenders": self._recommenders.status(),
        }


def _smoke(service: GraphService) -> str:
    """One recommendation for an unknown customer (the popularity fallback, or a miss): the graph answers."""
    outcome = service.recommend(-1, 1)
    if outcome.status not in (OutcomeStatus.OK, OutcomeStatus.NOT_FOUND):
        raise SmokeCheckError(f"the probe recommendation answered {outcome.status}")
    return str(service.version)


def reload_graph(current: GraphService, graph_dir: str, swap: Callable[[GraphService], None]) -> ReloadOutcome:
    """Load the graph saved in ``graph_dir`` beside ``current``, check it and ``swap`` it in; on failure
    ``current`` keeps serving."""
    return swap_in("graph", graph_dir, current.version, lambda: GraphService.load(Path(graph_dir)), _smoke, swap)


@serve.deployment(name="GraphDeployment")
class GraphDeployment:
    """Hosts one :class:`GraphService` per replica."""

    def __init__(self, graph_dir: str) -> None:
        self._service = GraphService.load(Path(graph_dir))

    async def reconfigure(self, user_config: Mapping[str, Any]) -> None:
        """Serve the graph saved in ``user_config["graph_dir"]`` (absent: keep the one loaded at start)."""
        if not user_config.get("graph_dir"):
            return
        outcome = await asyncio.to_thread(reload_graph, self._service, str(user_config["graph_dir"]), self._swap)
        report_outcomes(user_config, [outcome])

    def _swap(self, service: GraphService) -> None:
        self._service = service

    def lookup(self, text: str, order_id: str | None = None, customer_id: int | None = None) -> dict[str, Any]:
        return self._service.lookup(text, order_id, customer_id)

    def ground(
        self, text: str, order_id: str | None = None, customer_id: int | None = None, request_id: str = ""
    ) -> dict[str, Any]:
        logger.debug("grounding request %s", request_id)
        return self._service.ground(text, order_id, customer_id)

    def verify(
        self,
        reply: str,
        customer_id: int | None,
        invoice_no: str | None,
        stock_codes: list[str],
        request_id: str = "",
    ) -> dict[str, Any]:
        logger.debug("verifying the reply of request %s", request_id)
        return self._service.verify(reply, customer_id, invoice_no, stock_codes)

    def facts(self, stock_code: str) -> MemberOutcome:
        return self._service.facts(stock_code)

    def context(self, node: str, limit: int = 10) -> dict[str, Any]:
        return self._service.context(node, limit)

    def recommend(
        self, customer_id: int, k: int, mode: str = RecommendMode.GRAPH, request_id: str = ""
    ) -> MemberOutcome:
        logger.debug("recommending for request %s", request_id)
        return self._service.recommend(customer_id, k, mode)

    def status(self) -> dict[str, Any]:
        return {**self._service.status(), **placement()}
