"""Personalised PageRank by power iteration on a sparse matrix: the one kernel every graph recommender uses.

For a weighted undirected graph with weight matrix ``W`` and node strengths ``D = diag(W 1)``, the walk's
transition matrix is ``D^-1 W``; its column-stochastic transpose is ``T' = W D^-1`` (``W`` is symmetric).
With restart distribution ``s`` and ``alpha`` the probability of following an edge at each step::

    r_0 = s,  r_{t+1} = alpha * T' r_t,  x = (1 - alpha) * sum_t r_t

stopping once ``sum(r_t) < tol``; the mass still in ``r_t`` is exactly what the truncated sum misses, so
``tol`` bounds the L1 error. This is ``nx.pagerank(G, alpha, personalization=s)`` computed with one sparse
matrix product per step; a node without edges (a zero column of ``T'``) absorbs the mass that reaches it
instead of spreading it over the graph as NetworkX does with dangling nodes. Several restart
distributions (the columns of ``s``) run at once; iteration stops when the slowest column has converged.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import scipy.sparse as sp

from knowledge_graph.errors import PageRankInputError

__all__ = ["personalized_pagerank", "transition_transpose"]

Array = np.ndarray[Any, np.dtype[np.float64]]


def transition_transpose(weights: sp.csr_matrix | sp.csr_array) -> sp.csr_matrix:
    """``T' = W D^-1`` of a symmetric non-negative weight matrix ``W`` (rows of nodes without edges stay 0)."""
    if weights.shape[0] != weights.shape[1]:
        raise PageRankInputError(f"the weight matrix must be square, got shape {weights.shape}")
    strength = np.asarray(weights.sum(axis=1), dtype=np.float64).ravel()
    inverse = np.divide(1.0, strength, out=np.zeros_like(strength), where=strength > 0)
    transition_t: sp.csr_matrix = sp.csr_matrix(weights @ sp.diags(inverse))
    return transition_t


def _step_bound(mass: float, alpha: float, tol: float) -> int:
    """Steps after which ``alpha ** t * mass < tol`` holds for sure (plus one for rounding)."""
    if mass < tol:
        return 1
    return math.ceil(math.log(tol / mass) / math.log(alpha)) + 2


def personalized_pagerank(
    transition_t: sp.csr_matrix | sp.csr_array, seeds: Array, alpha: float, tol: float = 1e-6
) -> Array:
    """Personalised PageRank of the restart distribution ``seeds`` (``[N]``, or ``[N, B]`` for ``B`` at once).

    ``transition_t`` is the ``[N, N]`` column-(sub)stochastic matrix of :func:`transition_transpose`;
    ``seeds`` is non-negative, each column usually summing to 1. Returns an array shaped like ``seeds``.
    """
    if not 0.0 < alpha < 1.0:
        raise PageRankInputError(f"alpha must be in (0, 1), got {alpha}; it is the probability of following an edge")
    if not 0.0 < tol < 1.0:
        raise PageRankInputError(f"tol must be in (0, 1), got {tol}; use e.g. 1e-6")
    if seeds.ndim not in (1, 2) or seeds.shape[0] != transition_t.shape[1]:
        raise PageRankInputError(
            f"seeds of shape {seeds.shape} do not fit a walk over {transition_t.shape[1]} nodes; "
            "give one restart weight per node (a vector, or one column per restart distribution)"
        )
    residual = np.array(seeds, dtype=np.float64)  # [N] or [N, B], a copy
    if (residual < 0).any():
        raise PageRankInputError("seeds hold a negative restart weight; restart weights must be >= 0")
    estimate = (1.0 - alpha) * residual
    if residual.size == 0:
        return estimate
    # Each step multiplies the mass left by at most alpha, so the loop ends within this many steps unless
    # transition_t is not column-substochastic.
    steps_left = _step_bound(float(residual.sum(axis=0).max()), alpha, tol)
    while residual.sum(axis=0).max() >= tol:
        if steps_left == 0:
            raise PageRankInputError(
                f"personalised PageRank did not converge to tol {tol}: the transition matrix is not "
                "column-substochastic; build it with transition_transpose(weights)"
            )
        residual = alpha * (transition_t @ residual)
        estimate += (1.0 - alpha) * residual
        steps_left -= 1
    return estimate
