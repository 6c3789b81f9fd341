"""Item-kNN: cosine similarity between items' columns of the binary user–item matrix.

``sim(i, j) = |U_i ∩ U_j| / sqrt(|U_i| |U_j|)``, each item keeping its ``neighbours`` most similar items; a
user's score for item ``j`` is the sum of ``sim(i, j)`` over the items ``i`` they bought.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
from numpy.typing import NDArray

from ensemble.recommendation.base import InteractionMatrix, Scores, ScoringMember

__all__ = ["ItemKNNMember"]

_CHUNK = 1024


class ItemKNNMember(ScoringMember):
    """Item-based nearest neighbours over cosine similarity (scipy sparse)."""

    name = "item_knn"

    def __init__(self, neighbours: int = 200) -> None:
        if neighbours < 1:
            raise ValueError(f"neighbours must be >= 1, got {neighbours}; use e.g. 200")
        self.neighbours = neighbours
        self._similarity: sp.csr_matrix = sp.csr_matrix((0, 0))

    def _fit(self, matrix: InteractionMatrix, catalog: pd.DataFrame | None) -> None:
        binary = matrix.binary
        norms = np.sqrt(np.asarray(binary.sum(axis=0), dtype=np.float64).ravel())
        inverse = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
        normalised = (binary @ sp.diags(inverse)).tocsc()  # users × items, unit columns
        n_items = binary.shape[1]
        blocks = []
        for start in range(0, n_items, _CHUNK):
            stop = min(start + _CHUNK, n_items)
            block = (normalised[:, start:stop].T @ normalised).toarray()  # chunk × items cosine
            block[np.arange(stop - start), np.arange(start, stop)] = 0.0
            if n_items > self.neighbours:
                weakest = np.argpartition(-block, self.neighbours, axis=1)[:, self.neighbours :]
                np.put_along_axis(block, weakest, 0.0, axis=1)
            blocks.append(sp.csr_matrix(block))
        self._similarity = sp.vstack(blocks).tocsr() if blocks else sp.csr_matrix((0, 0))

    def _score_rows(self, rows: NDArray[np.int64]) -> Scores:
        scores: Scores = np.asarray((self.matrix.binary[rows] @ self._similarity).toarray(), dtype=np.float64)
        return scores

    def explain(self, row: int, item: int) -> str | None:
        bought = self.matrix.bought(row)
        if bought.size == 0:
            return None
        links = self._similarity[bought][:, [item]].toarray().ravel()
        if links.max() <= 0:
            return None
        best = int(bought[int(np.argmax(links))])
        return f"customers who bought {self.matrix.labels[best]} also bought this"
