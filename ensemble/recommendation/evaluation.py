"""One evaluation path for every member and for the fusion (see :mod:`~ensemble.recommendation.metrics`).

1. Fusion weights: members are fitted on the interactions before ``validation_from`` and ranked for the users
   of the validation window; weights are fitted there (the test window is never read).
2. Test: members are refitted on everything before ``test_from`` and ranked for the test users; the fusion
   uses the weights of step 1.

Evaluated users have at least one training interaction and at least one test item they had not bought in
training; already-bought items are excluded from every ranking (the target is new items). Rankings are over
every item seen in training (no sampled negatives); test items never seen in training stay in the relevant
sets and count as misses.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ensemble.datasets import ONLINE_RETAIL_COLUMNS
from ensemble.errors import DataError
from ensemble.recommendation.base import Member, RecommendedItem
from ensemble.recommendation.bpr import BPRConfig, BPRMember
from ensemble.recommendation.content import ContentMember, TextEncoder
from ensemble.recommendation.errors import MemberUnavailableError
from ensemble.recommendation.fusion import fit_fusion_weights, fuse_rankings
from ensemble.recommendation.graph import BipartitePageRankMember, KnowledgeGraphMember
from ensemble.recommendation.interactions import ITEM, TIME, USER
from ensemble.recommendation.item_knn import ItemKNNMember
from ensemble.recommendation.metrics import ndcg, ranking_metrics
from ensemble.recommendation.popularity import PopularityMember
from ensemble.recommendation.splits import TimeSplit

__all__ = ["EvaluationWindow", "RecommendationReport", "default_members", "evaluate_recommenders", "targets"]

logger = logging.getLogger(__name__)

MemberFactory = Callable[[], Sequence[Member]]

PROTOCOL = (
    "full ranking over every training item; users with >= 1 training and >= 1 new test item; items the user "
    "bought in training are excluded (the target is new items); test items unseen in training count as misses"
)


def default_members(
    interactions: pd.DataFrame, encoder: TextEncoder | None = None, bpr: BPRConfig | None = None
) -> list[Member]:
    """popularity, item_knn, bpr, graph (the knowledge graph when the interactions keep the Online Retail
    columns, else the bipartite PageRank) and content."""
    online_retail = all(c in interactions.columns for c in ONLINE_RETAIL_COLUMNS)
    graph: Member = KnowledgeGraphMember() if online_retail else BipartitePageRankMember()
    return [PopularityMember(), ItemKNNMember(), BPRMember(bpr), graph, ContentMember(encoder)]


def targets(train: pd.DataFrame, window: pd.DataFrame) -> tuple[list[str], list[set[str]]]:
    """Users with training interactions and new items in ``window``, and those new items (sorted users)."""
    bought = train.groupby(USER, observed=True)[ITEM].agg(set)
    later = window.groupby(USER, observed=True)[ITEM].agg(set)
    users, relevant = [], []
    for user in sorted(set(bought.index) & set(later.index)):
        new = set(later[user]) - set(bought[user])
        if new:
            users.append(str(user))
            relevant.append(new)
    return users, relevant


@dataclass
class EvaluationWindow:
    """What one phase read: the fitting interactions' time range and the window it ranked for."""

    fit_first: pd.Timestamp
    fit_last: pd.Timestamp
    window_first: pd.Timestamp
    window_last: pd.Timestamp
    users: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {key: str(value) if isinstance(value, pd.Timestamp) else value for key, value in vars(self).items()}


@dataclass
class RecommendationReport:
    """Metrics per member and for the fusion, fusion weights, the windows read, and each member's fitting
    seconds on the final training period and on the pre-validation part."""

    members: dict[str, dict[str, Any]]
    fusion: dict[str, Any]
    split: TimeSplit
    weight_fitting: EvaluationWindow
    test: EvaluationWindow
    train_seconds: dict[str, float] = field(default_factory=dict)
    validation_train_seconds: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON object the CLI prints."""
        return {
            "members": self.members,
            "fusion": self.fusion,
            "protocol": {
                "ranking": PROTOCOL,
                "split": self.split.to_dict(),
                "weight_fitting": self.weight_fitting.to_dict(),
                "test": self.test.to_dict(),
            },
        }


def _window(fit: pd.DataFrame, window: pd.DataFrame, users: int) -> EvaluationWindow:
    return EvaluationWindow(
        fit_first=pd.Timestamp(fit[TIME].min()),
        fit_last=pd.Timestamp(fit[TIME].max()),
        window_first=pd.Timestamp(window[TIME].min()),
        window_last=pd.Timestamp(window[TIME].max()),
        users=users,
    )


def _run_phase(
    members: Sequence[Member],
    fit: pd.DataFrame,
    window: pd.DataFrame,
    catalog: pd.DataFrame | None,
    depth: int,
) -> tuple[list[str], list[set[str]], dict[str, list[list[RecommendedItem]]], dict[str, float], dict[str, str]]:
    """Fit every member on ``fit`` and rank ``depth`` items for the users of ``window``."""
    users, relevant = targets(fit, window)
    if not users:
        raise DataError(
            f"no user has interactions both before {window[TIME].min()} and new items from then until "
            f"{window[TIME].max()}; give more data or move the split"
        )
    seconds: dict[str, float] = {}
    lists: dict[str, list[list[RecommendedItem]]] = {}
    skipped: dict[str, str] = {}
    for member in members:
        started = time.perf_counter()
        try:
            member.fit(fit, catalog)
        except MemberUnavailableError as err:
            skipped[member.name] = str(err)
            logger.info("member %s skipped: %s", member.name, err)
            continue
        seconds[member.name] = time.perf_counter() - started
        started = time.perf_counter()
        lists[member.name] = member.recommend_many(users, depth, exclude_bought=True)
        logger.info(
            "%s: fitted in %.1f s, ranked %s users in %.1f s",
            member.name,
            seconds[member.name],
            len(users),
            time.perf_counter() - started,
        )
    return users, relevant, lists, seconds, skipped


def evaluate_recommenders(
    interactions: pd.DataFrame,
    split: TimeSplit,
    catalog: pd.DataFrame | None = None,
    members: MemberFactory | None = None,
    depth: int = 100,
    constant: float = 60.0,
) -> RecommendationReport:
    """Evaluate every member and their fusion on ``interactions`` split by ``split`` (see the module
    docstring). ``members`` builds the members (default: :func:`default_members`); ``depth`` items per member
    list are fused with the reciprocal-rank ``constant``."""
    chosen = list(members() if members is not None else default_members(interactions))
    train = split.train(interactions)
    test = split.test(interactions)
    pre_validation = split.pre_validation(interactions)
    validation = split.validation(interactions)
    for name, part in (("pre-validation", pre_validation), ("validation", validation), ("test", test)):
        if part.empty:
            raise DataError(f"the {name} window of {split.to_dict()} holds no interaction; move the split")

    val_users, val_relevant, val_lists, val_seconds, _ = _run_phase(chosen, pre_validation, validation, catalog, depth)
    weights = fit_fusion_weights(val_lists, val_relevant, constant=constant)
    weight_window = _window(pre_validation, validation, len(val_users))

    users, relevant, lists, seconds, skipped = _run_phase(chosen, train, test, catalog, depth)
    n_items = train[ITEM].nunique()
    results: dict[str, dict[str, Any]] = {}
    for name in (member.name for member in chosen):
        if name in skipped:
            results[name] = {"skipped": skipped[name]}
            continue
        rankings = [[rec.item for rec in row] for row in lists[name]]
        results[name] = {**ranking_metrics(rankings, relevant, n_items), "train_seconds": round(seconds[name], 2)}
    fused = fuse_rankings(lists, weights, 20, constant)
    fusion = {
        **ranking_metrics([[rec.item for rec in row] for row in fused], relevant, n_items),
        "weights": weights,
        "validation_ndcg@10_members": {
            name: ndcg([[r.item for r in row] for row in val_lists[name]], val_relevant, 10) for name in val_lists
        },
    }
    return RecommendationReport(
        members=results,
        fusion=fusion,
        split=split,
        weight_fitting=weight_window,
        test=_window(train, test, len(users)),
        train_seconds=seconds,
        validation_train_seconds=val_seconds,
    )
