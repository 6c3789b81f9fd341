"""Measure the customer-service chain: grounding on real products and orders, and /v1/chat latency per mode.

``--grounding N`` answers N probe messages (:mod:`ensemble.chat.probes`: Bitext test utterances rewritten to
name real Online Retail test-period products and invoices) in this process, in serial mode, and prints how many
generated replies stated an unsupported claim, how often the fallback fired (and why), and how many FINAL
replies still carry an unsupported claim after the verifier. ``--http N`` starts the cluster on the workspace
and sends N sequential requests per mode to ``POST /v1/chat``, printing p50/p95 in milliseconds.

    python benchmarks/bench_chat.py --home .shopmesh --grounding 500
    python benchmarks/bench_chat.py --home .shopmesh --grounding 500 --no-reply
    python benchmarks/bench_chat.py --home .shopmesh --http 50

The workspace needs a saved graph (``shopmesh kg build``), an intent version and, for generated replies, a
reply version (``shopmesh train reply``); without one every answer is the reference response.
"""

from __future__ import annotations

import argparse
import collections
import json
import socket
import statistics
import tempfile
import time
from pathlib import Path

import httpx
import torch

from ensemble.chat import CHECK_FAILED_REPLY, ChatMode, ChatRequest, load_local_members, load_reference_frame
from ensemble.chat.probes import grounding_probes
from ensemble.datasets import load_bitext, load_online_retail, split_bitext, split_online_retail
from ensemble.registry import Registry
from knowledge_graph.graph import ProductGraph


def grounding(home: Path, n: int, no_reply: bool) -> dict[str, object]:
    graph = ProductGraph.load(home / "graph")
    members = load_local_members(Registry(home / "registry"), graph, load_reference_frame(None))
    if no_reply:
        members.replies.reply = None  # every answer comes from retrieval: the fallback path on its own
    probes = grounding_probes(split_bitext(load_bitext()).test, split_online_retail(load_online_retail())[1], n)
    reply_unsupported = fallbacks = final_unsupported = unchecked = fixed = confirmed_slots = 0
    reasons: collections.Counter[str] = collections.Counter()
    kinds: collections.Counter[str] = collections.Counter()
    examples: list[dict[str, object]] = []
    started = time.perf_counter()
    for probe in probes:
        answer = members.answer(ChatRequest(text=probe.text, customer_id=probe.customer_id, order_id=probe.order_id))
        reply_checks = [m for m in answer.members if m.name == "verifier" and m.output.get("checked") == "reply"]
        if reply_checks and not reply_checks[0].output.get("grounded", True):
            reply_unsupported += 1
            kinds.update(c["kind"] for c in reply_checks[0].output["claims"] if not c["supported"])
        if answer.fallback:
            fallbacks += 1
            reason = answer.fallback_reason or ""
            reasons[reason.split(" (")[0]] += 1
        fixed += answer.reply == CHECK_FAILED_REPLY
        confirmed_slots += bool(answer.slots["filled"])
        if not answer.grounding["checked"]:
            unchecked += 1
        elif answer.grounding["unsupported"]:
            final_unsupported += 1
        if len(examples) < 3:
            examples.append({"text": probe.text, "reply": answer.reply, "fallback": answer.fallback})
    seconds = time.perf_counter() - started
    return {
        "probes": len(probes),
        "reply_model": members.replies.status()["version"],
        "generated_replies_with_unsupported_claim": reply_unsupported,
        "unsupported_claim_kinds_in_generated": dict(kinds),
        "fallback_fired": fallbacks,
        "fallback_reasons": dict(reasons),
        "final_replies_with_unsupported_claim": final_unsupported,
        "final_replies_unchecked": unchecked,
        "final_replies_that_are_the_fixed_no_facts_reply": fixed,
        "final_replies_with_a_slot_filled_by_a_confirmed_value": confirmed_slots,
        "seconds": round(seconds, 1),
        "examples": examples,
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def http_latency(home: Path, n: int) -> dict[str, object]:
    import cluster

    probes = grounding_probes(split_bitext(load_bitext()).test, split_online_retail(load_online_retail())[1], n)
    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="ray-", dir="/tmp") as ray_tmp:
        config = cluster.ClusterConfig(
            registry_dir=home / "registry", graph_dir=home / "graph", port=_free_port(), ray_temp_dir=Path(ray_tmp)
        )
        running = cluster.start(config)
        try:
            with httpx.Client(base_url=running.url, timeout=60.0) as client:
                results["healthz_reply"] = client.get("/healthz").json()["reply"]
                for mode in ChatMode:
                    client.post("/v1/chat", json={"text": "where is my order", "mode": mode.value})  # warm-up
                    times, fallbacks = [], 0
                    for probe in probes:
                        body = {"text": probe.text, "mode": mode.value, "customer_id": probe.customer_id}
                        if probe.order_id:
                            body["order_id"] = probe.order_id
                        started = time.perf_counter()
                        response = client.post("/v1/chat", json=body)
                        times.append(1000 * (time.perf_counter() - started))
                        response.raise_for_status()
                        fallbacks += bool(response.json()["fallback"])
                    cuts = statistics.quantiles(times, n=20)
                    results[mode.value] = {
                        "requests": len(times),
                        "p50_ms": round(statistics.median(times), 1),
                        "p95_ms": round(cuts[18], 1),
                        "fallbacks": fallbacks,
                    }
        finally:
            cluster.stop()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, default=Path(".shopmesh"))
    parser.add_argument("--grounding", type=int, default=0, help="probe messages answered in-process")
    parser.add_argument("--no-reply", action="store_true", help="grounding without the reply model (retrieval)")
    parser.add_argument("--http", type=int, default=0, help="requests per mode over HTTP")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.grounding:
        print(json.dumps({"grounding": grounding(args.home, args.grounding, args.no_reply)}, indent=2))
    if args.http:
        print(json.dumps({"http": http_latency(args.home, args.http)}, indent=2))


if __name__ == "__main__":
    main()
