"""Serving overhead of the Ray Serve tier: /v1/chat over HTTP vs the same work in-process.

Run: ``python benchmarks/bench_cluster.py [--registry DIR --graph DIR] [--requests N] [--clients C]``.
Without --registry/--graph it publishes a tiny random intent model and builds a tiny graph in a temp dir.
Prints p50/p95 latencies and ratios; asserts nothing.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pandas as pd

from cluster import ClusterConfig, start, stop
from cluster.graph_deployment import GraphService
from ensemble.members.intent import IntentModel, predict
from ensemble.members.intent_artifact import load_intent, save_intent
from ensemble.registry import Lineage, Registry
from knowledge_graph.build import build_graph
from knowledge_graph.config import BuildConfig

TEXTS = [
    "Where is my regency cakestand 3 tier? It has not arrived.",
    "I want to cancel the white metal lantern I ordered yesterday",
    "Can I get a refund for the white hanging heart t-light holder",
    "how do I track order 536365",
    "the assorted colour bird ornament arrived broken, what now",
]


def _tiny_assets(root: Path) -> tuple[Path, Path]:
    products = [
        ("85123A", "WHITE HANGING HEART T-LIGHT HOLDER", 2.55),
        ("71053", "WHITE METAL LANTERN", 3.39),
        ("22423", "REGENCY CAKESTAND 3 TIER", 12.75),
        ("84879", "ASSORTED COLOUR BIRD ORNAMENT", 1.69),
    ]
    rows = []
    for invoice in range(40):
        for i, (code, description, price) in enumerate(products):
            if (invoice + i) % 3:
                day = pd.Timestamp("2011-01-03") + pd.Timedelta(days=invoice)
                rows.append((str(536365 + invoice), code, description, 2, day, price, 12000 + invoice % 7, "UK"))
    columns = ["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID"]
    orders = pd.DataFrame(rows, columns=[*columns, "Country"]).astype({"CustomerID": "Int64"})
    graph_dir = root / "graph"
    build_graph(orders, BuildConfig(min_support=1, min_category_products=1)).save(graph_dir)
    registry = Registry(root / "registry")
    model = IntentModel.tiny(["track_order", "cancel_order", "get_refund"])
    save_intent(registry, model, metrics={}, lineage=Lineage(None, "bench", "central"))
    return registry.root, graph_dir


def _percentiles(samples_ms: list[float]) -> tuple[float, float]:
    ordered = sorted(samples_ms)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--registry", type=Path)
    parser.add_argument("--graph", type=Path)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-cluster-", dir="/tmp"))
    registry_dir, graph_dir = (args.registry, args.graph) if args.registry and args.graph else _tiny_assets(workdir)
    texts = [TEXTS[i % len(TEXTS)] for i in range(args.requests)]

    model, artifact = load_intent(Registry(registry_dir))
    graph = GraphService.load(graph_dir)
    predict(model, texts[:5])  # warm-up
    local_ms = []
    for text in texts:
        started = time.perf_counter()
        predict(model, [text])
        graph.lookup(text)
        local_ms.append(1000 * (time.perf_counter() - started))

    config = ClusterConfig(
        registry_dir=registry_dir, graph_dir=graph_dir, port=_free_port(), ray_temp_dir=workdir / "ray"
    )
    started = time.perf_counter()
    running = start(config)
    print(f"cluster start: {time.perf_counter() - started:.1f} s  (intent {artifact.version.id})")
    try:
        with httpx.Client(base_url=running.url, timeout=60.0) as http:
            for text in texts[:10]:
                http.post("/v1/chat", json={"text": text}).raise_for_status()
            seq_ms = []
            for text in texts:
                t0 = time.perf_counter()
                http.post("/v1/chat", json={"text": text}).raise_for_status()
                seq_ms.append(1000 * (time.perf_counter() - t0))

        def one(text: str) -> float:
            t0 = time.perf_counter()
            with_client.post("/v1/chat", json={"text": text}).raise_for_status()
            return 1000 * (time.perf_counter() - t0)

        with httpx.Client(base_url=running.url, timeout=60.0, limits=httpx.Limits(max_connections=64)) as with_client:
            wall = time.perf_counter()
            with ThreadPoolExecutor(args.clients) as pool:
                conc_ms = list(pool.map(one, texts))
            conc_wall = time.perf_counter() - wall
    finally:
        stop()

    lp50, lp95 = _percentiles(local_ms)
    sp50, sp95 = _percentiles(seq_ms)
    cp50, cp95 = _percentiles(conc_ms)
    print(f"requests: {args.requests}; texts of {min(map(len, texts))}-{max(map(len, texts))} chars")
    print(f"in-process (intent predict + graph lookup): p50 {lp50:.1f} ms  p95 {lp95:.1f} ms")
    print(f"HTTP /v1/chat sequential:                   p50 {sp50:.1f} ms  p95 {sp95:.1f} ms")
    print(f"HTTP /v1/chat {args.clients} concurrent clients:        p50 {cp50:.1f} ms  p95 {cp95:.1f} ms")
    print(f"serving overhead (HTTP seq p50 / in-process p50): {sp50 / lp50:.1f}x")
    print(
        f"throughput: in-process {1000 / statistics.mean(local_ms):.0f} req/s, HTTP sequential "
        f"{1000 / statistics.mean(seq_ms):.0f} req/s, "
        f"HTTP {args.clients} clients {args.requests / conc_wall:.0f} req/s"
    )


if __name__ == "__main__":
    main()
