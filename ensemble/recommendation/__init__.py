"""Recommendation members (popularity, item-kNN, BPR, graph, content), their fusion, one evaluation path
for all of them on Online Retail or a user's interactions CSV, and the ensemble a serving replica answers with."""

from __future__ import annotations

from ensemble.recommendation.base import InteractionMatrix, Member, RecommendedItem, ScoringMember
from ensemble.recommendation.bpr import BPRConfig, BPRMember
from ensemble.recommendation.content import ContentMember, MiniLMEncoder, TextEncoder
from ensemble.recommendation.errors import (
    MemberUnavailableError,
    NotFittedError,
    RecommendationError,
    UnknownModeError,
    UnknownUserError,
)
from ensemble.recommendation.evaluation import (
    EvaluationWindow,
    RecommendationReport,
    default_members,
    evaluate_recommenders,
    targets,
)
from ensemble.recommendation.fusion import FusionRecommender, fit_fusion_weights, fuse_rankings
from ensemble.recommendation.graph import BipartitePageRankMember, KnowledgeGraphMember
from ensemble.recommendation.interactions import (
    ITEM,
    TEXT,
    TIME,
    USER,
    online_retail_interactions,
    parse_times,
    read_catalog_csv,
    read_interactions_csv,
)
from ensemble.recommendation.item_knn import ItemKNNMember
from ensemble.recommendation.metrics import coverage, hit_rate, ndcg, ranking_metrics, recall
from ensemble.recommendation.popularity import PopularityMember
from ensemble.recommendation.served import (
    FIXED_WEIGHTS,
    FIXED_WEIGHTS_SOURCE,
    NOT_SERVED,
    MemberStatus,
    RecommendEnsemble,
    RecommendMode,
    purchase_interactions,
)
from ensemble.recommendation.splits import TimeSplit, plan_split

__all__ = [
    "FIXED_WEIGHTS",
    "FIXED_WEIGHTS_SOURCE",
    "ITEM",
    "NOT_SERVED",
    "TEXT",
    "TIME",
    "USER",
    "BPRConfig",
    "BPRMember",
    "BipartitePageRankMember",
    "ContentMember",
    "EvaluationWindow",
    "FusionRecommender",
    "InteractionMatrix",
    "ItemKNNMember",
    "KnowledgeGraphMember",
    "Member",
    "MemberStatus",
    "MemberUnavailableError",
    "MiniLMEncoder",
    "NotFittedError",
    "PopularityMember",
    "RecommendEnsemble",
    "RecommendMode",
    "RecommendationError",
    "RecommendationReport",
    "RecommendedItem",
    "ScoringMember",
    "TextEncoder",
    "TimeSplit",
    "UnknownModeError",
    "UnknownUserError",
    "coverage",
    "default_members",
    "evaluate_recommenders",
    "fit_fusion_weights",
    "fuse_rankings",
    "hit_rate",
    "ndcg",
    "online_retail_interactions",
    "parse_times",
    "plan_split",
    "purchase_interactions",
    "ranking_metrics",
    "read_catalog_csv",
    "read_interactions_csv",
    "recall",
    "targets",
]
