from __future__ import annotations

from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd
import pytest

from knowledge_graph import (
    BuildConfig,
    GraphRecommender,
    ProductGraph,
    RecommendConfig,
    UnknownCustomerError,
    build_graph,
)


def _synthetic_orders(seed: int = 0) -> pd.DataFrame:
    """A medium random shop: 120 products in 6 themes, 150 customers buying mostly from two themes."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(150):
        themes = rng.choice(6, size=2, replace=False)
        for inv in range(int(rng.integers(1, 5))):
            invoice = f"{500000 + c * 10 + inv}"
            items = {int(t) * 20 + int(rng.integers(0, 20)) for t in rng.choice(themes, size=int(rng.integers(2, 7)))}
            for item in items:
                rows.append(
                    (
                        invoice,
                        f"{10000 + item}",
                        f"THEME {item // 20} ITEM {item} MUG",
                        int(rng.integers(1, 6)),
                        pd.Timestamp("2011-01-01") + pd.Timedelta(days=c + inv),
                        1.0 + item % 7,
                        12000 + c,
                        "United Kingdom",
                    )
                )
    frame = pd.DataFrame(
        rows,
        columns=[
            "InvoiceNo",
            "StockCode",
            "Description",
            "Quantity",
            "InvoiceDate",
            "UnitPrice",
            "CustomerID",
            "Country",
        ],
    )
    frame["InvoiceDate"] = frame["InvoiceDate"].astype("datetime64[ns]")
    frame["CustomerID"] = frame["CustomerID"].astype("Int64")
    return frame


@pytest.fixture(scope="module")
def medium_graph() -> ProductGraph:
    return build_graph(_synthetic_orders(), BuildConfig(min_support=2))


CONFIGS = [
    pytest.param(RecommendConfig(), id="default"),
    pytest.param(
        RecommendConfig(alpha=0.85, copurchase_weight=5.0, popularity_exponent=0.0, recency_half_life_days=30.0),
        id="copurchase-alpha0.85-recency",
    ),
]


@pytest.mark.parametrize("config", CONFIGS)
def test_scores_match_networkx_pagerank(medium_graph: ProductGraph, config: RecommendConfig) -> None:
    # Prepare
    rec = GraphRecommender.from_graph(medium_graph.nx_graph, config)
    walk = rec.to_networkx()
    rng = np.random.default_rng(1)
    customers = rng.choice(np.arange(12000, 12150), size=10, replace=False)
    overlaps = []
    for c in customers:
        seed = rec.seed(int(c))
        # Execute: exact PageRank from NetworkX vs the truncated power iteration.
        exact = nx.pagerank(walk, alpha=rec.alpha, personalization=seed, weight="weight", tol=1e-12, max_iter=1000)
        approx = rec.scores(seed)
        # Assert: L1 error within the configured bound, same top-10 products.
        exact_vec = np.array([exact[n] for n in rec.nodes])
        assert np.abs(exact_vec - approx).sum() <= 2 * config.tol
        products = [n for n in rec.nodes if n.startswith("product:") and n not in seed]
        idx = {n: i for i, n in enumerate(rec.nodes)}
        top_exact = sorted(products, key=lambda n: -exact[n])[:10]
        top_approx = sorted(products, key=lambda n: -approx[idx[n]])[:10]
        overlaps.append(len(set(top_exact) & set(top_approx)) / 10)
    assert np.mean(overlaps) >= 0.9


def test_recommend_ranks_like_exact_pagerank_with_popularity_discount(medium_graph: ProductGraph) -> None:
    # Prepare: the final ranking recomputed from nx.pagerank and buyer counts from the customer histories.
    rec = medium_graph.recommender
    walk = rec.to_networkx()
    buyers: dict[str, int] = {}
    for c in range(12000, 12150):
        for p in medium_graph.customer_history(c).purchases:
            buyers[p.stock_code] = buyers.get(p.stock_code, 0) + 1
    beta = rec.config.popularity_exponent
    overlaps = []
    for c in (12003, 12017, 12050, 12101, 12149):
        seed = rec.seed(c)
        exact = nx.pagerank(walk, alpha=rec.alpha, personalization=seed, weight="weight", tol=1e-12)
        bought = {n.removeprefix("product:") for n in seed}
        expected = sorted(
            (code for code in buyers if code not in bought),
            key=lambda code: -exact[f"product:{code}"] / buyers[code] ** beta,
        )[:10]
        # Execute
        got = [r.stock_code for r in medium_graph.recommend(c, k=10)]
        overlaps.append(len(set(expected) & set(got)) / 10)
    # Assert
    assert np.mean(overlaps) >= 0.9


def test_recommender_from_tables_equals_scan_and_survives_save(medium_graph: ProductGraph, tmp_path: Path) -> None:
    # Prepare
    scanned = GraphRecommender.from_graph(medium_graph.nx_graph)
    loaded = ProductGraph.load(medium_graph.save(tmp_path / "kg"))
    # Execute / Assert: built (tables of the build), scanned and loaded recommenders agree.
    for c in (12003, 12050, 12149):
        built = medium_graph.recommend(c, k=8)
        assert built == scanned.recommend(c, k=8)
        assert built == loaded.recommend(c, k=8)


def test_recommend_config_rejects_bad_values() -> None:
    with pytest.raises(ValueError, match="alpha"):
        RecommendConfig(alpha=1.0)
    with pytest.raises(ValueError, match="recency_half_life_days"):
        RecommendConfig(recency_half_life_days=0.0)


def test_recommend_excludes_bought_and_explains(medium_graph: ProductGraph) -> None:
    bought = {p.stock_code for p in medium_graph.customer_history(12003).purchases}
    recs = medium_graph.recommend(12003, k=5)
    assert len(recs) == 5
    assert not bought & {r.stock_code for r in recs}
    assert all(r.explanation for r in recs)
    assert [r.score for r in recs] == sorted((r.score for r in recs), reverse=True)
    with_bought = medium_graph.recommend(12003, k=50, exclude_bought=False)
    assert bought & {r.stock_code for r in with_bought}


def test_explanation_names_a_bought_product(graph: ProductGraph) -> None:
    recs = graph.recommend(13047, k=3)
    assert recs, "customer 13047 should get a recommendation"
    first = recs[0]
    assert first.via_stock_code in {p.stock_code for p in graph.customer_history(13047).purchases}
    assert "you bought" in first.explanation


def test_unknown_customer(graph: ProductGraph) -> None:
    with pytest.raises(UnknownCustomerError):
        graph.recommend(1)
