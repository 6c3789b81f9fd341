"""Kill an intent replica under load: how many requests fail and how long Serve takes to restore it.

Run: ``python benchmarks/bench_replica_kill.py [--home DIR] [--seconds 30] [--concurrency 8] [--kill-at 10]
[--replicas 2]``. The cluster serves the workspace (a knowledge graph and an intent version are built with the
project's CLI when missing) with ``--replicas`` intent replicas; a bounded load of Bitext test-split texts runs
against ``/v1/chat`` on loopback; ``--kill-at`` seconds in, one intent replica's actor is killed by id
(``ray.kill``, no restart asked). Prints the requests sent, failed (any status but 200) and degraded (200 with
the intent member named in ``degraded``), and the seconds until Serve reported the deployment's replicas
running again. Asserts nothing; the cluster is always stopped.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
import ray
from loadgen import http_load
from ray import serve
from serving_stack import bitext_test_texts, ensure_workspace, free_port

import cluster

DEPLOYMENT = "IntentDeployment"


def _running_replicas(app: str) -> int:
    status = serve.status().applications[app].deployments[DEPLOYMENT]
    return int(status.replica_states.get("RUNNING", 0))


def _kill_one_replica(url: str, app: str) -> tuple[str, float]:
    """Kill the intent replica that /healthz names; returns its id and the seconds until all run again."""
    replica = httpx.get(f"{url}/healthz", timeout=30).json()["intent"]["replica"]
    before = _running_replicas(app)
    handle = ray.get_actor(f"SERVE_REPLICA::{app}#{DEPLOYMENT}#{replica}", namespace="serve")
    killed_at = time.monotonic()
    ray.kill(handle, no_restart=True)
    while _running_replicas(app) >= before:  # Serve has not noticed yet
        if time.monotonic() - killed_at > 60:
            break
        time.sleep(0.1)
    while _running_replicas(app) < before:
        if time.monotonic() - killed_at > 300:
            return replica, float("nan")
        time.sleep(0.25)
    return replica, time.monotonic() - killed_at


async def _run(url: str, texts: list[str], args: argparse.Namespace, app: str) -> dict[str, Any]:
    degraded = 0

    def seen(body: dict[str, Any]) -> None:
        nonlocal degraded
        degraded += bool(body.get("degraded"))

    bodies = [{"text": text} for text in texts]
    load = asyncio.create_task(
        http_load(
            f"{url}/v1/chat",
            bodies,
            label="chat under a replica kill",
            concurrency=args.concurrency,
            requests=100_000,
            seconds=args.seconds,
            on_json=seen,
        )
    )
    await asyncio.sleep(args.kill_at)
    replica, restored_s = await asyncio.to_thread(_kill_one_replica, url, app)
    result = await load
    sent = result.completed + result.errors
    return {
        "sent": sent,
        "failed": result.errors,
        "failed_share": result.errors / sent if sent else float("nan"),
        "degraded": degraded,
        "killed_replica": replica,
        "restored_after_s": round(restored_s, 2),
        "p50_ms": round(result.p(50), 1),
        "p99_ms": round(result.p(99), 1),
        "error_samples": list(result.error_samples),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, default=Path(".shopmesh"))
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--kill-at", type=float, default=10.0)
    parser.add_argument("--replicas", type=int, default=2)
    args = parser.parse_args()
    workspace = ensure_workspace(args.home)
    config = cluster.ClusterConfig(
        registry_dir=workspace.registry,
        graph_dir=workspace.graph,
        port=free_port(),
        serving={"intent": {"replicas": args.replicas}},
        startup_timeout_s=600,
    )
    running = cluster.start(config)
    try:
        report = asyncio.run(_run(running.url, bitext_test_texts(), args, config.app_name))
    finally:
        cluster.stop()
    print(json.dumps(report, indent=2))
    results = Path(__file__).with_name("results")
    results.mkdir(exist_ok=True)
    (results / "bench_replica_kill.json").write_text(json.dumps(report, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
