"""Graph recommender: personalised PageRank by forward push over customer–product and co-purchase structure.

The walk graph is undirected and weighted: customer—product edges weigh the number of orders, product—product
edges weigh ``copurchase_weight × NPMI`` of the co-purchase edge (either direction). The restart distribution
is
the customer's purchased products weighted by their number of orders. Scores are computed by the forward push
of Andersen, Chung and Lang (2006), vectorised: every node whose residual exceeds ``eps × degree`` pushes at
once,
keeping ``(1 - alpha)`` of it and spreading ``alpha`` of it over its neighbours, until no node qualifies. The
transition matrix is built once (CSR) and each query touches only the seed's neighbourhood.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import networkx as nx
import numpy as np
import scipy.sparse as sp

from knowledge_graph.errors import UnknownCustomerError
from knowledge_graph.schema import EdgeKind, NodeKind, customer_id

_Vector = np.ndarray[Any, np.dtype[np.float64]]


@dataclass(frozen=True, slots=True)
class Recommendation:
    """A recommended product with its PageRank score and an explanation in words."""

    stock_code: str
    description: str
    score: float
    explanation: str
    via_stock_code: str | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


class GraphRecommender:
    """Personalised PageRank recommender; build with :meth:`from_graph`."""

    def __init__(
        self,
        graph: nx.MultiDiGraph,
        alpha: float = 0.85,
        eps: float = 1e-7,
        copurchase_weight: float = 5.0,
    ) -> None:
        if not 0.0 < alpha < 1.0:
            raise ValueError(f"alpha must be in (0, 1), got {alpha}; 0.85 is usual")
        self.alpha = alpha
        self.eps = eps
        self._graph = graph
        nodes = [n for n, d in graph.nodes(data=True) if d["kind"] in (NodeKind.CUSTOMER, NodeKind.PRODUCT)]
        self.nodes = nodes
        self._index = {n: i for i, n in enumerate(nodes)}
        rows: list[int] = []
        cols: list[int] = []
        vals: list[float] = []
        for u, v, k, data in graph.edges(keys=True, data=True):
            if k == EdgeKind.PURCHASED:
                w = float(data["n_orders"])
            elif k == EdgeKind.CO_PURCHASED:
                w = copurchase_weight * float(data["weight"])
            else:
                continue
            i, j = self._index[u], self._index[v]
            rows += [i, j]
            cols += [j, i]
            vals += [w, w]
        n = len(nodes)
        raw = sp.coo_matrix((vals, (rows, cols)), shape=(n, n)).tocsr()
        # Co-purchase pairs present in both directions were summed; symmetric either way.
        self.weights = raw
        strength = np.asarray(raw.sum(axis=1)).ravel()
        inv = np.divide(1.0, strength, out=np.zeros_like(strength), where=strength > 0)
        self.transition = sp.diags(inv) @ raw  # row-stochastic where a node has edges
        self._degree = np.diff(raw.indptr).astype(np.float64)
        self._is_candidate = np.array(
            [
                graph.nodes[n]["kind"] == NodeKind.PRODUCT and bool(graph.nodes[n]["merchandise"])
                for n in nodes
            ]
        )

    @classmethod
    def from_graph(cls, graph: nx.MultiDiGraph, **kwargs: Any) -> GraphRecommender:
        """Build the CSR transition matrix of ``graph`` once."""
        return cls(graph, **kwargs)

    def seed(self, customer: int) -> dict[str, float]:
        """Restart distribution of a customer: purchased products weighted by number of orders (sums to 1)."""
        node = customer_id(customer)
        if node not in self._graph:
            raise UnknownCustomerError(customer)
        bought = {
            v: float(d["n_orders"])
            for _, v, k, d in self._graph.out_edges(node, keys=True, data=True)
            if k == EdgeKind.PURCHASED
        }
        if not bought:
            raise UnknownCustomerError(customer)
        total = sum(bought.values())
        return {v: w / total for v, w in bought.items()}

    def scores(self, seed: dict[str, float]) -> _Vector:
        """Approximate personalised PageRank vector (indexed like :attr:`nodes`) by vectorised forward
        push."""
        residual = np.zeros(len(self.nodes))
        for node, w in seed.items():
            residual[self._index[node]] = w
        estimate = np.zeros(len(self.nodes))
        threshold = self.eps * np.maximum(self._degree, 1.0)
        transition = self.transition
        while True:
            active = np.flatnonzero(residual > threshold)
            if active.size == 0:
                return estimate
            mass = residual[active]
            residual[active] = 0.0
            estimate[active] += (1.0 - self.alpha) * mass
            residual += self.alpha * (transition[active].T @ mass)

    def to_networkx(self) -> nx.DiGraph:
        """The weighted walk graph as a ``DiGraph`` (for checking against ``nx.pagerank``)."""
        coo = self.weights.tocoo()
        walk = nx.DiGraph()
        walk.add_nodes_from(self.nodes)
        walk.add_weighted_edges_from(
            (self.nodes[i], self.nodes[j], float(w))
            for i, j, w in zip(coo.row, coo.col, coo.data, strict=True)
        )
        return walk

    def recommend(self, customer: int, k: int = 10, exclude_bought: bool = True) -> list[Recommendation]:
        """Top-``k`` merchandise products for ``customer``; raises :class:`UnknownCustomerError`."""
        seed = self.seed(customer)
        scores = self.scores(seed)
        allowed = self._is_candidate.copy()
        if exclude_bought:
            allowed[[self._index[n] for n in seed]] = False
        ranked = np.flatnonzero(allowed & (scores > 0))
        top = ranked[np.argsort(-scores[ranked], kind="stable")[:k]]
        return [self._explain(customer, seed, int(i), float(scores[i])) for i in top]

    def _explain(self, customer: int, seed: dict[str, float], item: int, score: float) -> Recommendation:
        graph = self._graph
        target = self.nodes[item]
        bought = [self._index[n] for n in seed]
        row = self.weights[item]
        links = dict(zip(row.indices.tolist(), row.data.tolist(), strict=True))
        co = [(links[b], self.nodes[b]) for b in bought if b in links]
        via: str | None = None
        if co:
            via = max(co)[1]
            text = "often bought with {desc}, which you bought on {date}"
        else:
            buyers = {j for j in links if graph.nodes[self.nodes[j]]["kind"] == NodeKind.CUSTOMER}
            shared = [
                (len(buyers.intersection(self.weights[b].indices.tolist())), self.nodes[b]) for b in bought
            ]
            best = max(shared) if shared else (0, None)
            if best[0] > 0:
                via = best[1]
                text = "customers who bought {desc} (you bought it on {date}) also bought this"
            else:
                text = "popular with customers whose purchases resemble yours"
        product = graph.nodes[target]
        if via is not None:
            edge = graph.edges[customer_id(customer), via, EdgeKind.PURCHASED]
            text = text.format(desc=graph.nodes[via]["description"], date=edge["last_date"])
        return Recommendation(
            stock_code=product["key"],
            description=product["description"],
            score=score,
            explanation=text,
            via_stock_code=graph.nodes[via]["key"] if via is not None else None,
        )
