"""Each member on toy interactions where the right answer is known."""

from __future__ import annotations

from collections.abc import Sequence

import networkx as nx
import numpy as np
import pandas as pd
import pytest
from numpy.typing import NDArray

from ensemble.recommendation import (
    ITEM,
    TEXT,
    BipartitePageRankMember,
    BPRConfig,
    BPRMember,
    ContentMember,
    ItemKNNMember,
    MemberUnavailableError,
    NotFittedError,
    PopularityMember,
    UnknownUserError,
)
from tests.ensemble.recommendation.conftest import interactions_frame


def test_popularity_ranks_unbought_items_by_buyers_ties_by_id(two_groups: pd.DataFrame) -> None:
    member = PopularityMember()
    member.fit(two_groups)

    ranked = [r.item for r in member.recommend_many(["q"], 4)[0]]

    # b1 has 5 buyers; a3, b2, b3 have 4 each; a1, a2 are excluded (bought by q).
    assert ranked == ["b1", "a3", "b2", "b3"]


def test_popularity_can_keep_bought_items(two_groups: pd.DataFrame) -> None:
    member = PopularityMember()
    member.fit(two_groups)

    ranked = [r.item for r in member.recommend_many(["q"], 3, exclude_bought=False)[0]]

    assert ranked == ["a1", "a2", "b1"]


def test_item_knn_scores_are_sums_of_cosines(two_groups: pd.DataFrame) -> None:
    member = ItemKNNMember()
    member.fit(two_groups)

    scores = member.score(["q"])[0]

    # cos(a1, a3) = |{g1..g4}| / sqrt(5 * 4); same for a2 -> score(a3) = 2 * 4 / sqrt(20); b-items share no buyer.
    items = list(member.matrix.items)
    assert scores[items.index("a3")] == pytest.approx(2 * 4 / np.sqrt(20))
    assert scores[items.index("b1")] == pytest.approx(0.0)
    top = member.recommend("q", 1)[0]
    assert top.item == "a3"
    assert top.explanation is not None and "a1" in top.explanation


def test_bpr_learns_the_group_structure(two_groups: pd.DataFrame) -> None:
    member = BPRMember(BPRConfig(dim=8, epochs=150, batch_size=64, learning_rate=0.05, seed=0))
    member.fit(two_groups)

    ranked = [r.item for r in member.recommend_many(["q", "h5"], 1)[0]]
    other = [r.item for r in member.recommend_many(["h5"], 2)[0]]

    assert ranked == ["a3"]
    assert set(other) == {"b2", "b3"}


def test_bpr_is_deterministic_for_a_seed(two_groups: pd.DataFrame) -> None:
    config = BPRConfig(dim=4, epochs=5, batch_size=16, seed=3)
    first, second = BPRMember(config), BPRMember(config)
    first.fit(two_groups)
    second.fit(two_groups)

    np.testing.assert_allclose(first.score(["q"]), second.score(["q"]))


def test_bipartite_pagerank_matches_networkx(two_groups: pd.DataFrame) -> None:
    member = BipartitePageRankMember(alpha=0.3, popularity_exponent=0.5, tol=1e-12)
    member.fit(two_groups)
    graph = nx.Graph()
    for (user, item), count in two_groups.groupby(["user", "item"]).size().items():
        graph.add_edge(("u", user), ("i", item), weight=float(count))
    # nx's alpha is the probability of following an edge, the same convention as ours.
    reference = nx.pagerank(
        graph, alpha=0.3, personalization={("i", "a1"): 0.5, ("i", "a2"): 0.5}, weight="weight", tol=1e-14
    )
    items = list(member.matrix.items)
    buyers = two_groups.groupby("item")["user"].nunique()
    expected = np.array([reference.get(("i", item), 0.0) / np.sqrt(buyers[item]) for item in items])

    scores = member.score(["q"])[0]

    np.testing.assert_allclose(scores, expected, rtol=1e-6, atol=1e-9)
    assert member.recommend("q", 1)[0].item == "a3"


# Rankings of BipartitePageRankMember(), defaults alpha 0.3, popularity exponent 0.5, tol 1e-6, on two_groups
# plus three bridging interactions, recorded before the power iteration moved to knowledge_graph.pagerank:
# (user, exclude_bought) -> [(item, score)], best first.
BRIDGES = [("q", "b1"), ("h5", "a3"), ("g1", "a1")]
RECORDED_RANKINGS = {
    ("q", True): [("a3", 0.0060500836398254595), ("b2", 0.0026006931806032895), ("b3", 0.0026006931806032895)],
    ("q", False): [
        ("a1", 0.11267651773962681),
        ("a2", 0.11130335396093198),
        ("b1", 0.09980255824063114),
        ("a3", 0.0060500836398254595),
        ("b2", 0.0026006931806032895),
        ("b3", 0.0026006931806032895),
    ],
    ("h5", True): [
        ("a1", 0.005574971347578582),
        ("a2", 0.004777607435511684),
        ("b2", 0.003891098211968116),
        ("b3", 0.003891098211968116),
    ],
    ("g1", False): [
        ("a1", 0.16762665451981937),
        ("a2", 0.08732375339974911),
        ("a3", 0.08674795353312117),
        ("b1", 0.002024484677703574),
        ("b2", 5.2753494433860365e-05),
        ("b3", 5.2753494433860365e-05),
    ],
}


def test_bipartite_pagerank_rankings_are_the_recorded_ones(two_groups: pd.DataFrame) -> None:
    # Prepare
    frame = pd.concat([two_groups, interactions_frame(BRIDGES, start="2021-01-01")], ignore_index=True)
    member = BipartitePageRankMember()
    member.fit(frame)

    for (user, exclude_bought), expected in RECORDED_RANKINGS.items():
        # Execute
        found = member.recommend_many([user], 10, exclude_bought)[0]

        # Assert
        assert [r.item for r in found] == [item for item, _ in expected], (user, exclude_bought)
        np.testing.assert_allclose([r.score for r in found], [score for _, score in expected], rtol=1e-12)
    # Users scored as one block rank as when scored one by one.
    block = member.score(["q", "h5", "g1"])
    np.testing.assert_allclose(block, np.vstack([member.score([u]) for u in ("q", "h5", "g1")]), rtol=1e-12)


class _TableEncoder:
    """Fixed vectors per text (an encoder whose answer is known)."""

    def __init__(self, table: dict[str, Sequence[float]]) -> None:
        self.table = table
        self.calls = 0

    def encode(self, texts: Sequence[str]) -> NDArray[np.float64]:
        self.calls += 1
        return np.array([self.table[t] for t in texts], dtype=np.float64)


def test_content_ranks_by_cosine_to_the_mean_profile(two_groups: pd.DataFrame) -> None:
    table = {
        "red mug": [1.0, 0.0, 0.0],
        "red cup": [0.9, 0.1, 0.0],
        "red jug": [0.8, 0.0, 0.2],
        "blue lamp": [0.0, 1.0, 0.0],
        "blue light": [0.0, 0.9, 0.1],
        "green rug": [0.0, 0.0, 1.0],
    }
    catalog = pd.DataFrame({ITEM: ["a1", "a2", "a3", "b1", "b2", "b3"], TEXT: list(table)})
    member = ContentMember(_TableEncoder(table))
    member.fit(two_groups, catalog)

    ranked = member.recommend("q", 4)

    # q bought "red mug" and "red cup": profile ~ (1.9, 0.1, 0) -> "red jug" first; the rest follow their
    # cosine to that profile, computed below independently of the member.
    assert ranked[0].item == "a3"
    assert ranked[0].explanation is not None and "red" in ranked[0].explanation
    profile = np.array([1.9, 0.1, 0.0]) / np.linalg.norm([1.9, 0.1, 0.0])
    vectors = {k: np.array(v) / np.linalg.norm(v) for k, v in table.items()}
    expected = sorted(
        ["a3", "b1", "b2", "b3"], key=lambda i: -float(vectors[catalog.set_index(ITEM)[TEXT][i]] @ profile)
    )
    assert [r.item for r in ranked] == expected


def test_content_without_catalogue_is_unavailable(two_groups: pd.DataFrame) -> None:
    member = ContentMember(_TableEncoder({}))

    with pytest.raises(MemberUnavailableError, match="catalog"):
        member.fit(two_groups, None)


def test_members_refuse_unknown_users_and_unfitted_use(two_groups: pd.DataFrame) -> None:
    member = ItemKNNMember()
    with pytest.raises(NotFittedError):
        member.recommend("q")
    member.fit(two_groups)

    with pytest.raises(UnknownUserError, match="nobody"):
        member.recommend("nobody")
