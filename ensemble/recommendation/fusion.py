"""Ensemble modes over recommendation members: ``parallel`` (each member's list) and ``fusion`` (weighted
reciprocal-rank fusion, weights fitted on a validation window).

An item's fused score is ``sum_m w_m / (constant + rank_m)`` over the members whose top ``depth`` list holds it
(``rank_m`` counted from 1). Ranks rather than scores are fused because members score on unrelated scales and
the knowledge graph returns a ranked list only.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence, Set

import numpy as np
import pandas as pd

from ensemble.recommendation.base import Member, RecommendedItem, top_k
from ensemble.recommendation.errors import MemberUnavailableError, NotFittedError
from ensemble.recommendation.metrics import ndcg

__all__ = ["FusionRecommender", "fit_fusion_weights", "fuse_rankings"]

logger = logging.getLogger(__name__)

WEIGHT_GRID = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0)

MemberLists = Mapping[str, Sequence[Sequence[RecommendedItem]]]


def fuse_rankings(
    lists: MemberLists, weights: Mapping[str, float], k: int, constant: float = 60.0
) -> list[list[RecommendedItem]]:
    """Weighted reciprocal-rank fusion of each user's member lists (all members list the same users, in
    order). Items keep the first explanation of the highest-weighted member that explains them."""
    names = [name for name in lists if weights.get(name, 0.0) > 0.0]
    n_users = len(next(iter(lists.values()))) if lists else 0
    order = sorted(names, key=lambda n: -weights[n])
    out: list[list[RecommendedItem]] = []
    for user in range(n_users):
        score: dict[str, float] = {}
        sources: dict[str, dict[str, int]] = {}
        explanation: dict[str, str] = {}
        for name in order:
            for rank, rec in enumerate(lists[name][user], start=1):
                score[rec.item] = score.get(rec.item, 0.0) + weights[name] / (constant + rank)
                sources.setdefault(rec.item, {})[name] = rank
                if rec.explanation and rec.item not in explanation:
                    explanation[rec.item] = rec.explanation
        items = list(score)
        values = np.array([score[i] for i in items])
        out.append(
            [
                RecommendedItem(
                    item=items[j],
                    score=float(values[j]),
                    explanation=explanation.get(items[j]),
                    sources=sources[items[j]],
                )
                for j in top_k(values, k)
            ]
        )
    return out


def fit_fusion_weights(
    lists: MemberLists,
    relevant: Sequence[Set[str]],
    *,
    constant: float = 60.0,
    grid: Sequence[float] = WEIGHT_GRID,
    passes: int = 3,
) -> dict[str, float]:
    """Weights maximising mean NDCG@10 of the fused lists on validation users, by coordinate ascent over
    ``grid`` from equal weights (a change must improve NDCG by more than 1e-9 to be kept)."""
    names = list(lists)
    if not names:
        return {}
    items = pd.Index(sorted({rec.item for rows in lists.values() for row in rows for rec in row}))
    n_users = len(relevant)
    # One dense users × items matrix of 1 / (constant + rank) per member.
    reciprocal = {}
    for name in names:
        matrix = np.zeros((n_users, len(items)))
        for user, row in enumerate(lists[name]):
            positions = items.get_indexer(pd.Index([rec.item for rec in row]))
            matrix[user, positions] = 1.0 / (constant + np.arange(1, len(row) + 1))
        reciprocal[name] = matrix

    def quality(weights: Mapping[str, float]) -> float:
        if not any(weights.values()):
            return -1.0
        fused = np.zeros((n_users, len(items)))
        for name, weight in weights.items():
            fused += weight * reciprocal[name]
        rankings = [[str(items[j]) for j in top_k(np.where(line > 0, line, -np.inf), 10)] for line in fused]
        return ndcg(rankings, relevant, 10)

    weights = dict.fromkeys(names, 1.0)
    best = quality(weights)
    for _ in range(passes):
        changed = False
        for name in names:
            for value in grid:
                trial = {**weights, name: value}
                result = quality(trial)
                if result > best + 1e-9:
                    best, weights, changed = result, trial, True
        if not changed:
            break
    logger.info("fusion weights %s: validation NDCG@10 %.4f", weights, best)
    return weights


class FusionRecommender:
    """Members side by side (:meth:`parallel`) and fused (:meth:`fusion`) with the given weights.

    :meth:`fit` fits every member; a member that cannot run on the data (``MemberUnavailableError``) is left
    out and its reason kept in :attr:`skipped`.
    """

    def __init__(
        self,
        members: Sequence[Member],
        weights: Mapping[str, float] | None = None,
        depth: int = 100,
        constant: float = 60.0,
    ) -> None:
        self.members = {m.name: m for m in members}
        self.weights = dict(weights) if weights is not None else dict.fromkeys(self.members, 1.0)
        self.depth = depth
        self.constant = constant
        self.skipped: dict[str, str] = {}
        self._fitted = False

    def fit(self, train: pd.DataFrame, catalog: pd.DataFrame | None = None) -> None:
        """Fit every member on ``train``."""
        self.skipped = {}
        for name, member in self.members.items():
            try:
                member.fit(train, catalog)
            except MemberUnavailableError as err:
                self.skipped[name] = str(err)
                logger.info("member %s skipped: %s", name, err)
        self._fitted = True

    @property
    def active(self) -> list[str]:
        """Names of the fitted members that take part."""
        return [name for name in self.members if name not in self.skipped]

    def parallel_many(
        self, users: Sequence[str], k: int, exclude_bought: bool = True, explain: bool = False
    ) -> dict[str, list[list[RecommendedItem]]]:
        """Every active member's top ``k`` for each user."""
        if not self._fitted:
            raise NotFittedError("fusion")
        return {name: self.members[name].recommend_many(users, k, exclude_bought, explain) for name in self.active}

    def parallel(self, user: str, k: int = 10, exclude_bought: bool = True) -> dict[str, list[RecommendedItem]]:
        """Each member's list for ``user``, with explanations where members give them."""
        return {name: lists[0] for name, lists in self.parallel_many([user], k, exclude_bought, True).items()}

    def fusion(self, user: str, k: int = 10, exclude_bought: bool = True) -> list[RecommendedItem]:
        """The fused list for ``user``; each item names the members (and ranks) that listed it."""
        lists = self.parallel_many([user], self.depth, exclude_bought, explain=True)
        return fuse_rankings(lists, self.weights, k, self.constant)[0]
