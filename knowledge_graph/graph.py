"""The :class:`ProductGraph`: a NetworkX product graph with queries, linking, recommendation and
persistence."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import networkx as nx
import pandas as pd

from knowledge_graph import catalogue, incremental, linking, queries, recommend, related, store
from knowledge_graph._walk import WalkTables
from knowledge_graph.config import BuildConfig, RecommendConfig
from knowledge_graph.schema import GROCERY_STORE, Merchant, NodeKind, customer_id, invoice_id, product_id


class ProductGraph:
    """Products, customers, invoices, countries, categories, departments, attributes and merchants as a
    ``MultiDiGraph``.

    Build one with :func:`knowledge_graph.build_graph` or :meth:`load`. ``nx_graph`` is the NetworkX graph
    itself (schema in :mod:`knowledge_graph.schema`); treat it as read-only and change the graph through
    :meth:`add_orders` and :meth:`add_catalogue`. The entity linker and the recommender's sparse matrix are
    built on first use; the matrix comes from ``walk_tables`` (the purchased/co_purchased tables, given by the
    builder and the loader, well under a second) or, after :meth:`add_orders`, from a scan of the graph's edges.
    """

    def __init__(
        self,
        graph: nx.MultiDiGraph,
        lines: pd.DataFrame | Callable[[], pd.DataFrame],
        config: BuildConfig,
        walk_tables: WalkTables | None = None,
        recommend_config: RecommendConfig | None = None,
        deferred_edges: store.DeferredEdges | None = None,
    ) -> None:
        self._graph = graph
        self._deferred = deferred_edges
        self._lines: pd.DataFrame | None = None
        self._read_lines: Callable[[], pd.DataFrame] | None = None
        if isinstance(lines, pd.DataFrame):
            self._lines = lines
        else:
            self._read_lines = lines
        self._config = config
        self._linker: linking.EntityLinker | None = None
        self._recommender: recommend.GraphRecommender | None = None
        self._related: related.RelatedIndex | None = None
        self._walk_tables = walk_tables
        self._recommend_config = recommend_config or RecommendConfig()

    @property
    def nx_graph(self) -> nx.MultiDiGraph:
        """The underlying NetworkX graph, with every edge (inserting deferred ``contains`` edges if needed)."""
        return self._complete()

    def _complete(self) -> nx.MultiDiGraph:
        """The graph with the ``contains`` edges a load deferred (see :mod:`knowledge_graph.schema`)."""
        if self._deferred is not None:
            deferred, self._deferred = self._deferred, None
            deferred(self._graph)
        return self._graph

    @property
    def config(self) -> BuildConfig:
        """The settings the graph was built with."""
        return self._config

    @property
    def lines(self) -> pd.DataFrame:
        """The prepared order lines the graph was built from (do not modify; read on first use after load)."""
        if self._lines is None and self._read_lines is not None:
            self._lines = self._read_lines()
            self._read_lines = None
        return self._lines if self._lines is not None else pd.DataFrame()

    def has_product(self, stock_code: str) -> bool:
        """Whether ``stock_code`` is a product of the graph."""
        attrs = self._graph.nodes.get(product_id(stock_code))
        return attrs is not None and attrs.get("kind") == NodeKind.PRODUCT

    def has_customer(self, customer: int) -> bool:
        """Whether ``customer`` is a customer of the graph."""
        return customer_id(customer) in self._graph

    def has_order(self, invoice_no: str) -> bool:
        """Whether ``invoice_no`` is an invoice of the graph."""
        return invoice_id(invoice_no) in self._graph

    def product_codes(self) -> list[str]:
        """Every product's stock code, sorted."""
        return sorted(key for _, kind, key in self._iter_kind() if kind == NodeKind.PRODUCT)

    def _iter_kind(self) -> list[tuple[str, str, str]]:
        return [(n, d["kind"], d["key"]) for n, d in self._graph.nodes(data=True)]

    def facts(self, stock_code: str, top_k: int = 10) -> queries.ProductFacts:
        """Facts about one product; raises :class:`~knowledge_graph.errors.UnknownProductError`."""
        return queries.product_facts(self._graph, stock_code, top_k)

    def order(self, invoice_no: str) -> queries.OrderSummary:
        """One order with its lines; raises :class:`~knowledge_graph.errors.UnknownOrderError`."""
        return queries.order_summary(
            self._graph, invoice_no, self._deferred.out_edges(invoice_id(invoice_no)) if self._deferred else ()
        )

    def customer_history(self, customer: int) -> queries.CustomerHistory:
        """A customer's purchases; raises :class:`~knowledge_graph.errors.UnknownCustomerError`."""
        return queries.customer_history(self._graph, customer)

    def stats(self) -> queries.GraphStats:
        """Counts of nodes and edges per kind."""
        return queries.graph_stats(self._graph, self._deferred.counts() if self._deferred else None)

    @property
    def linker(self) -> linking.EntityLinker:
        """The entity linker over product codes and names (built on first use)."""
        if self._linker is None:
            self._linker = linking.EntityLinker.from_graph(self._graph)
        return self._linker

    def link(self, text: str, k: int = 5) -> list[linking.EntityMatch]:
        """Products that ``text`` names, best first (see :meth:`EntityLinker.link`)."""
        return self.linker.link(text, k)

    def mentions(self, text: str) -> list[linking.EntityMatch]:
        """Products mentioned inside a longer message (see :meth:`EntityLinker.mentions`)."""
        return self.linker.mentions(text)

    def related(self, stock_code: str, k: int = 5) -> list[related.RelatedProduct]:
        """Products that go with ``stock_code``: co-purchases, then the same category, then the same department
        (see :mod:`knowledge_graph.related`); raises :class:`~knowledge_graph.errors.UnknownProductError`."""
        if self._related is None:
            self._related = related.RelatedIndex(self._graph)
        return self._related.related(stock_code, k)

    @property
    def recommender(self) -> recommend.GraphRecommender:
        """The personalised-PageRank recommender (its sparse matrix is built on first use)."""
        if self._recommender is None:
            self._recommender = self.make_recommender(self._recommend_config)
        return self._recommender

    def make_recommender(self, config: RecommendConfig) -> recommend.GraphRecommender:
        """A new recommender over this graph with other settings (e.g. to compare configurations)."""
        if self._walk_tables is not None:
            return recommend.GraphRecommender.from_tables(self._graph, self._walk_tables, config)
        return recommend.GraphRecommender.from_graph(self._graph, config)

    def recommend(self, customer: int, k: int = 10, exclude_bought: bool = True) -> list[recommend.Recommendation]:
        """Top-``k`` products for a customer with explanations; raises ``UnknownCustomerError``."""
        return self.recommender.recommend(customer, k, exclude_bought)

    def add_orders(self, orders: pd.DataFrame) -> None:
        """Add order lines in place; the result equals a full rebuild on all lines (see ``incremental``)."""
        self._lines = incremental.add_orders(self._complete(), self.lines, orders, self._config)
        self._linker = None
        self._recommender = None
        self._related = None
        self._walk_tables = None

    def add_catalogue(
        self, products: pd.DataFrame, merchant: Merchant = GROCERY_STORE, root: str | Path | None = None
    ) -> list[str]:
        """Add a merchant's catalogue without orders in place (see :mod:`knowledge_graph.catalogue`); returns
        the product node ids. ``root`` is the data set folder its ``iconic_image`` paths are relative to; the graph
        keeps them relative (an absolute path must lie under ``root``)."""
        nodes = catalogue.add_catalogue(self._graph, products, merchant, Path(root) if root is not None else None)
        self._linker = None
        self._recommender = None
        self._related = None
        return nodes

    def save(self, directory: str | Path) -> Path:
        """Save to ``directory`` (parquet tables + manifest); an existing save is replaced atomically."""
        return store.save_graph(self._complete(), self.lines, self._config, Path(directory))

    @classmethod
    def load(cls, directory: str | Path) -> ProductGraph:
        """Load a graph saved by :meth:`save`; raises :class:`~knowledge_graph.errors.GraphStoreError`."""
        graph, lines, config, tables, deferred = store.load_graph(Path(directory))
        return cls(graph, lines, config, walk_tables=tables, deferred_edges=deferred)

    def export_edge_snapshot(self, path: str | Path, top_n: int = 500) -> Path:
        """Write plain JSON facts + co-purchases of the ``top_n`` most ordered products for edge devices."""
        return store.export_edge_snapshot(self._graph, Path(path), top_n)
