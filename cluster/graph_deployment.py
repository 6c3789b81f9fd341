"""The product knowledge graph as a Ray Serve deployment: products named in a message, facts, recommendations.

Expected misses (an unknown product or order) are returned as values, not raised, so the ingress can answer 404
with what was looked up without unwrapping exceptions that crossed a process boundary. Recommendations come from
the ensemble of :mod:`cluster.recommenders`, fitted from the graph's purchase table when the replica starts; an
unknown customer gets the popularity fallback.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ray import serve

from ensemble.chat import ground_message, verify_dict
from ensemble.recommendation import RecommendEnsemble
from knowledge_graph.errors import UnknownOrderError, UnknownProductError
from knowledge_graph.graph import ProductGraph

__all__ = ["GraphDeployment", "GraphService"]

logger = logging.getLogger(__name__)


class GraphService:
    """Read-only questions to a loaded :class:`ProductGraph`, answered with JSON-ready dicts."""

    def __init__(self, graph: ProductGraph, source: str) -> None:
        self._graph = graph
        self._source = source
        self._products = len(graph.product_codes())
        self._recommenders = RecommendEnsemble(graph)

    @classmethod
    def load(cls, graph_dir: Path) -> GraphService:
        """Load a graph saved with :meth:`ProductGraph.save`."""
        graph = ProductGraph.load(graph_dir)
        logger.info("product graph loaded from %s", graph_dir)
        return cls(graph, str(graph_dir))

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

    def facts(self, stock_code: str) -> dict[str, Any]:
        """``{"found": True, "facts": ...}`` or ``{"found": False, "error": ...}``."""
        try:
            return {"found": True, "facts": self._graph.facts(stock_code).to_dict()}
        except UnknownProductError as err:
            return {"found": False, "error": str(err)}

    def recommend(self, customer_id: int, k: int, mode: str = "graph") -> dict[str, Any]:
        """``{"found": True, ...}`` with items, members and reasons (:meth:`RecommendEnsemble.recommend`), or
        ``{"found": False, "error": ...}`` when nothing can answer."""
        return self._recommenders.recommend(customer_id, k, mode)

    def status(self) -> dict[str, Any]:
        """Where the graph was loaded from, how many products it holds and the recommenders served."""
        return {"source": self._source, "products": self._products, "recommenders": self._recommenders.status()}


@serve.deployment(name="GraphDeployment")
class GraphDeployment:
    """Hosts one :class:`GraphService` per replica."""

    def __init__(self, graph_dir: str) -> None:
        self._service = GraphService.load(Path(graph_dir))

    def lookup(self, text: str, order_id: str | None = None, customer_id: int | None = None) -> dict[str, Any]:
        return self._service.lookup(text, order_id, customer_id)

    def ground(self, text: str, order_id: str | None = None, customer_id: int | None = None) -> dict[str, Any]:
        return self._service.ground(text, order_id, customer_id)

    def verify(
        self, reply: str, customer_id: int | None, invoice_no: str | None, stock_codes: list[str]
    ) -> dict[str, Any]:
        return self._service.verify(reply, customer_id, invoice_no, stock_codes)

    def facts(self, stock_code: str) -> dict[str, Any]:
        return self._service.facts(stock_code)

    def recommend(self, customer_id: int, k: int, mode: str = "graph") -> dict[str, Any]:
        return self._service.recommend(customer_id, k, mode)

    def status(self) -> dict[str, Any]:
        return self._service.status()
