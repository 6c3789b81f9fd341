"""The recommendation ensemble a serving replica answers with: the product graph's own recommender plus
item-kNN and popularity fitted from the graph's purchase table at start-up.

Three modes (:class:`RecommendMode`): ``graph`` (the knowledge graph's list), ``parallel`` (every member's
list side by side; ``items`` stays the graph's list) and ``fusion`` (weighted reciprocal-rank fusion,
:func:`~ensemble.recommendation.fusion.fuse_rankings`). A customer the graph does not know gets the
popularity list, marked as a fallback. Every answer names what each member did (:class:`MemberStatus`).
Everything returns JSON-ready dicts, so it runs without Ray.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any

import pandas as pd

from ensemble.recommendation.base import RecommendedItem
from ensemble.recommendation.errors import RecommendationError, UnknownModeError, UnknownUserError
from ensemble.recommendation.fusion import FusionRecommender, fuse_rankings
from ensemble.recommendation.graph import KnowledgeGraphMember
from ensemble.recommendation.interactions import ITEM, TEXT, TIME, USER
from ensemble.recommendation.item_knn import ItemKNNMember
from ensemble.recommendation.popularity import PopularityMember
from knowledge_graph import ProductGraph

__all__ = [
    "FIXED_WEIGHTS",
    "FIXED_WEIGHTS_SOURCE",
    "NOT_SERVED",
    "MemberStatus",
    "RecommendEnsemble",
    "RecommendMode",
    "purchase_interactions",
]

logger = logging.getLogger(__name__)


class RecommendMode(StrEnum):
    """How the served ensemble answers: the graph alone, every member side by side, or the lists fused."""

    GRAPH = "graph"
    PARALLEL = "parallel"
    FUSION = "fusion"


class MemberStatus(StrEnum):
    """What a member did for one answer."""

    RAN = "ran"
    FAILED = "failed"
    IDLE = "idle"  # fitted, but not asked in this mode or not needed for this answer
    SKIPPED = "skipped"  # could not be fitted on the graph's purchase table
    NOT_SERVED = "not_served"  # no registry version to serve


GRAPH = KnowledgeGraphMember.name
ITEM_KNN = ItemKNNMember.name
POPULARITY = PopularityMember.name

# Fusion weights of the offline Online Retail evaluation (`shopmesh eval recommenders`, fit_fusion_weights on
# the validation window); served as they are because refitting them needs a second graph built at start-up.
FIXED_WEIGHTS: dict[str, float] = {GRAPH: 4.0, ITEM_KNN: 1.0, POPULARITY: 0.0}
FIXED_WEIGHTS_SOURCE = (
    "fixed weights from the offline evaluation (fit_fusion_weights on the Online Retail validation window): "
    "graph 4, item_knn 1, popularity 0"
)

NOT_SERVED: dict[str, str] = {
    "bpr": "not served: BPR needs training and the registry holds no `recommender` version",
    "content": "not served: the content member needs a text encoder and the registry holds no `recommender` version",
}

FUSION_DEPTH = 100  # each member's list length that fusion ranks over


def purchase_interactions(graph: ProductGraph) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The graph's sale lines with a customer as ``(interactions, catalogue)`` in the recommendation layout."""
    lines = graph.lines
    if lines.empty or "CustomerID" not in lines.columns:
        empty = pd.DataFrame({USER: pd.Series(dtype=str), ITEM: pd.Series(dtype=str), TIME: pd.Series(dtype="M8[ns]")})
        return empty, pd.DataFrame({ITEM: pd.Series(dtype=str), TEXT: pd.Series(dtype=str)})
    keep = lines["CustomerID"].notna()
    if "sale" in lines.columns:
        keep &= lines["sale"].astype(bool)
    sales = lines.loc[keep.to_numpy()]
    interactions = pd.DataFrame(
        {
            USER: sales["CustomerID"].astype("int64").astype(str).to_numpy(),
            ITEM: sales["StockCode"].astype(str).to_numpy(),
            TIME: sales["InvoiceDate"].to_numpy(),
        }
    )
    catalog = pd.DataFrame(
        {ITEM: lines["StockCode"].astype(str).to_numpy(), TEXT: lines["Description"].astype(str).to_numpy()}
    ).drop_duplicates(ITEM)
    return interactions, catalog.reset_index(drop=True)


def _elapsed_ms(started: float) -> float:
    return round(1000 * (time.perf_counter() - started), 3)


def _mode(mode: RecommendMode | str) -> RecommendMode:
    try:
        return RecommendMode(mode)
    except ValueError as err:
        raise UnknownModeError(mode, tuple(RecommendMode)) from err


class RecommendEnsemble:
    """Graph, item-kNN and popularity members over one :class:`ProductGraph`, answering per mode."""

    def __init__(
        self, graph: ProductGraph, weights: Mapping[str, float] | None = None, weights_source: str | None = None
    ) -> None:
        started = time.perf_counter()
        self._graph_member = KnowledgeGraphMember.from_graph(graph)
        self._popularity = PopularityMember()
        interactions, catalog = purchase_interactions(graph)
        self.weights = dict(FIXED_WEIGHTS if weights is None else weights)
        self.weights_source = weights_source or (FIXED_WEIGHTS_SOURCE if weights is None else "given at start-up")
        self._fusion = FusionRecommender([self._graph_member, ItemKNNMember(), self._popularity], self.weights)
        self.skipped: dict[str, str] = {}
        if interactions.empty:
            self.skipped = {
                name: "skipped: the graph holds no sale lines with a customer to fit it on"
                for name in (ITEM_KNN, POPULARITY)
            }
        else:
            self._fusion.fit(interactions, catalog)
            self.skipped = dict(self._fusion.skipped)
        self._descriptions = dict(zip(catalog[ITEM], catalog[TEXT], strict=True))
        self.fit_ms = _elapsed_ms(started)
        logger.info(
            "recommendation ensemble fitted in %.1f ms on %s interactions; members %s, skipped %s",
            self.fit_ms,
            len(interactions),
            self.active,
            sorted(self.skipped),
        )

    @property
    def active(self) -> list[str]:
        """Members that can answer."""
        return [name for name in self._fusion.members if name not in self.skipped]

    def status(self) -> dict[str, Any]:
        """Members served, skipped and not served; the fusion weights and where they came from."""
        return {
            "members": self.active,
            "skipped": self.skipped,
            "not_served": NOT_SERVED,
            "weights": self.weights,
            "weights_source": self.weights_source,
            "fit_ms": self.fit_ms,
        }

    def recommend(self, customer_id: int, k: int, mode: RecommendMode | str = RecommendMode.GRAPH) -> dict[str, Any]:
        """``{"found": True, ...response fields}`` or ``{"found": False, "error": ...}`` when nothing can
        answer (an unknown customer and no popularity member); raises :class:`UnknownModeError` for a mode
        that is not a :class:`RecommendMode` (or its value)."""
        mode = _mode(mode)
        runs: dict[str, dict[str, Any]] = {}
        graph_items = self._run_graph(customer_id, k if mode != RecommendMode.FUSION else max(k, FUSION_DEPTH), runs)
        if graph_items is None:
            return self._fallback(customer_id, k, mode, runs)
        lists: dict[str, list[dict[str, Any]]] = {}
        if mode == RecommendMode.GRAPH:
            items = graph_items[:k]
            reason = "graph mode: the knowledge graph's personalised-PageRank ranking of the customer's purchases"
            for name in self._fusion.members:
                if name != GRAPH and name not in self.skipped:
                    runs[name] = self._run(name, MemberStatus.IDLE, "not asked: graph mode runs the graph member only")
        else:
            depth = k if mode == RecommendMode.PARALLEL else max(k, FUSION_DEPTH)
            ranked: dict[str, list[RecommendedItem]] = {GRAPH: [self._as_ranked(i) for i in graph_items]}
            for name in (ITEM_KNN, POPULARITY):
                if name not in self.skipped:
                    found = self._run_member(name, str(customer_id), depth, runs)
                    if found is not None:
                        ranked[name] = found
            if mode == RecommendMode.PARALLEL:
                lists = {name: self._items(name, found, graph_items) for name, found in ranked.items()}
                items = lists[GRAPH]
                reason = f"parallel mode: each member's own top {k} ({', '.join(ranked)}); items is the graph's list"
            else:
                fused = fuse_rankings({name: [found] for name, found in ranked.items()}, self.weights, k)[0]
                items = self._items("fusion", fused, graph_items)
                used = {name: self.weights.get(name, 0.0) for name in ranked}
                reason = (
                    f"fusion mode: weighted reciprocal-rank fusion of the top {depth} of {', '.join(ranked)} "
                    f"with weights {used}; each item's sources give its rank per member"
                )
        return self._answer(customer_id, mode, items, lists, runs, reason, None, None)

    def _run_graph(self, customer_id: int, k: int, runs: dict[str, dict[str, Any]]) -> list[dict[str, Any]] | None:
        started = time.perf_counter()
        try:
            found = self._graph_member.recommendations(customer_id, k)
        except UnknownUserError as err:
            runs[GRAPH] = self._run(GRAPH, MemberStatus.FAILED, str(err), _elapsed_ms(started))
            return None
        why = "the product graph's recommender"
        runs[GRAPH] = self._run(GRAPH, MemberStatus.RAN, why, _elapsed_ms(started), len(found))
        return [{**r.to_dict(), "sources": {GRAPH: rank}} for rank, r in enumerate(found, start=1)]

    def _run_member(
        self, name: str, user: str, k: int, runs: dict[str, dict[str, Any]]
    ) -> list[RecommendedItem] | None:
        started = time.perf_counter()
        try:
            found = self._fusion.members[name].recommend(user, k)
        except RecommendationError as err:
            runs[name] = self._run(name, MemberStatus.FAILED, str(err), _elapsed_ms(started))
            logger.info("member %s did not answer for %s: %s", name, user, err)
            return None
        why = f"fitted at start-up on the graph's purchase table ({len(found)} items)"
        runs[name] = self._run(name, MemberStatus.RAN, why, _elapsed_ms(started), len(found))
        return found

    def _fallback(
        self, customer_id: int, k: int, mode: RecommendMode, runs: dict[str, dict[str, Any]]
    ) -> dict[str, Any]:
        if POPULARITY in self.skipped:
            return {
                "found": False,
                "error": f"customer {customer_id} is not in the product graph and no popularity member is fitted "
                "(the graph holds no sales); rebuild the graph with order lines or ask for a known customer",
            }
        started = time.perf_counter()
        # Popularity scores the same for every user, so any training user's list without exclusions is the
        # list for a customer with no purchases.
        anyone = str(self._popularity.matrix.users[0])
        found = self._popularity.recommend_many([anyone], k, exclude_bought=False, explain=True)[0]
        why_run = "fallback for an unknown customer"
        runs[POPULARITY] = self._run(POPULARITY, MemberStatus.RAN, why_run, _elapsed_ms(started))
        runs[POPULARITY]["items"] = len(found)
        why = (
            f"customer {customer_id} has no purchases in the product graph, so no member can personalise; "
            f"answering with the {k} products with the most distinct buyers"
        )
        items = self._items(POPULARITY, found, [])
        return self._answer(customer_id, mode, items, {}, runs, why, POPULARITY, why)

    def _answer(
        self,
        customer_id: int,
        mode: RecommendMode,
        items: list[dict[str, Any]],
        lists: dict[str, list[dict[str, Any]]],
        runs: dict[str, dict[str, Any]],
        reason: str,
        fallback: str | None,
        fallback_reason: str | None,
    ) -> dict[str, Any]:
        members = [
            runs.get(name) or self._run(name, MemberStatus.IDLE, "not needed for this answer") for name in self.active
        ]
        members += [self._run(name, MemberStatus.SKIPPED, why) for name, why in self.skipped.items()]
        members += [self._run(name, MemberStatus.NOT_SERVED, why) for name, why in NOT_SERVED.items()]
        return {
            "found": True,
            "customer_id": customer_id,
            "mode": mode,
            "items": items,
            "lists": lists,
            "members": members,
            "weights": self.weights,
            "weights_source": self.weights_source,
            "fallback": fallback,
            "fallback_reason": fallback_reason,
            "reason": reason,
        }

    def _run(
        self, name: str, status: MemberStatus, reason: str, latency_ms: float = 0.0, items: int = 0
    ) -> dict[str, Any]:
        weight = self.weights.get(name) if name in self._fusion.members else None
        return {
            "name": name,
            "status": status,
            "reason": reason,
            "weight": weight,
            "items": items,
            "latency_ms": latency_ms,
        }

    @staticmethod
    def _as_ranked(item: Mapping[str, Any]) -> RecommendedItem:
        return RecommendedItem(
            item=str(item["stock_code"]), score=float(item["score"]), explanation=item["explanation"]
        )

    def _items(
        self, member: str, ranked: Sequence[RecommendedItem], graph_items: Sequence[Mapping[str, Any]]
    ) -> list[dict[str, Any]]:
        """Response items: descriptions from the catalogue, the via product from the graph's list, sources."""
        via = {str(g["stock_code"]): g.get("via_stock_code") for g in graph_items}
        out = []
        for rank, rec in enumerate(ranked, start=1):
            sources = dict(rec.sources) or {member: rank}
            explanation = rec.explanation or "listed by " + ", ".join(f"{m} at rank {r}" for m, r in sources.items())
            out.append(
                {
                    "stock_code": rec.item,
                    "description": str(self._descriptions.get(rec.item, rec.item)),
                    "score": rec.score,
                    "explanation": explanation,
                    "via_stock_code": via.get(rec.item),
                    "sources": sources,
                }
            )
        return out
