from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd
import pytest

from knowledge_graph import BuildConfig, GraphRecommender, ProductGraph, UnknownCustomerError, build_graph


def _synthetic_orders(seed: int = 0) -> pd.DataFrame:
    """A medium random shop: 120 products in 6 themes, 150 customers buying mostly from two themes."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(150):
        themes = rng.choice(6, size=2, replace=False)
        for inv in range(int(rng.integers(1, 5))):
            invoice = f"{500000 + c * 10 + inv}"
            items = {
                int(t) * 20 + int(rng.integers(0, 20))
                for t in rng.choice(themes, size=int(rng.integers(2, 7)))
            }
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


def test_push_matches_networkx_pagerank(medium_graph: ProductGraph) -> None:
    # Prepare
    rec = GraphRecommender.from_graph(medium_graph.nx_graph)
    walk = rec.to_networkx()
    rng = np.random.default_rng(1)
    customers = rng.choice(np.arange(12000, 12150), size=10, replace=False)
    overlaps = []
    for c in customers:
        seed = rec.seed(int(c))
        # Execute: exact PageRank from NetworkX vs the push approximation.
        exact = nx.pagerank(
            walk, alpha=rec.alpha, personalization=seed, weight="weight", tol=1e-12, max_iter=1000
        )
        pushed = rec.scores(seed)
        products = [n for n in rec.nodes if n.startswith("product:") and n not in seed]
        top_exact = sorted(products, key=lambda n: -exact[n])[:10]
        idx = {n: i for i, n in enumerate(rec.nodes)}
        top_push = sorted(products, key=lambda n: -pushed[idx[n]])[:10]
        overlaps.append(len(set(top_exact) & set(top_push)) / 10)
        assert pushed.sum() == pytest.approx(1.0, abs=1e-3)
    # Assert
    assert np.mean(overlaps) >= 0.9


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
