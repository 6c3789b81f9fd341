"""shopmesh's product knowledge graph: a NetworkX graph of products, customers, orders, categories, departments,
attributes and merchants, built from Online Retail order lines and merchants' catalogues; facts, entity linking,
related products, graph recommendations and grounding checks."""

from __future__ import annotations

from knowledge_graph.build import build_graph
from knowledge_graph.config import BuildConfig, EdgeWeight, RecommendConfig
from knowledge_graph.errors import (
    GraphStoreError,
    InvalidCatalogueError,
    InvalidOrdersError,
    KnowledgeGraphError,
    PageRankInputError,
    UnknownCustomerError,
    UnknownOrderError,
    UnknownProductError,
)
from knowledge_graph.graph import ProductGraph
from knowledge_graph.grounding import Claim, ClaimKind, GroundingContext, GroundingReport, verify
from knowledge_graph.linking import EntityLinker, EntityMatch
from knowledge_graph.pagerank import personalized_pagerank, transition_transpose
from knowledge_graph.queries import (
    CoPurchase,
    CustomerHistory,
    GraphStats,
    OrderLine,
    OrderSummary,
    ProductFacts,
    PurchaseRecord,
    Statement,
)
from knowledge_graph.recommend import GraphRecommender, Recommendation
from knowledge_graph.related import RelatedProduct, Relation
from knowledge_graph.schema import (
    GROCERY_STORE,
    ONLINE_RETAIL,
    SCHEMA_VERSION,
    EdgeKind,
    Merchant,
    NodeKind,
    node_id,
    split_node_id,
)

__all__ = [
    "GROCERY_STORE",
    "ONLINE_RETAIL",
    "SCHEMA_VERSION",
    "BuildConfig",
    "Claim",
    "ClaimKind",
    "CoPurchase",
    "CustomerHistory",
    "EdgeKind",
    "EdgeWeight",
    "EntityLinker",
    "EntityMatch",
    "GraphRecommender",
    "GraphStats",
    "GraphStoreError",
    "GroundingContext",
    "GroundingReport",
    "InvalidCatalogueError",
    "InvalidOrdersError",
    "KnowledgeGraphError",
    "Merchant",
    "NodeKind",
    "OrderLine",
    "OrderSummary",
    "PageRankInputError",
    "ProductFacts",
    "ProductGraph",
    "PurchaseRecord",
    "RecommendConfig",
    "Recommendation",
    "RelatedProduct",
    "Relation",
    "Statement",
    "UnknownCustomerError",
    "UnknownOrderError",
    "UnknownProductError",
    "build_graph",
    "node_id",
    "personalized_pagerank",
    "split_node_id",
    "transition_transpose",
    "verify",
]
