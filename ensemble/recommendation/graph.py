"""Graph members: personalised PageRank for recommendations.

:class:`KnowledgeGraphMember` builds shopmesh's product knowledge graph from the training order lines (Online
Retail layout) and ranks with its recommender, explanations included. :class:`BipartitePageRankMember` needs
only interactions: personalised PageRank on the undirected user–item graph (edges weighted by the number of
interactions), restarting at the user's items, by the knowledge graph's power iteration
(:func:`knowledge_graph.personalized_pagerank`) for a block of users at once, with the same item score as the
knowledge graph's recommender: PageRank / buyers ** popularity_exponent.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp
from numpy.typing import NDArray

from ensemble.datasets import ONLINE_RETAIL_COLUMNS
from ensemble.errors import DataError
from ensemble.recommendation.base import InteractionMatrix, Member, RecommendedItem, Scores, ScoringMember
from ensemble.recommendation.errors import NotFittedError, UnknownUserError
from knowledge_graph import (
    BuildConfig,
    ProductGraph,
    Recommendation,
    UnknownCustomerError,
    build_graph,
    personalized_pagerank,
    transition_transpose,
)

__all__ = ["BipartitePageRankMember", "KnowledgeGraphMember"]

logger = logging.getLogger(__name__)


class BipartitePageRankMember(ScoringMember):
    """Personalised PageRank on the user–item graph alone (see the module docstring)."""

    name = "graph"

    def __init__(self, alpha: float = 0.3, popularity_exponent: float = 0.5, tol: float = 1e-6) -> None:
        if not 0.0 < alpha < 1.0 or popularity_exponent < 0.0 or not 0.0 < tol < 1.0:
            raise ValueError(
                f"need 0 < alpha < 1, popularity_exponent >= 0 and 0 < tol < 1; got {alpha}, "
                f"{popularity_exponent}, {tol}"
            )
        self.alpha = alpha
        self.popularity_exponent = popularity_exponent
        self.tol = tol
        self._transition_t: sp.csr_matrix = sp.csr_matrix((0, 0))
        self._penalty: Scores = np.ones(0)

    def _fit(self, matrix: InteractionMatrix, catalog: pd.DataFrame | None) -> None:
        counts = matrix.counts
        n_users, n_items = counts.shape
        weights = sp.bmat([[None, counts], [counts.T, None]], format="csr")  # (U+I) × (U+I), symmetric
        self._transition_t = transition_transpose(weights)  # column-stochastic T' = W D^-1
        buyers = np.asarray(matrix.binary.sum(axis=0), dtype=np.float64).ravel()
        self._penalty = np.maximum(buyers, 1.0) ** self.popularity_exponent
        logger.debug("bipartite walk graph: %s users, %s items, %s edges", n_users, n_items, counts.nnz)

    def _score_rows(self, rows: NDArray[np.int64]) -> Scores:
        counts = self.matrix.counts
        n_users = counts.shape[0]
        seeds = counts[rows].toarray().T  # I × B restart weights over items
        seeds /= np.maximum(seeds.sum(axis=0, keepdims=True), 1e-12)
        restart = np.zeros((self._transition_t.shape[0], len(rows)))  # (U+I) × B
        restart[n_users:] = seeds
        estimate = personalized_pagerank(self._transition_t, restart, self.alpha, self.tol)
        scores: Scores = (estimate[n_users:] / self._penalty[:, None]).T  # B × I
        return scores

    def explain(self, row: int, item: int) -> str | None:
        bought = self.matrix.bought(row)
        shared = (self.matrix.binary[:, bought].T @ self.matrix.binary[:, [item]]).toarray().ravel()
        if bought.size == 0 or shared.max() <= 0:
            return None
        best = int(bought[int(np.argmax(shared))])
        return f"linked in the purchase graph through customers who bought {self.matrix.labels[best]}"


class KnowledgeGraphMember(Member):
    """The product knowledge graph's recommender as a member, explanations and via products included.

    Fitted from training order lines in the Online Retail layout (as
    :func:`~ensemble.recommendation.interactions.online_retail_interactions` gives them), the member builds
    the graph from them alone. Built with :meth:`from_graph` over a graph that already exists (the one a
    cluster replica loaded), it ranks with that graph and :meth:`fit` leaves it as it is.
    """

    name = "graph"

    def __init__(self, config: BuildConfig | None = None) -> None:
        self.config = config
        self._graph: ProductGraph | None = None
        self._given = False

    @classmethod
    def from_graph(cls, graph: ProductGraph) -> KnowledgeGraphMember:
        """A member over an already built graph: no refit, :meth:`fit` keeps ``graph``."""
        member = cls()
        member._graph = graph
        member._given = True
        return member

    def fit(self, train: pd.DataFrame, catalog: pd.DataFrame | None = None) -> None:
        if self._given:
            logger.debug("knowledge-graph member built over a given graph: fit keeps it")
            return
        missing = [c for c in ONLINE_RETAIL_COLUMNS if c not in train.columns]
        if missing:
            raise DataError(
                f"the knowledge-graph member needs order lines in the Online Retail layout; missing columns "
                f"{missing}; use the bipartite graph member for other interactions"
            )
        self._graph = build_graph(train[list(ONLINE_RETAIL_COLUMNS)], self.config)

    def recommendations(self, customer: int, k: int, exclude_bought: bool = True) -> list[Recommendation]:
        """The graph's own recommendations (description and via product included); raises UnknownUserError."""
        if self._graph is None:
            raise NotFittedError(self.name)
        try:
            return self._graph.recommend(customer, k, exclude_bought)
        except UnknownCustomerError as err:
            raise UnknownUserError(self.name, str(customer)) from err

    def recommend_many(
        self, users: Sequence[str], k: int, exclude_bought: bool = True, explain: bool = False
    ) -> list[list[RecommendedItem]]:
        if self._graph is None:
            raise NotFittedError(self.name)
        out = []
        for user in users:
            try:
                customer = int(user)
            except ValueError as err:
                raise UnknownUserError(self.name, str(user)) from err
            out.append(
                [
                    RecommendedItem(item=r.stock_code, score=r.score, explanation=r.explanation if explain else None)
                    for r in self.recommendations(customer, k, exclude_bought)
                ]
            )
        return out
