"""The interface every recommendation member shares, and the base of the members that score every item.

A member is fitted on training interactions (and optionally a catalogue) and then ranks items for users.
Scoring members compute a dense ``[U, I]`` score matrix over every item seen in training (full ranking, no
sampled negatives) and rank from it; the others (the knowledge-graph member) rank directly.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from numpy.typing import NDArray

from ensemble.recommendation.errors import NotFittedError, UnknownUserError
from ensemble.recommendation.interactions import ITEM, TEXT, USER

__all__ = ["InteractionMatrix", "Member", "RecommendedItem", "ScoringMember"]

Scores = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class RecommendedItem:
    """One recommended item: its id, the member's score, and an explanation in words when the member gives
    one. ``sources`` maps member name to the item's 1-based rank in that member's list (fusion only)."""

    item: str
    score: float
    explanation: str | None = None
    sources: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


class InteractionMatrix:
    """Users × items of the training interactions: ``binary`` (1 where the user interacted) and ``counts``.

    Users and items are numbered in sorted order of their ids; ``items`` is the ranking universe.
    """

    def __init__(self, interactions: pd.DataFrame, catalog: pd.DataFrame | None = None) -> None:
        users = interactions[USER].astype(str)
        items = interactions[ITEM].astype(str)
        self.users = pd.Index(np.unique(users.to_numpy()))
        self.items = pd.Index(np.unique(items.to_numpy()))
        rows = self.users.get_indexer(pd.Index(users))
        cols = self.items.get_indexer(pd.Index(items))
        shape = (len(self.users), len(self.items))
        counts = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=shape)
        counts.sum_duplicates()
        self.counts: sp.csr_matrix = counts
        self.binary: sp.csr_matrix = counts.copy()
        self.binary.data[:] = 1.0
        self.labels = self._labels(catalog)

    def _labels(self, catalog: pd.DataFrame | None) -> list[str]:
        """Item descriptions for explanations (the item id where the catalogue has none)."""
        if catalog is None:
            return [str(i) for i in self.items]
        text = catalog.drop_duplicates(ITEM).set_index(ITEM)[TEXT]
        found = text.reindex(self.items)
        return [str(t) if isinstance(t, str) and t else str(i) for i, t in zip(self.items, found, strict=True)]

    def rows(self, member: str, users: Sequence[str]) -> NDArray[np.int64]:
        """Row positions of ``users``; raises :class:`UnknownUserError` for a user without interactions."""
        found: NDArray[np.int64] = np.asarray(self.users.get_indexer(pd.Index(list(users))), dtype=np.int64)
        if (found < 0).any():
            raise UnknownUserError(member, str(users[int(np.flatnonzero(found < 0)[0])]))
        return found

    def bought(self, row: int) -> NDArray[np.int32]:
        """Item positions the user of ``row`` interacted with."""
        start, stop = self.binary.indptr[row], self.binary.indptr[row + 1]
        return np.asarray(self.binary.indices[start:stop])


class Member(abc.ABC):
    """A recommendation member: :meth:`fit` on training interactions, then :meth:`recommend`."""

    name: str = "member"

    @abc.abstractmethod
    def fit(self, train: pd.DataFrame, catalog: pd.DataFrame | None = None) -> None:
        """Fit on interactions in the canonical layout (see :mod:`~ensemble.recommendation.interactions`)."""

    @abc.abstractmethod
    def recommend_many(
        self, users: Sequence[str], k: int, exclude_bought: bool = True, explain: bool = False
    ) -> list[list[RecommendedItem]]:
        """Top-``k`` items for each user, best first; with ``explain``, items carry explanations when the
        member can give them."""

    def recommend(self, user: str, k: int = 10, exclude_bought: bool = True) -> list[RecommendedItem]:
        """Top-``k`` items for one user, with explanations where the member gives them."""
        return self.recommend_many([user], k, exclude_bought, explain=True)[0]


class ScoringMember(Member):
    """A member that scores every training item for a user; subclasses implement :meth:`_score_rows`."""

    _matrix: InteractionMatrix | None = None

    @property
    def matrix(self) -> InteractionMatrix:
        """The training interactions (raises :class:`NotFittedError` before :meth:`fit`)."""
        if self._matrix is None:
            raise NotFittedError(self.name)
        return self._matrix

    def fit(self, train: pd.DataFrame, catalog: pd.DataFrame | None = None) -> None:
        self._matrix = InteractionMatrix(train, catalog)
        self._fit(self._matrix, catalog)

    @abc.abstractmethod
    def _fit(self, matrix: InteractionMatrix, catalog: pd.DataFrame | None) -> None:
        """Learn from the interaction matrix."""

    @abc.abstractmethod
    def _score_rows(self, rows: NDArray[np.int64]) -> Scores:
        """Scores ``[len(rows), n_items]`` for the users at ``rows``."""

    def explain(self, row: int, item: int) -> str | None:
        """Why ``item`` is recommended to the user at ``row`` (None when the member cannot say)."""
        return None

    def score(self, users: Sequence[str]) -> Scores:
        """Scores ``[U, I]`` over every training item (columns in :attr:`InteractionMatrix.items` order)."""
        return self._score_rows(self.matrix.rows(self.name, users))

    def recommend_many(
        self, users: Sequence[str], k: int, exclude_bought: bool = True, explain: bool = False
    ) -> list[list[RecommendedItem]]:
        matrix = self.matrix
        rows = matrix.rows(self.name, users)
        out: list[list[RecommendedItem]] = []
        for start in range(0, len(rows), 512):
            chunk = rows[start : start + 512]
            scores = self._score_rows(chunk)
            for line, row in zip(scores, chunk, strict=True):
                if exclude_bought:
                    line[matrix.bought(int(row))] = -np.inf
                top = top_k(line, k)
                out.append(
                    [
                        RecommendedItem(
                            item=str(matrix.items[j]),
                            score=float(line[j]),
                            explanation=self.explain(int(row), int(j)) if explain else None,
                        )
                        for j in top
                    ]
                )
        return out


def top_k(scores: Scores, k: int) -> NDArray[np.int64]:
    """Positions of the ``k`` highest finite scores, best first; ties go to the lower position."""
    allowed = np.flatnonzero(np.isfinite(scores))
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    if allowed.size > k:
        # Keep every item tied with the k-th best so that the tie-break below sees all of them.
        kth = scores[allowed[np.argpartition(-scores[allowed], k - 1)[k - 1]]]
        allowed = allowed[scores[allowed] >= kth]
    order = np.lexsort((allowed, -scores[allowed]))
    result: NDArray[np.int64] = allowed[order][:k].astype(np.int64)
    return result
