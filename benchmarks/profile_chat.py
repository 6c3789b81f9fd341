"""Where the time of a ``/v1/chat`` request goes: the same chain in-process, each hop alone, and under load.

Run: ``python benchmarks/profile_chat.py [--home DIR] [--requests 200] [--seconds 15] [--concurrency 1,32]
[--pyspy-seconds 10]``. The workspace (default ``.shopmesh``) gets a knowledge graph and a head-trained intent
version from the CLI when it has none. Measured, in one run on one Ray session:

1. the serial chain in this process (``ensemble.chat.load_local_members``, no Ray, no HTTP): the compute floor,
   per member; and the intent stage alone at batch 1 and 8 with 1 and 2 torch threads;
2. ``POST /v1/chat`` (serial) at each concurrency: client latency, the members' latencies the answer carries
   (each measured in the ingress around one handle call), what is left for the proxy, the ingress and the
   serialisation, the answer's size, and the CPU seconds per request each process used;
3. ``GET /v1/products/{code}``: the HTTP proxy, the ingress and one handle hop around a dictionary lookup;
4. each member's method called by deployment handle from this driver (no HTTP, no ingress);
5. py-spy on the replicas and the proxy under the highest concurrency.

Prints the tables and writes ``benchmarks/results/profile_chat.json``; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import statistics
import subprocess
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import torch
from loadgen import LoadResult, drive, http_load, percentile
from pyspy_profile import record, summarize
from ray import serve
from serving_stack import (
    Workspace,
    bitext_test_texts,
    cpu_seconds,
    cpu_used_by_role,
    ensure_workspace,
    free_port,
    ray_memory,
    replica_pids,
)

import cluster
from ensemble.chat import ChatMode, ChatRequest, answer_message, load_local_members, load_reference_frame
from ensemble.registry import Registry
from knowledge_graph.graph import ProductGraph

logger = logging.getLogger("profile_chat")

RESULTS = Path(__file__).with_name("results")
PRODUCT = "85123A"  # WHITE HANGING HEART T-LIGHT HOLDER, in every build of the graph


def _ms_stats(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "mean": round(statistics.fmean(values), 2),
        "p50": round(percentile(values, 50), 2),
        "p95": round(percentile(values, 95), 2),
    }


def _members_of(answer: dict[str, Any]) -> dict[str, float]:
    """Latency per member name in one answer (a member that ran twice, e.g. the verifier, summed)."""
    found: dict[str, float] = defaultdict(float)
    for member in answer.get("members", []):
        found[str(member["name"])] += float(member["latency_ms"])
    return dict(found)


def _chain_ms(members: dict[str, float]) -> float:
    """Time the serial chain spent in member calls: intent members share one call, so the largest counts."""
    intent = max((v for k, v in members.items() if k.startswith("intent")), default=0.0)
    return intent + sum(v for k, v in members.items() if not k.startswith("intent"))


def in_process(workspace: Workspace, texts: list[str], count: int) -> dict[str, Any]:
    """The serial chain and the intent stage in this process, one request at a time."""
    registry = Registry(workspace.registry)
    graph = ProductGraph.load(workspace.graph)
    members = load_local_members(registry, graph, load_reference_frame(None))

    async def chain() -> tuple[list[float], dict[str, list[float]]]:
        totals: list[float] = []
        per_member: dict[str, list[float]] = defaultdict(list)
        for i in range(count + 5):
            started = time.perf_counter()
            answer = await answer_message(ChatRequest(texts[i % len(texts)]), members)
            if i < 5:
                continue  # warm-up
            totals.append(1000 * (time.perf_counter() - started))
            for name, ms in _members_of(answer.to_dict()).items():
                per_member[name].append(ms)
        return totals, per_member

    totals, per_member = asyncio.run(chain())
    stage = members.intent
    batches: dict[str, dict[str, float]] = {}
    default_threads = torch.get_num_threads()
    for threads in sorted({1, default_threads}):
        torch.set_num_threads(threads)
        for size in (1, 8, 32):
            batch = [texts[j % len(texts)] for j in range(size)]
            stage.decide(batch, ChatMode.SERIAL)
            runs = []
            for _ in range(max(3, 40 // size)):
                started = time.perf_counter()
                stage.decide(batch, ChatMode.SERIAL)
                runs.append(1000 * (time.perf_counter() - started))
            batches[f"threads={threads} batch={size}"] = {
                "ms_per_batch": round(statistics.median(runs), 2),
                "ms_per_text": round(statistics.median(runs) / size, 2),
            }
    torch.set_num_threads(default_threads)
    return {
        "chain_ms": _ms_stats(totals),
        "members_ms": {k: _ms_stats(v) for k, v in sorted(per_member.items())},
        "intent_stage": batches,
    }


def _handle_cells(
    config: cluster.ClusterConfig, texts: list[str], replies: list[dict[str, Any]], args: argparse.Namespace
) -> list[LoadResult]:
    intent = serve.get_deployment_handle("IntentDeployment", app_name=config.app_name)
    graph = serve.get_deployment_handle("GraphDeployment", app_name=config.app_name)
    reply = serve.get_deployment_handle("ReplyDeployment", app_name=config.app_name)

    def text(i: int) -> str:
        return texts[i % len(texts)]

    def verify(i: int) -> Awaitable[object]:
        answer = replies[i % len(replies)]
        codes = [str(p.get("stock_code", "")) for p in answer.get("products", [])]
        result: Awaitable[object] = graph.verify.remote(answer["reply"], None, None, codes)
        return result

    calls: dict[str, Callable[[int], Awaitable[object]]] = {
        "handle intent.decide": lambda i: intent.decide.remote((text(i), "serial", f"profile-{i}")),
        "handle graph.ground": lambda i: graph.ground.remote(text(i), None, None),
        "handle reply.generate": lambda i: reply.generate.remote(text(i)),
        "handle reply.reference": lambda i: reply.reference.remote(text(i), None),
        "handle graph.verify": verify,
        "handle graph.facts": lambda i: graph.facts.remote(PRODUCT),
    }

    async def run_all() -> list[LoadResult]:
        results = []
        for label, call in calls.items():
            for concurrency in args.concurrency:
                for i in range(5):
                    await call(i)
                results.append(
                    await drive(
                        call, label=label, concurrency=concurrency, requests=args.requests, seconds=args.seconds
                    )
                )
        return results

    return asyncio.run(run_all())


def _chat_cell(url: str, bodies: list[dict[str, Any]], concurrency: int, args: argparse.Namespace) -> dict[str, Any]:
    answers: list[dict[str, Any]] = []
    before = cpu_seconds()
    load = asyncio.run(
        http_load(
            f"{url}/v1/chat",
            bodies,
            label="http /v1/chat serial",
            concurrency=concurrency,
            requests=args.requests,
            seconds=args.seconds,
            warmup=10,
            on_json=answers.append,
        )
    )
    cpu = cpu_used_by_role(before, cpu_seconds())
    answers = answers[-load.completed :] if load.completed else []
    per_member: dict[str, list[float]] = defaultdict(list)
    chain: list[float] = []
    for answer in answers:
        members = _members_of(answer)
        chain.append(_chain_ms(members))
        for name, ms in members.items():
            per_member[name].append(ms)
    sizes = [len(json.dumps(a)) for a in answers]
    per_request = {role: round(1000 * s / max(load.completed, 1), 2) for role, s in sorted(cpu.items())}
    return {
        "load": load,
        "answers": answers,
        "members_ms": {k: _ms_stats(v) for k, v in sorted(per_member.items())},
        "chain_ms": _ms_stats(chain),
        "outside_chain_ms": round(load.p(50) - percentile(chain, 50), 2) if chain else None,
        "answer_bytes_mean": round(statistics.fmean(sizes)) if sizes else 0,
        "cpu_ms_per_request": per_request,
        "uptime": os.getloadavg(),
    }


def _pyspy(url: str, bodies: list[dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    pids = {role: ids[0] for role, ids in replica_pids().items() if role not in ("other", "gone")}
    targets = {
        r: p
        for r, p in pids.items()
        if r in ("Ingress", "IntentDeployment", "GraphDeployment", "ReplyDeployment", "ProxyActor")
    }
    out_dir = RESULTS / "pyspy"
    recorders = record(targets, out_dir, args.pyspy_seconds)
    top = max(args.concurrency)
    load = asyncio.run(
        http_load(
            f"{url}/v1/chat",
            bodies,
            label="http /v1/chat serial under py-spy",
            concurrency=top,
            requests=10**6,
            seconds=args.pyspy_seconds + 2,
        )
    )
    summaries: dict[str, Any] = {"load": load.summary(), "pids": targets}
    for role, process in recorders.items():
        try:
            _, err = process.communicate(timeout=args.pyspy_seconds + 30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            summaries[role] = {"error": "py-spy did not finish"}
            continue
        raw = out_dir / f"{role}.txt"
        if process.returncode != 0 or not raw.exists():
            summaries[role] = {"error": err.decode(errors="replace")[-400:]}
            continue
        summaries[role] = summarize(raw, args.pyspy_seconds, 50, top=25).to_dict()
    return summaries


def _omp_threads(pid: int) -> str:
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return "unreadable"
    for item in environ:
        if item.startswith(b"OMP_NUM_THREADS="):
            return item.split(b"=", 1)[1].decode()
    return "unset"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, default=Path(".shopmesh"))
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--concurrency", type=lambda s: [int(x) for x in s.split(",")], default=[1, 32])
    parser.add_argument("--pyspy-seconds", type=int, default=10)
    parser.add_argument("--in-process-requests", type=int, default=60)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request would load the driver
    workspace = ensure_workspace(args.home)
    texts = bitext_test_texts()
    bodies = [{"text": t, "mode": "serial"} for t in texts]
    report: dict[str, Any] = {"uptime_start": os.getloadavg(), "torch_threads_driver": torch.get_num_threads()}
    report["in_process"] = in_process(workspace, texts, args.in_process_requests)
    logger.info("in-process: %s", report["in_process"]["chain_ms"])

    config = cluster.ClusterConfig(
        registry_dir=workspace.registry,
        graph_dir=workspace.graph,
        port=free_port(),
        ray_temp_dir=Path(os.environ.get("RAY_TMPDIR", "/tmp/ray-bench")),
        topology=cluster.Topology.COMPOSED,  # every member its own deployment, so each hop can be timed alone
    )
    started = time.perf_counter()
    running = cluster.start(config)
    try:
        report["cluster_start_s"] = round(time.perf_counter() - started, 1)
        time.sleep(3)
        report["ray_memory_idle"] = ray_memory().to_dict()
        pids = replica_pids()
        report["replica_omp_threads"] = {r: _omp_threads(p[0]) for r, p in pids.items() if r not in ("other",)}
        cells: list[dict[str, Any]] = []
        for concurrency in args.concurrency:
            cells.append(_chat_cell(running.url, bodies, concurrency, args))
            logger.info("chat c=%d: %s", concurrency, cells[-1]["load"].summary())
        report["ray_memory_after_load"] = ray_memory().to_dict()
        replies = cells[0]["answers"] or [{"reply": "Thank you", "products": []}]
        hops: list[LoadResult] = []
        for concurrency in args.concurrency:
            hops.append(
                asyncio.run(
                    http_load(
                        f"{running.url}/v1/products/{PRODUCT}",
                        [],
                        label="http GET /v1/products",
                        concurrency=concurrency,
                        requests=args.requests,
                        seconds=args.seconds,
                        warmup=10,
                        method="GET",
                    )
                )
            )
        hops += _handle_cells(config, texts, replies, args)
        try:
            report["pyspy"] = _pyspy(running.url, bodies, args)
        except (RuntimeError, OSError) as err:  # the other figures are still worth writing
            logger.error("py-spy profile skipped: %s", err)
            report["pyspy"] = {"error": str(err)}
        report["ray_memory_end"] = ray_memory().to_dict()
    finally:
        cluster.stop()
    report["chat"] = [{k: (v.summary() if k == "load" else v) for k, v in c.items() if k != "answers"} for c in cells]
    report["hops"] = [h.summary() for h in hops]
    report["uptime_end"] = os.getloadavg()
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "profile_chat.json"
    out.write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    _print(report)
    print(f"wrote {out}")


def _print(report: dict[str, Any]) -> None:
    print(json.dumps({k: v for k, v in report.items() if k != "pyspy"}, indent=1, default=str))
    for role, summary in report["pyspy"].items():
        if not isinstance(summary, dict) or "top_self" not in summary:
            print(role, summary)
            continue
        print(f"== py-spy {role}: {summary['samples']} samples, active {summary['active_fraction']}")
        for item in summary["top_self"][:10]:
            print(f"   self {item['share']:6.3f}  {item['frame']}")
        for item in summary["top_inclusive"][:25]:
            print(f"   incl {item['share']:6.3f}  {item['frame']}")


if __name__ == "__main__":
    main()
