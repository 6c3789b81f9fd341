"""Benchmark of the knowledge graph on UCI Online Retail (prints figures; never asserted).

Run: ``.venv/bin/python benchmarks/bench_knowledge_graph.py [--customers 50] [--exact 20] [--tune]``. Reads the CSV
from
``$SHOPMESH_SHARED_DATA/online-retail`` (default ``../shared/data`` beside the repository).
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import tempfile
import time
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd
import scipy.sparse as sp

from knowledge_graph import EdgeWeight, GraphRecommender, ProductGraph, RecommendConfig, build_graph
from knowledge_graph.taxonomy import category_coverage, is_merchandise, normalise_text

SPLIT = pd.Timestamp("2011-11-01")
"""Test split: train before, test after (report once, never tune on it)."""
VALIDATION_START = pd.Timestamp("2011-10-01")
"""Validation window for choosing RecommendConfig: train before it, validate up to SPLIT."""


def load_orders() -> pd.DataFrame:
    root = Path(__file__).resolve().parents[1]
    base = Path(os.environ.get("SHOPMESH_SHARED_DATA", root / ".." / "shared" / "data")).resolve()
    return pd.read_csv(
        base / "online-retail" / "onlineretail.csv.xz",
        dtype={"InvoiceNo": str, "StockCode": str, "CustomerID": "Int64"},
        parse_dates=["InvoiceDate"],
    )


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def bench_build(orders: pd.DataFrame) -> ProductGraph:
    before = rss_mib()
    started = time.perf_counter()
    graph = build_graph(orders)
    build_s = time.perf_counter() - started
    print(f"build: {len(orders)} lines in {build_s:.1f} s; peak RSS {rss_mib():.0f} MiB (before build {before:.0f})")
    print(f"stats: {graph.stats().to_dict()}")
    cats = [d["category"] for _, d in graph.nx_graph.nodes(data=True) if d["kind"] == "product"]
    print(f"category coverage: {100 * category_coverage(cats):.1f}% of {len(cats)} products")
    sample = random.Random(0).sample(
        [(d["description"], d["category"]) for _, d in graph.nx_graph.nodes(data=True) if d["kind"] == "product"],
        12,
    )
    for desc, cat in sample:
        print(f"  {desc!r:45} -> {cat}")
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        graph.save(Path(tmp) / "kg")
        save_s = time.perf_counter() - started
        started = time.perf_counter()
        loaded = ProductGraph.load(Path(tmp) / "kg")
        load_s = time.perf_counter() - started
        started = time.perf_counter()
        loaded.recommend(_customers_with_purchases(loaded)[0], k=10)
        first_s = time.perf_counter() - started
        started = time.perf_counter()
        loaded.order("536365")
        order_s = time.perf_counter() - started
        started = time.perf_counter()
        n_edges = loaded.nx_graph.number_of_edges()  # inserts the deferred contains edges
        contains_s = time.perf_counter() - started
    print(
        f"build {build_s:.1f} s | save {save_s:.1f} s | load {load_s:.2f} s (build/load {build_s / load_s:.1f}x) | "
        f"first recommend after load {first_s:.2f} s | first order() {order_s:.2f} s | "
        f"inserting the deferred contains edges (nx_graph) {contains_s:.2f} s "
        f"(build/(load+contains) {build_s / (load_s + contains_s):.1f}x; {n_edges} edges)"
    )
    return graph


def _customers_with_purchases(graph: ProductGraph) -> list[int]:
    walk = graph.recommender.walk
    has = walk.bought_indptr[1:] > walk.bought_indptr[:-1]
    return [c for c, ok in zip(walk.customers, has, strict=True) if ok]


def bench_latency(graph: ProductGraph, n_customers: int, n_exact: int) -> None:
    rec = graph.recommender
    chosen = random.Random(0).sample(_customers_with_purchases(graph), n_customers)
    fast_ms = []
    for c in chosen:
        started = time.perf_counter()
        graph.recommend(c, k=10)
        fast_ms.append(1000 * (time.perf_counter() - started))
    walk = rec.to_networkx()
    nc = rec.walk.n_customers
    exact_ms, overlap_raw, overlap_final = [], [], []
    for c in chosen[:n_exact]:
        seed = rec.seed(c)
        started = time.perf_counter()
        pr = nx.pagerank(walk, alpha=rec.alpha, personalization=seed, weight="weight")
        exact_ms.append(1000 * (time.perf_counter() - started))
        exact = np.array([pr[n] for n in rec.nodes])
        bought = rec.walk.purchases_of(c)[0]
        approx = rec.scores(seed)
        # Raw PageRank top-10 (merchandise, not bought), then the final ranking (popularity discount).
        allowed = _mask(rec, bought)
        raw_exact = set(np.argsort(-np.where(allowed, exact[nc:], -1.0))[:10])
        raw_fast = set(np.argsort(-np.where(allowed, approx[nc:], -1.0))[:10])
        overlap_raw.append(len(raw_exact & raw_fast) / 10)
        final_exact = {rec.nodes[nc + j] for j in rec.rank(exact, bought, 10)}
        final_fast = {f"product:{r.stock_code}" for r in graph.recommend(c, k=10)}
        overlap_final.append(len(final_exact & final_fast) / 10)
    p50_fast, p50_exact = pct(fast_ms, 50), pct(exact_ms, 50)
    print(
        f"recommend (power iteration, incl. explanations): p50 {p50_fast:.1f} ms p95 {pct(fast_ms, 95):.1f} ms "
        f"over {len(fast_ms)} customers | nx.pagerank p50 {p50_exact:.0f} ms p95 {pct(exact_ms, 95):.0f} ms "
        f"over {len(exact_ms)} | ratio p50 {p50_exact / p50_fast:.0f}x | top-10 overlap with exact PPR: "
        f"raw scores {np.mean(overlap_raw):.2f}, final ranking {np.mean(overlap_final):.2f}"
    )


def _mask(rec: GraphRecommender, bought: np.ndarray) -> np.ndarray:
    allowed = rec.walk.merchandise.copy()
    allowed[bought] = False
    return allowed


def _metrics(ranked: dict[int, list[str]], truth: dict[int, set[str]]) -> tuple[float, float]:
    hits, ndcgs = [], []
    for c, items in ranked.items():
        rel = truth[c]
        gains = [1.0 / np.log2(i + 2) for i, it in enumerate(items[:10]) if it in rel]
        ideal = sum(1.0 / np.log2(i + 2) for i in range(min(len(rel), 10)))
        hits.append(1.0 if gains else 0.0)
        ndcgs.append(sum(gains) / ideal)
    return float(np.mean(hits)), float(np.mean(ndcgs))


def _baselines(
    train: pd.DataFrame, bought: dict[int, set[str]], truth: dict[int, set[str]]
) -> dict[str, dict[int, list[str]]]:
    """Popularity (distinct buyers) and item-kNN (cosine over customer sets) top-10 lists."""
    items = sorted(train["StockCode"].unique())
    item_idx = {s: i for i, s in enumerate(items)}
    popularity = train.groupby("StockCode")["CustomerID"].nunique().sort_values(ascending=False, kind="stable")
    pop_ranked = {c: [s for s in popularity.index if s not in bought[c]][:10] for c in truth}
    users = sorted(bought)
    user_idx = {u: i for i, u in enumerate(users)}
    pairs = train[["CustomerID", "StockCode"]].drop_duplicates()
    ui = sp.csr_matrix(
        (
            np.ones(len(pairs)),
            ([user_idx[int(u)] for u in pairs["CustomerID"]], [item_idx[s] for s in pairs["StockCode"]]),
        ),
        shape=(len(users), len(items)),
    )
    norms = np.sqrt(np.asarray(ui.sum(axis=0)).ravel())
    inv = sp.diags(1.0 / np.maximum(norms, 1e-12))
    sim = (inv @ (ui.T @ ui) @ inv).tocsr()
    sim.setdiag(0)
    knn_ranked = {}
    for c in truth:
        row = ui[user_idx[c]]
        scores = np.asarray((row @ sim).todense()).ravel()
        scores[row.indices] = -np.inf
        knn_ranked[c] = [items[i] for i in np.argsort(-scores, kind="stable")[:10]]
    return {"popularity": pop_ranked, "item-kNN": knn_ranked}


def evaluate(
    orders: pd.DataFrame, train_end: pd.Timestamp, test_end: pd.Timestamp | None, configs: list[RecommendConfig]
) -> None:
    """HR@10 / NDCG@10 of the graph recommender (each config) and the baselines on one time split."""
    clean = orders[
        ~orders["InvoiceNo"].str.startswith("C")
        & (orders["Quantity"] > 0)
        & (orders["UnitPrice"] > 0)
        & orders["CustomerID"].notna()
    ]
    clean = clean[[is_merchandise(c) for c in clean["StockCode"]]]
    after = clean["InvoiceDate"] >= train_end
    if test_end is not None:
        after &= clean["InvoiceDate"] < test_end
    train, test = clean[clean["InvoiceDate"] < train_end], clean[after]
    bought = {int(c): s for c, s in train.groupby("CustomerID")["StockCode"].agg(set).items()}
    later = {int(c): s for c, s in test.groupby("CustomerID")["StockCode"].agg(set).items()}
    truth = {c: later[c] - bought[c] for c in later if c in bought and later[c] - bought[c]}
    window = f"{train_end.date()}..{test_end.date() if test_end is not None else 'end'}"
    print(f"quality: train < {train_end.date()}, evaluate {window}: {len(truth)} customers (exclude bought)")
    started = time.perf_counter()
    graph = build_graph(orders[orders["InvoiceDate"] < train_end])
    print(f"  train graph built in {time.perf_counter() - started:.1f} s")
    for config in configs:
        rec = graph.make_recommender(config)
        ranked = {c: [r.stock_code for r in rec.recommend(c, k=10)] for c in truth}
        hr, ndcg = _metrics(ranked, truth)
        print(
            f"  graph alpha={config.alpha} edges={config.edge_weight} copurchase={config.copurchase_weight} "
            f"beta={config.popularity_exponent} half_life={config.recency_half_life_days}: "
            f"HR@10 {hr:.3f} NDCG@10 {ndcg:.4f}",
            flush=True,
        )
    for name, ranked in _baselines(train, bought, truth).items():
        hr, ndcg = _metrics(ranked, truth)
        print(f"  {name:10} HR@10 {hr:.3f} NDCG@10 {ndcg:.4f}")


TUNING_GRID = [
    RecommendConfig(alpha=a, edge_weight=e, copurchase_weight=w, popularity_exponent=b, recency_half_life_days=h)
    for a in (0.1, 0.3, 0.85)
    for e in EdgeWeight
    for w in (0.0, 5.0)
    for b in (0.0, 0.5)
    for h in (None, 60.0)
]


def _noisy(desc: str, rng: random.Random, kind: str) -> str:
    words = desc.lower().split()
    if kind in ("drop", "all") and len(words) > 2:
        del words[rng.randrange(1, len(words))]
    if kind in ("typo", "all"):
        long_words = [i for i, w in enumerate(words) if len(w) >= 4]
        if long_words:
            i = rng.choice(long_words)
            w = words[i]
            j = rng.randrange(len(w) - 1)
            words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2 :]
    return " ".join(words)


def bench_linking(graph: ProductGraph, n: int) -> None:
    linker = graph.linker
    products = [
        (d["key"], d["description"])
        for _, d in graph.nx_graph.nodes(data=True)
        if d["kind"] == "product" and d["merchandise"] and d["description"]
    ]
    rng = random.Random(1)
    sample = rng.sample(products, n)
    for kind in ("lower", "drop", "typo", "all"):
        correct = 0
        for _, desc in sample:
            got = linker.link(_noisy(desc, rng, kind), k=1)
            correct += bool(got) and normalise_text(got[0].description) == normalise_text(desc)
        print(f"linking accuracy@1 ({kind}): {correct / n:.3f} on {n} products")
    times, found = [], 0
    for _, desc in sample[:200]:
        text = f"hi, where is my {_noisy(desc, rng, 'typo')}? it has not arrived yet, thanks"
        started = time.perf_counter()
        got = linker.mentions(text)
        times.append(1000 * (time.perf_counter() - started))
        found += any(normalise_text(m.description) == normalise_text(desc) for m in got)
    print(
        f"mentions in a sentence (one typo): recall {found / len(times):.3f}; p50 {pct(times, 50):.1f} ms "
        f"p95 {pct(times, 95):.1f} ms over {len(linker)} products"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=50)
    parser.add_argument("--exact", type=int, default=20)
    parser.add_argument("--linking", type=int, default=500)
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--tune", action="store_true", help="grid over RecommendConfig on the validation window (slow)")
    args = parser.parse_args()
    started = time.perf_counter()
    orders = load_orders()
    print(f"read {len(orders)} lines in {time.perf_counter() - started:.1f} s")
    graph = bench_build(orders)
    bench_latency(graph, args.customers, args.exact)
    bench_linking(graph, args.linking)
    if args.tune:
        evaluate(orders, VALIDATION_START, SPLIT, TUNING_GRID)
    if not args.skip_quality:
        evaluate(orders, VALIDATION_START, SPLIT, [RecommendConfig()])
        evaluate(orders, SPLIT, None, [RecommendConfig()])


if __name__ == "__main__":
    main()
