"""The walk matrix of the recommender: customers and products as one weighted undirected graph in CSR form.

Node ``i < n_customers`` is ``customers[i]``; node ``n_customers + j`` is ``products[j]``. Personalised PageRank
is :func:`knowledge_graph.pagerank.personalized_pagerank` on the column-stochastic transpose of the transition
matrix; each step is one sparse matrix–vector product over the whole graph (about 640k stored entries on Online
Retail).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from knowledge_graph.config import EdgeWeight, RecommendConfig
from knowledge_graph.pagerank import personalized_pagerank, transition_transpose

Vector = np.ndarray[Any, np.dtype[np.float64]]
IntVector = np.ndarray[Any, np.dtype[np.int64]]


@dataclass(frozen=True, slots=True)
class WalkTables:
    """The edges the walk needs, as tables.

    ``purchases``: CustomerID (int), StockCode (str), n_orders, last_date (ISO day) — the purchased edges.
    ``copurchases``: source, target (stock codes), weight (NPMI) — the co_purchased edges.
    """

    purchases: pd.DataFrame
    copurchases: pd.DataFrame


def _positions(index: pd.Index, values: pd.Series, what: str) -> IntVector:
    found: IntVector = np.asarray(index.get_indexer(pd.Index(values)), dtype=np.int64)
    if (found < 0).any():
        missing = values[found < 0].iloc[0]
        raise ValueError(f"{what} {missing!r} of an edge is not a node of the graph; rebuild the graph")
    return found


class WalkMatrix:
    """CSR matrices of one graph for the recommender (see the module docstring)."""

    def __init__(
        self,
        customers: list[int],
        products: list[str],
        merchandise: list[bool],
        tables: WalkTables,
        config: RecommendConfig,
    ) -> None:
        self.config = config
        self.customers = customers
        self.products = products
        self.n_customers = nc = len(customers)
        n_products = len(products)
        self.customer_index = pd.Index(customers)
        product_index = pd.Index(products)
        self.merchandise = np.asarray(merchandise, dtype=bool)
        pur = tables.purchases
        ci = _positions(self.customer_index, pur["CustomerID"].astype("int64"), "customer")
        pi = _positions(product_index, pur["StockCode"].astype(str), "product")
        n_orders = pur["n_orders"].to_numpy(dtype=np.float64)
        days = pd.to_datetime(pur["last_date"]).to_numpy().astype("datetime64[D]").astype(np.float64)
        self.reference_day = float(days.max()) if len(days) else 0.0
        order = np.lexsort((pi, ci))
        ci, pi, n_orders, days = ci[order], pi[order], n_orders[order], days[order]
        indptr = np.concatenate([[0], np.cumsum(np.bincount(ci, minlength=nc))])
        # Customer × product rows of purchases: product column, number of orders and last day, aligned.
        self.bought_indptr = indptr
        self.bought_products = pi
        self.bought_orders = n_orders
        self.bought_days = days
        self.buyers = np.bincount(pi, minlength=n_products).astype(np.float64)
        buyers_of = sp.csr_matrix(
            (np.ones(len(pi)), (pi, ci)), shape=(n_products, nc)
        )  # product × customer, 1 where bought
        self.buyers_of = buyers_of
        co = tables.copurchases
        si = _positions(product_index, co["source"].astype(str), "product")
        ti = _positions(product_index, co["target"].astype(str), "product")
        npmi = co["weight"].to_numpy(dtype=np.float64)
        copurchase = sp.csr_matrix((npmi, (si, ti)), shape=(n_products, n_products))
        self.copurchase = (copurchase + copurchase.T).tocsr()  # symmetric NPMI links (summed if mutual)
        n = nc + n_products
        rows = np.concatenate([ci, nc + pi])
        cols = np.concatenate([nc + pi, ci])
        edge = n_orders if config.edge_weight == EdgeWeight.ORDERS else np.ones_like(n_orders)
        vals = np.concatenate([edge, edge])
        weights = sp.csr_matrix((vals, (rows, cols)), shape=(n, n))
        if config.copurchase_weight > 0.0:
            links = self.copurchase.tocoo()
            weights = weights + sp.csr_matrix(
                (config.copurchase_weight * links.data, (nc + links.row, nc + links.col)), shape=(n, n)
            )
        self.weights = weights.tocsr()
        # Column-stochastic transpose of the transition matrix (weights are symmetric): T' = W D^-1.
        self.transition_t = transition_transpose(self.weights)

    @property
    def n_nodes(self) -> int:
        """Customers plus products."""
        return self.n_customers + len(self.products)

    def purchases_of(self, customer: int) -> tuple[IntVector, Vector]:
        """Product positions a customer bought and their restart weights (summing to 1); empty if none.

        Raises ``KeyError`` for a customer not in the matrix.
        """
        row = int(self.customer_index.get_indexer(pd.Index([customer]))[0])
        if row < 0:
            raise KeyError(customer)
        start, stop = self.bought_indptr[row], self.bought_indptr[row + 1]
        products = self.bought_products[start:stop]
        weights = self.bought_orders[start:stop].copy()
        half_life = self.config.recency_half_life_days
        if half_life is not None:
            weights *= 0.5 ** ((self.reference_day - self.bought_days[start:stop]) / half_life)
        total = weights.sum()
        return products, (weights / total if total > 0 else weights)

    def pagerank(self, seed: Vector) -> Vector:
        """Personalised PageRank of the restart distribution ``seed`` (over all nodes) by power iteration."""
        return personalized_pagerank(self.transition_t, seed, self.config.alpha, self.config.tol)
