"""Popularity: every user gets the items with the most distinct buyers in training."""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from ensemble.recommendation.base import InteractionMatrix, Scores, ScoringMember

__all__ = ["PopularityMember"]


class PopularityMember(ScoringMember):
    """Scores an item by its number of distinct training users (the same list for everyone)."""

    name = "popularity"

    def __init__(self) -> None:
        self._buyers: Scores = np.zeros(0)

    def _fit(self, matrix: InteractionMatrix, catalog: pd.DataFrame | None) -> None:
        self._buyers = np.asarray(matrix.binary.sum(axis=0), dtype=np.float64).ravel()

    def _score_rows(self, rows: NDArray[np.int64]) -> Scores:
        return np.tile(self._buyers, (len(rows), 1))

    def explain(self, row: int, item: int) -> str | None:
        return f"popular: bought by {int(self._buyers[item])} customers"
