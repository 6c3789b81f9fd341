"""shopmesh's cluster against the peer a user would write instead, side by side on loopback in one run.

Run: ``python benchmarks/bench_serving.py [--home DIR] [--requests 300] [--seconds 20] [--concurrency 1,32]
[--warmup 100] [--topology colocated,composed] [--engine torch,onnx-int8] [--serving JSON] [--no-unbatched]
[--replot]``. The workspace (default
``.shopmesh``) gets a knowledge graph and a head-trained intent version from the project's CLI when it has none.

Each system first gets ``--warmup`` uncounted requests at the highest concurrency. Then cells, each a bounded
load (``--requests`` and ``--seconds``, whichever ends first) of Bitext test-split texts from N concurrent
clients:

- ``peer (before)`` and ``peer (after)``: ``benchmarks/serving_peer.py`` (FastAPI + uvicorn, MiniLM +
  logistic regression, one request at a time through torch), ``POST /v1/intent``, measured before Ray starts
  and after it stopped (so Ray's processes take none of its CPU); the ratios use the peer's best figures of
  the two passes;
- ``shopmesh chat (T)``: ``POST /v1/chat`` in serial mode, the full chain (intent, graph facts, reply or
  reference, verifier), with Serve batching as configured (``max_batch_size`` 8, 5 ms wait), on a cluster of
  each ``--topology`` T in turn (``colocated``: the chain's members in one deployment, one call per request;
  ``composed``: one deployment per member, a handle call per member) and each ``--engine`` E of the intent
  encoder in turn (``torch`` eager, ``onnx`` fp32 or ``onnx-int8`` on ONNX Runtime; named in the system's label
  when not torch);
- ``shopmesh intent (handle)``: (composed only) the intent path alone, ``IntentDeployment.decide`` by
  deployment handle from this process (no HTTP proxy, no ingress; a lower bound of an HTTP intent route);
- ``shopmesh chat unbatched (T)``: ``/v1/chat`` again on a cluster restarted with ``max_batch_size`` 1.

Prints a table, the ratios against the issue's goals (at the highest concurrency >= 4x the peer's rps with
p95 <= 1/4 of the peer's; at 1 client p50 <= the peer's + 5 ms), the memory of the Ray session's processes at
idle and under load, and writes ``benchmarks/results/bench_serving.json`` (every request's latency included)
and ``bench_serving.png`` (latency histograms drawn from that file; ``--replot`` redraws it without measuring).
Asserts nothing. The peer and the cluster are always stopped, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import math
import os
import signal
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any

from loadgen import LoadResult, drive, http_load
from ray import serve
from serving_stack import (
    PeerProcess,
    RayMemory,
    Workspace,
    bitext_test_texts,
    ensure_workspace,
    free_port,
    peer_cache,
    ray_memory,
)

import cluster
from ensemble.members.intent_onnx import EncoderEngine
from shopmesh.plots import latency_histograms

logger = logging.getLogger("bench_serving")

RESULTS = Path(__file__).with_name("results")
GOAL_RPS_RATIO = 4.0
GOAL_P95_RATIO = 0.25
GOAL_P50_EXTRA_MS = 5.0


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


class MemorySampler:
    """The largest Ray-session memory seen while a cell runs (RSS sampled every ``every_s``)."""

    def __init__(self, exclude: tuple[int, ...], every_s: float = 2.0) -> None:
        self._exclude = exclude
        self._every = every_s
        self._stop = threading.Event()
        self.peak: RayMemory | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            sample = ray_memory(self._exclude)
            if self.peak is None or sample.rss > self.peak.rss:
                self.peak = sample

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _cell(load: LoadResult, system: str) -> dict[str, Any]:
    """A cell of the results JSON: the summary, the load average, and every request's latency (for the plot)."""
    latencies = [round(v, 3) for v in load.latencies_ms]
    return {
        "system": system,
        **load.summary(),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
        "latencies_ms": latencies,
    }


def _http(url: str, bodies: list[dict[str, Any]], label: str, concurrency: int, args: argparse.Namespace) -> LoadResult:
    return asyncio.run(
        http_load(
            url,
            bodies,
            label=label,
            concurrency=concurrency,
            requests=args.requests,
            seconds=args.seconds,
            warmup=10,
        )
    )


def _warm_up(url: str, bodies: list[dict[str, Any]], args: argparse.Namespace) -> None:
    """``--warmup`` requests at the highest concurrency, not counted: the first calls of a freshly started
    process (torch's kernels for new shapes, allocators, connection pools) are slower than its steady state."""
    if args.warmup > 0:
        load = asyncio.run(
            http_load(
                url, bodies, label="warm-up", concurrency=max(args.concurrency), requests=args.warmup, seconds=60.0
            )
        )
        logger.info("warm-up of %s: %d requests, %d errors", url, load.completed, load.errors)


def _intent_path(
    config: cluster.ClusterConfig, texts: list[str], concurrency: int, args: argparse.Namespace
) -> LoadResult:
    handle = serve.get_deployment_handle("IntentDeployment", app_name=config.app_name)

    async def run() -> LoadResult:
        for i in range(10):
            await handle.decide.remote((texts[i], "serial", "warm-up"))  # the replica is warm from the chat cells
        return await drive(
            lambda i: handle.decide.remote((texts[i % len(texts)], "serial", f"bench-{i}")),
            label="shopmesh intent (handle)",
            concurrency=concurrency,
            requests=args.requests,
            seconds=args.seconds,
        )

    return asyncio.run(run())


def _shopmesh_cells(
    workspace: Workspace,
    texts: list[str],
    args: argparse.Namespace,
    batched: bool,
    memory: dict[str, Any],
    topology: cluster.Topology,
    engine: str,
) -> list[tuple[str, LoadResult]]:
    serving = {**args.serving, "intent": {**args.serving.get("intent", {}), "engine": engine}}
    config = cluster.ClusterConfig(
        registry_dir=workspace.registry,
        graph_dir=workspace.graph,
        port=free_port(),
        ray_temp_dir=Path(os.environ.get("RAY_TMPDIR", "/tmp/ray-bench")),
        topology=topology,
        serving=serving,
    )
    if not batched:  # every request its own forward pass, no waiting for company
        config = dataclasses.replace(config, max_batch_size=1, batch_wait_timeout_s=0.0)
    where = str(topology) if engine == "torch" else f"{topology}, {engine}"
    name = f"shopmesh chat ({where})" if batched else f"shopmesh chat unbatched ({where})"
    memory = memory.setdefault(where, {})
    bodies = [{"text": t, "mode": "serial"} for t in texts]
    cells: list[tuple[str, LoadResult]] = []
    started = time.perf_counter()
    running = cluster.start(config)
    try:
        logger.info("%s: cluster ready in %.1f s", name, time.perf_counter() - started)
        if batched:
            time.sleep(5)  # let start-up work settle before the idle reading
            memory["idle"] = ray_memory().to_dict()
        _warm_up(f"{running.url}/v1/chat", bodies, args)
        for concurrency in args.concurrency:
            with MemorySampler(()) as sampler:
                load = _http(f"{running.url}/v1/chat", bodies, name, concurrency, args)
            cells.append((name, load))
            logger.info("%s", load.summary())
            if batched and concurrency == max(args.concurrency) and sampler.peak is not None:
                memory["under_load"] = sampler.peak.to_dict()
        if batched and topology is cluster.Topology.COMPOSED:
            for concurrency in args.concurrency:
                load = _intent_path(config, texts, concurrency, args)
                cells.append(("shopmesh intent (handle)" if engine == "torch" else f"intent (handle, {engine})", load))
                logger.info("%s", load.summary())
    finally:
        cluster.stop()
    return cells


def _peer_cells(
    workspace: Workspace,
    texts: list[str],
    args: argparse.Namespace,
    system: str,
) -> list[dict[str, Any]]:
    """The peer at each concurrency, in a process started for this pass and stopped after it."""
    cells = []
    with PeerProcess(peer_cache(workspace)) as peer:
        _warm_up(f"{peer.url}/v1/intent", [{"text": t} for t in texts], args)
        for concurrency in args.concurrency:
            load = _http(f"{peer.url}/v1/intent", [{"text": t} for t in texts], system, concurrency, args)
            cells.append(_cell(load, system))
            logger.info("%s", {k: v for k, v in cells[-1].items() if k != "latencies_ms"})
    return cells


def _best_peer(cells: list[dict[str, Any]]) -> dict[int, dict[str, float]]:
    """Per concurrency, the peer's best figures over its passes (highest rps, lowest percentiles): the
    baseline the ratios are taken against, so that a pass slowed by other work on the machine flatters
    no one."""
    best: dict[int, dict[str, float]] = {}
    for cell in cells:
        if not cell["system"].startswith("peer"):
            continue
        seen = best.setdefault(cell["concurrency"], {"rps": 0.0, "p50_ms": math.inf, "p95_ms": math.inf})
        seen["rps"] = max(seen["rps"], cell["rps"])
        seen["p50_ms"] = min(seen["p50_ms"], cell["p50_ms"])
        seen["p95_ms"] = min(seen["p95_ms"], cell["p95_ms"])
    return best


def _ratios(cells: list[dict[str, Any]], concurrency: list[int]) -> list[dict[str, Any]]:
    peer = _best_peer(cells)
    rows = []
    for cell in cells:
        base = peer.get(cell["concurrency"])
        if cell["system"].startswith("peer") or base is None:
            continue
        row: dict[str, Any] = {"system": cell["system"], "concurrency": cell["concurrency"]}
        row["rps_ratio"] = round(cell["rps"] / base["rps"], 3) if base["rps"] else math.nan
        row["p95_ratio"] = round(cell["p95_ms"] / base["p95_ms"], 3) if base["p95_ms"] else math.nan
        row["p50_extra_ms"] = round(cell["p50_ms"] - base["p50_ms"], 2)
        if cell["concurrency"] == max(concurrency):
            row["goal"] = f">= {GOAL_RPS_RATIO}x rps and p95 <= {GOAL_P95_RATIO}x"
            row["met"] = row["rps_ratio"] >= GOAL_RPS_RATIO and row["p95_ratio"] <= GOAL_P95_RATIO
        elif cell["concurrency"] == 1:
            row["goal"] = f"p50 <= peer + {GOAL_P50_EXTRA_MS} ms"
            row["met"] = row["p50_extra_ms"] <= GOAL_P50_EXTRA_MS
        rows.append(row)
    return rows


def plot_results(results: Path, out: Path) -> Path:
    """Latency histograms (a panel per concurrency, a curve per system) from a saved results JSON."""
    report = json.loads(results.read_text(encoding="utf-8"))
    return latency_histograms(report["cells"], out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, default=Path(".shopmesh"))
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--concurrency", type=lambda s: [int(x) for x in s.split(",")], default=[1, 32])
    parser.add_argument("--warmup", type=int, default=100, help="uncounted requests before each system's cells")
    parser.add_argument("--no-unbatched", action="store_true", help="skip the cluster restart with batching off")
    parser.add_argument(
        "--serving",
        type=json.loads,
        default={},
        help='per-member serving options of the cluster as JSON, e.g. \'{"intent": {"replicas": 2}}\'',
    )
    parser.add_argument(
        "--topology",
        type=lambda s: [cluster.Topology(x) for x in s.split(",")],
        default=list(cluster.Topology),
        help="the cluster topologies to measure, in turn (default: colocated,composed)",
    )
    parser.add_argument(
        "--engine",
        type=lambda s: [EncoderEngine(x).value for x in s.split(",")],
        default=["torch"],
        help="the intent encoder engines to measure, in turn (torch, onnx, onnx-int8; default: torch)",
    )
    parser.add_argument(
        "--replot", action="store_true", help="only redraw bench_serving.png from the saved bench_serving.json"
    )
    args = parser.parse_args()
    if args.replot:
        plot_results(RESULTS / "bench_serving.json", RESULTS / "bench_serving.png")
        print(f"wrote {RESULTS / 'bench_serving.png'}")
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request would load the driver
    signal.signal(signal.SIGTERM, _interrupt)
    workspace = ensure_workspace(args.home)
    texts = bitext_test_texts()
    cells: list[dict[str, Any]] = []
    memory: dict[str, Any] = {}
    cells += _peer_cells(workspace, texts, args, "peer (before)")
    for topology in args.topology:
        for engine in args.engine:
            for batched in (True, False) if not args.no_unbatched else (True,):
                for system, load in _shopmesh_cells(workspace, texts, args, batched, memory, topology, engine):
                    cells.append(_cell(load, system))
    cells += _peer_cells(workspace, texts, args, "peer (after)")
    ratios = _ratios(cells, args.concurrency)
    RESULTS.mkdir(exist_ok=True)
    report = {"settings": {k: str(v) for k, v in vars(args).items()}, "cells": cells, "ratios": ratios}
    report["ray_memory"] = memory
    (RESULTS / "bench_serving.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    plot_results(RESULTS / "bench_serving.json", RESULTS / "bench_serving.png")
    _print(cells, ratios, memory)
    print(f"wrote {RESULTS / 'bench_serving.json'} and {RESULTS / 'bench_serving.png'}")


def _print(cells: list[dict[str, Any]], ratios: list[dict[str, Any]], memory: dict[str, Any]) -> None:
    print(
        f"{'system':40} {'clients':>7} {'done':>5} {'err':>4} {'rps':>8} {'p50 ms':>9} {'p95 ms':>9} "
        f"{'p99 ms':>9}  load"
    )
    for c in cells:
        print(
            f"{c['system']:40} {c['concurrency']:7d} {c['completed']:5d} {c['errors']:4d} {c['rps']:8.1f} "
            f"{c['p50_ms']:9.1f} {c['p95_ms']:9.1f} {c['p99_ms']:9.1f}  {c['loadavg'][0]:.2f}"
        )
    print(f"\n{'against the peer':40} {'clients':>7} {'rps x':>7} {'p95 x':>7} {'p50 +ms':>8}  goal")
    for r in ratios:
        verdict = ("met" if r["met"] else "missed") if "met" in r else ""
        print(
            f"{r['system']:40} {r['concurrency']:7d} {r['rps_ratio']:7.2f} {r['p95_ratio']:7.2f} "
            f"{r['p50_extra_ms']:8.1f}  {r.get('goal', '')} {verdict}"
        )
    for topology, readings in memory.items():
        for when, figures in readings.items():
            print(
                f"Ray session memory ({topology}) {when}: {figures['processes']} processes, RSS "
                f"{figures['rss_gib']:.2f} GiB, PSS {figures['pss_gib']:.2f} GiB (goal at idle: RSS <= 3 GiB)"
            )


if __name__ == "__main__":
    main()
