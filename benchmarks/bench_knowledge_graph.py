"""Benchmark of the knowledge graph on UCI Online Retail (prints figures; never asserted).

Run: ``.venv/bin/python benchmarks/bench_knowledge_graph.py [--customers 20] [--exact 20]``. Reads the CSV
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

from knowledge_graph import ProductGraph, build_graph
from knowledge_graph.taxonomy import category_coverage, is_merchandise, normalise_text

SPLIT = pd.Timestamp("2011-11-01")


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
    print(
        f"build: {len(orders)} lines in {build_s:.1f} s; "
        f"peak RSS {rss_mib():.0f} MiB (before build {before:.0f})"
    )
    print(f"stats: {graph.stats().to_dict()}")
    cats = [d["category"] for _, d in graph.nx_graph.nodes(data=True) if d["kind"] == "product"]
    print(f"category coverage: {100 * category_coverage(cats):.1f}% of {len(cats)} products")
    sample = random.Random(0).sample(
        [
            (d["description"], d["category"])
            for _, d in graph.nx_graph.nodes(data=True)
            if d["kind"] == "product"
        ],
        12,
    )
    for desc, cat in sample:
        print(f"  {desc!r:45} -> {cat}")
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        graph.save(Path(tmp) / "kg")
        save_s = time.perf_counter() - started
        started = time.perf_counter()
        ProductGraph.load(Path(tmp) / "kg")
        load_s = time.perf_counter() - started
    print(f"save {save_s:.1f} s; load {load_s:.1f} s; build/load ratio {build_s / load_s:.1f}x")
    return graph


def bench_latency(graph: ProductGraph, n_customers: int, n_exact: int) -> None:
    rec = graph.recommender
    customers = sorted(int(d["key"]) for _, d in graph.nx_graph.nodes(data=True) if d["kind"] == "customer")
    chosen = random.Random(0).sample(
        [c for c in customers if any(True for _ in graph.nx_graph.successors(f"customer:{c}"))], n_customers
    )
    push_ms = []
    for c in chosen:
        started = time.perf_counter()
        graph.recommend(c, k=10)
        push_ms.append(1000 * (time.perf_counter() - started))
    walk = rec.to_networkx()
    exact_ms, overlap = [], []
    for c in chosen[:n_exact]:
        seed = rec.seed(c)
        started = time.perf_counter()
        pr = nx.pagerank(walk, alpha=rec.alpha, personalization=seed, weight="weight")
        exact_ms.append(1000 * (time.perf_counter() - started))
        idx = {n: i for i, n in enumerate(rec.nodes)}
        cand = [
            n for n in rec.nodes if n.startswith("product:") and n not in seed and rec._is_candidate[idx[n]]
        ]
        top_exact = set(sorted(cand, key=lambda n: -pr[n])[:10])
        top_push = {f"product:{r.stock_code}" for r in graph.recommend(c, k=10)}
        overlap.append(len(top_exact & top_push) / 10)
    print(
        f"recommend (push, incl. explanations) p50 {pct(push_ms, 50):.1f} ms "
        f"p95 {pct(push_ms, 95):.1f} ms over {len(push_ms)} customers; "
        f"nx.pagerank p50 {pct(exact_ms, 50):.0f} ms p95 {pct(exact_ms, 95):.0f} ms over "
        f"{len(exact_ms)}; ratio p50 {pct(exact_ms, 50) / pct(push_ms, 50):.0f}x; top-10 overlap "
        f"{np.mean(overlap):.2f}"
    )


def _metrics(ranked: dict[int, list[str]], truth: dict[int, set[str]]) -> tuple[float, float]:
    hits, ndcgs = [], []
    for c, items in ranked.items():
        rel = truth[c]
        gains = [1.0 / np.log2(i + 2) for i, it in enumerate(items[:10]) if it in rel]
        ideal = sum(1.0 / np.log2(i + 2) for i in range(min(len(rel), 10)))
        hits.append(1.0 if gains else 0.0)
        ndcgs.append(sum(gains) / ideal)
    return float(np.mean(hits)), float(np.mean(ndcgs))


def bench_quality(orders: pd.DataFrame) -> None:
    clean = orders[
        ~orders["InvoiceNo"].str.startswith("C")
        & (orders["Quantity"] > 0)
        & (orders["UnitPrice"] > 0)
        & orders["CustomerID"].notna()
    ]
    clean = clean[[is_merchandise(c) for c in clean["StockCode"]]]
    train, test = clean[clean["InvoiceDate"] < SPLIT], clean[clean["InvoiceDate"] >= SPLIT]
    bought = train.groupby("CustomerID")["StockCode"].agg(set).to_dict()
    later = test.groupby("CustomerID")["StockCode"].agg(set).to_dict()
    truth = {int(c): later[c] - bought[c] for c in later if c in bought and later[c] - bought[c]}
    print(f"quality: {len(truth)} customers with train history and new test items (exclude already bought)")
    started = time.perf_counter()
    graph = build_graph(orders[orders["InvoiceDate"] < SPLIT])
    print(f"train graph built in {time.perf_counter() - started:.1f} s")
    ranked = {c: [r.stock_code for r in graph.recommend(c, k=10)] for c in truth}
    hr, ndcg = _metrics(ranked, truth)
    print(f"  graph PPR    HR@10 {hr:.3f} NDCG@10 {ndcg:.3f}")

    items = sorted(train["StockCode"].unique())
    item_idx = {s: i for i, s in enumerate(items)}
    popularity = (
        train.groupby("StockCode")["CustomerID"].nunique().sort_values(ascending=False, kind="stable")
    )
    pop_ranked = {c: [s for s in popularity.index if s not in bought[c]][:10] for c in truth}
    hr, ndcg = _metrics(pop_ranked, truth)
    print(f"  popularity   HR@10 {hr:.3f} NDCG@10 {ndcg:.3f}")

    users = sorted(bought)
    user_idx = {u: i for i, u in enumerate(users)}
    pairs = train[["CustomerID", "StockCode"]].drop_duplicates()
    ui = sp.csr_matrix(
        (
            np.ones(len(pairs)),
            ([user_idx[u] for u in pairs["CustomerID"]], [item_idx[s] for s in pairs["StockCode"]]),
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
    hr, ndcg = _metrics(knn_ranked, truth)
    print(f"  item-kNN     HR@10 {hr:.3f} NDCG@10 {ndcg:.3f}")


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
    parser.add_argument("--customers", type=int, default=20)
    parser.add_argument("--exact", type=int, default=20)
    parser.add_argument("--linking", type=int, default=500)
    parser.add_argument("--skip-quality", action="store_true")
    args = parser.parse_args()
    started = time.perf_counter()
    orders = load_orders()
    print(f"read {len(orders)} lines in {time.perf_counter() - started:.1f} s")
    graph = bench_build(orders)
    bench_latency(graph, args.customers, args.exact)
    bench_linking(graph, args.linking)
    if not args.skip_quality:
        bench_quality(orders)


if __name__ == "__main__":
    main()
