"""Graph recommender: personalised PageRank over customer–product (and optionally co-purchase) structure.

The walk graph is undirected and weighted (see :class:`~knowledge_graph.config.RecommendConfig` and
:mod:`knowledge_graph._walk`): customer—product edges weigh 1 or the number of orders (``edge_weight``),
product—product edges weigh ``copurchase_weight × NPMI``. The restart distribution is the customer's
purchased products weighted by their number of orders (optionally decayed by age). Scores are personalised
PageRank computed by a few sparse power iterations on a CSR matrix built once per graph; candidates are
merchandise products, ranked by PageRank divided by ``buyers ** popularity_exponent``. Explanations are
derived only for the returned top-k.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd

from knowledge_graph._walk import Vector, WalkMatrix, WalkTables
from knowledge_graph.config import RecommendConfig
from knowledge_graph.errors import UnknownCustomerError
from knowledge_graph.schema import EdgeKind, NodeKind, customer_id, product_id


@dataclass(frozen=True, slots=True)
class Recommendation:
    """A recommended product with its score and an explanation in words."""

    stock_code: str
    description: str
    score: float
    explanation: str
    via_stock_code: str | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


def walk_tables(graph: nx.MultiDiGraph) -> WalkTables:
    """The purchased and co_purchased edges of ``graph`` as tables (a scan of the graph's edges)."""
    nodes = graph.nodes
    customers = [n for n, kind in graph.nodes(data="kind") if kind == NodeKind.CUSTOMER]
    purchases = [
        (int(nodes[u]["key"]), nodes[v]["key"], d["n_orders"], d["last_date"])
        for u, v, k, d in graph.out_edges(customers, keys=True, data=True)
        if k == EdgeKind.PURCHASED
    ]
    products = [n for n, kind in graph.nodes(data="kind") if kind == NodeKind.PRODUCT]
    copurchases = [
        (nodes[u]["key"], nodes[v]["key"], d["weight"])
        for u, v, k, d in graph.out_edges(products, keys=True, data=True)
        if k == EdgeKind.CO_PURCHASED
    ]
    return WalkTables(
        purchases=pd.DataFrame(purchases, columns=["CustomerID", "StockCode", "n_orders", "last_date"]),
        copurchases=pd.DataFrame(copurchases, columns=["source", "target", "weight"]),
    )


class GraphRecommender:
    """Personalised PageRank recommender; build with :meth:`from_graph` (or :meth:`from_tables`)."""

    def __init__(self, graph: nx.MultiDiGraph, tables: WalkTables, config: RecommendConfig | None = None) -> None:
        self.config = config or RecommendConfig()
        self._graph = graph
        customers: list[int] = []
        products: list[str] = []
        merchandise: list[bool] = []
        for _, data in graph.nodes(data=True):
            if data["kind"] == NodeKind.CUSTOMER:
                customers.append(int(data["key"]))
            elif data["kind"] == NodeKind.PRODUCT:
                products.append(data["key"])
                merchandise.append(bool(data["merchandise"]))
        self.walk = WalkMatrix(customers, products, merchandise, tables, self.config)
        self.nodes = [customer_id(c) for c in customers] + [product_id(p) for p in products]
        """Node ids in walk order: customers, then products (indexes :meth:`scores`)."""

    @property
    def alpha(self) -> float:
        """Probability of following an edge at each step."""
        return self.config.alpha

    @classmethod
    def from_graph(cls, graph: nx.MultiDiGraph, config: RecommendConfig | None = None) -> GraphRecommender:
        """Build from the graph alone (scans its edges; prefer :meth:`from_tables` when tables are at hand)."""
        return cls(graph, walk_tables(graph), config)

    @classmethod
    def from_tables(
        cls, graph: nx.MultiDiGraph, tables: WalkTables, config: RecommendConfig | None = None
    ) -> GraphRecommender:
        """Build from the purchased/co_purchased edge tables of ``graph`` (as built or as loaded)."""
        return cls(graph, tables, config)

    def _purchases(self, customer: int) -> tuple[np.ndarray[Any, np.dtype[np.int64]], Vector]:
        if customer_id(customer) not in self._graph or customer not in self.walk.customer_index:
            raise UnknownCustomerError(customer)
        products, weights = self.walk.purchases_of(customer)
        if products.size == 0:
            raise UnknownCustomerError(customer)
        return products, weights

    def seed(self, customer: int) -> dict[str, float]:
        """Restart distribution of a customer over product node ids (sums to 1)."""
        products, weights = self._purchases(customer)
        nc = self.walk.n_customers
        return {self.nodes[nc + int(p)]: float(w) for p, w in zip(products, weights, strict=True)}

    def scores(self, seed: dict[str, float]) -> Vector:
        """Personalised PageRank vector (indexed like :attr:`nodes`) of a restart distribution."""
        index = {n: i for i, n in enumerate(self.nodes)} if seed else {}
        vector = np.zeros(self.walk.n_nodes)
        for node, weight in seed.items():
            vector[index[node]] = weight
        return self.walk.pagerank(vector)

    def rank(self, pagerank: Vector, exclude: np.ndarray[Any, np.dtype[np.int64]], k: int) -> list[int]:
        """Top-``k`` product positions by ``pagerank / buyers ** popularity_exponent`` (merchandise, not
        excluded, positive score), best first."""
        if k <= 0:
            return []
        walk = self.walk
        product_scores = pagerank[walk.n_customers :] / np.maximum(walk.buyers, 1.0) ** (
            self.config.popularity_exponent
        )
        allowed = walk.merchandise & (product_scores > 0)
        allowed[exclude] = False
        ranked = np.flatnonzero(allowed)
        if ranked.size > k:
            ranked = ranked[np.argpartition(-product_scores[ranked], k - 1)[:k]]
        order = np.lexsort((ranked, -product_scores[ranked]))
        return [int(j) for j in ranked[order][:k]]

    def to_networkx(self) -> nx.DiGraph:
        """The weighted walk graph as a ``DiGraph`` (for checking against ``nx.pagerank``)."""
        coo = self.walk.weights.tocoo()
        walk = nx.DiGraph()
        walk.add_nodes_from(self.nodes)
        walk.add_weighted_edges_from(
            (self.nodes[i], self.nodes[j], float(w)) for i, j, w in zip(coo.row, coo.col, coo.data, strict=True)
        )
        return walk

    def recommend(self, customer: int, k: int = 10, exclude_bought: bool = True) -> list[Recommendation]:
        """Top-``k`` merchandise products for ``customer``; raises :class:`UnknownCustomerError`."""
        products, weights = self._purchases(customer)
        walk = self.walk
        seed = np.zeros(walk.n_nodes)
        seed[walk.n_customers + products] = weights
        pagerank = walk.pagerank(seed)
        exclude = products if exclude_bought else products[:0]
        top = self.rank(pagerank, exclude, k)
        scores = pagerank[walk.n_customers :] / np.maximum(walk.buyers, 1.0) ** self.config.popularity_exponent
        return self._explain(customer, products, top, scores)

    def _explain(
        self,
        customer: int,
        bought: np.ndarray[Any, np.dtype[np.int64]],
        top: list[int],
        scores: Vector,
    ) -> list[Recommendation]:
        """Explanations for the top items only: the strongest co-purchase link to a bought product, else the
        bought product sharing most buyers with the item."""
        if not top:
            return []
        walk, graph = self.walk, self._graph
        links = walk.copurchase[top][:, bought].toarray()  # top × bought NPMI links
        shared = (walk.buyers_of[top] @ walk.buyers_of[bought].T).toarray()  # top × bought common buyers
        person = customer_id(customer)
        out = []
        for row, item in enumerate(top):
            via: str | None = None
            if links[row].max() > 0:
                via = walk.products[int(bought[int(np.argmax(links[row]))])]
                text = "often bought with {desc}, which you bought on {date}"
            else:
                counts = shared[row].copy()
                counts[bought == item] = 0  # an already bought item shares all buyers with itself
                if counts.size and counts.max() > 0:
                    via = walk.products[int(bought[int(np.argmax(counts))])]
                    text = "customers who bought {desc} (you bought it on {date}) also bought this"
                else:
                    text = "popular with customers whose purchases resemble yours"
            product = graph.nodes[product_id(walk.products[item])]
            if via is not None:
                edge = graph.edges[person, product_id(via), EdgeKind.PURCHASED]
                text = text.format(desc=graph.nodes[product_id(via)]["description"], date=edge["last_date"])
            out.append(
                Recommendation(
                    stock_code=product["key"],
                    description=product["description"],
                    score=float(scores[item]),
                    explanation=text,
                    via_stock_code=via,
                )
            )
        return out
