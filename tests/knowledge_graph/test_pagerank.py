"""The personalised-PageRank kernel against NetworkX's PageRank, run side by side on a small graph."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp

from knowledge_graph import PageRankInputError, personalized_pagerank, transition_transpose

NODES = 7


def _small_graph() -> nx.Graph:
    """Two weighted triangles joined by a path, no node without edges (NetworkX treats those differently)."""
    graph = nx.Graph()
    graph.add_nodes_from(range(NODES))
    graph.add_weighted_edges_from(
        [(0, 1, 1.0), (1, 2, 2.0), (0, 2, 1.0), (2, 3, 0.5), (3, 4, 3.0), (4, 5, 1.0), (5, 6, 2.0), (4, 6, 1.0)]
    )
    return graph


def _transition(graph: nx.Graph) -> sp.csr_matrix:
    return transition_transpose(sp.csr_matrix(nx.to_scipy_sparse_array(graph, nodelist=range(NODES))))


@pytest.mark.parametrize("alpha", [0.1, 0.5, 0.85])
def test_the_kernel_matches_networkx_personalised_pagerank(alpha: float) -> None:
    # Prepare
    graph = _small_graph()
    restarts = [{0: 1.0}, {1: 0.25, 5: 0.75}, {3: 0.5, 6: 0.5}]
    seeds = np.zeros((NODES, len(restarts)))
    for column, restart in enumerate(restarts):
        for node, weight in restart.items():
            seeds[node, column] = weight
    expected = np.array(
        [
            [
                nx.pagerank(graph, alpha=alpha, personalization=r, weight="weight", tol=1e-14, max_iter=10_000)[n]
                for n in range(NODES)
            ]
            for r in restarts
        ]
    ).T

    # Execute: one column at a time and all columns at once.
    transition_t = _transition(graph)
    vectors = [personalized_pagerank(transition_t, seeds[:, c], alpha, tol=1e-12) for c in range(len(restarts))]
    block = personalized_pagerank(transition_t, seeds, alpha, tol=1e-12)

    # Assert
    np.testing.assert_allclose(np.column_stack(vectors), expected, atol=1e-10)
    np.testing.assert_allclose(block, expected, atol=1e-10)
    assert block.shape == seeds.shape


def test_tol_bounds_the_l1_error() -> None:
    # Prepare
    graph = _small_graph()
    seed = np.zeros(NODES)
    seed[2] = 1.0
    exact = nx.pagerank(graph, alpha=0.85, personalization={2: 1.0}, weight="weight", tol=1e-14, max_iter=10_000)

    # Execute
    approx = personalized_pagerank(_transition(graph), seed, 0.85, tol=1e-3)

    # Assert: truncating leaves out at most tol of the mass, and it does leave some out.
    error = np.abs(np.array([exact[n] for n in range(NODES)]) - approx).sum()
    assert 0.0 < error < 1e-3


def test_the_seeds_are_not_modified() -> None:
    seed = np.zeros(NODES)
    seed[0] = 1.0

    personalized_pagerank(_transition(_small_graph()), seed, 0.5)

    assert seed.tolist() == [1.0] + [0.0] * (NODES - 1)


@pytest.mark.parametrize(
    ("alpha", "tol", "shape", "match"),
    [
        (1.0, 1e-6, (NODES,), "alpha must be in"),
        (0.5, 0.0, (NODES,), "tol must be in"),
        (0.5, 1e-6, (NODES + 1,), "do not fit a walk over 7 nodes"),
        (0.5, 1e-6, (NODES, 2, 1), "do not fit a walk over 7 nodes"),
    ],
)
def test_bad_settings_are_refused(alpha: float, tol: float, shape: tuple[int, ...], match: str) -> None:
    seeds = np.full(shape, 1.0 / NODES)

    with pytest.raises(PageRankInputError, match=match):
        personalized_pagerank(_transition(_small_graph()), seeds, alpha, tol)


def test_negative_restart_weights_are_refused() -> None:
    seeds = np.zeros(NODES)
    seeds[[0, 1]] = [1.5, -0.5]

    with pytest.raises(PageRankInputError, match="negative restart weight"):
        personalized_pagerank(_transition(_small_graph()), seeds, 0.5)


def test_a_matrix_that_is_not_substochastic_ends_with_an_error_not_an_endless_loop() -> None:
    # Prepare: raw weights instead of T' = W D^-1, so the mass grows at each step.
    weights = sp.csr_matrix(nx.to_scipy_sparse_array(_small_graph(), nodelist=range(NODES)))
    seed = np.zeros(NODES)
    seed[4] = 1.0

    with pytest.raises(PageRankInputError, match="not column-substochastic"):
        personalized_pagerank(weights, seed, 0.85)


def test_a_node_without_edges_keeps_a_zero_column() -> None:
    weights = sp.csr_matrix(np.array([[0.0, 2.0, 0.0], [2.0, 0.0, 0.0], [0.0, 0.0, 0.0]]))

    transition_t = transition_transpose(weights).toarray()

    np.testing.assert_array_equal(transition_t, [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])


def test_a_weight_matrix_must_be_square() -> None:
    with pytest.raises(PageRankInputError, match=r"must be square, got shape \(2, 3\)"):
        transition_transpose(sp.csr_matrix(np.ones((2, 3))))
