"""Merchants' intent adapters: what an adapter switch costs against a merged model per merchant, and the hit rate of
a replica's adapter cache under a mixed-tenant load.

Run: ``python benchmarks/bench_adapters.py [--home DIR] [--merchants 6] [--cache 3] [--requests 200]``. The
workspace gets a knowledge graph and a MiniLM intent version (built with the CLI when missing). Each merchant's
adapter is trained with ``shopmesh``'s own trainer (LoRA on the encoder + head, one epoch) on one Bitext
category's training messages, so every merchant's customers write about other things.

1. In process, side by side: loading an adapter on a base already in memory (a cache miss of a replica: registry
   read + LoRA tensors into the shared encoder) against loading a merged model per merchant (what one would serve
   without adapters: a full intent version from the registry); one decision through an adapter (activate + head)
   against the base alone; the bytes each takes on disk.
2. On a real local Ray + Serve cluster (``max_adapters_per_replica`` = ``--cache``): ``--requests`` sequential
   ``/v1/chat`` requests on loopback, each merchant's key drawn with Zipf weights (1/rank); after each request the
   replica's adapter-load counter (``/healthz``) says whether it was a miss. Prints the hit rate and the latency of
   hits and misses. Asserts nothing; the cluster is always stopped.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from pathlib import Path
from typing import Any

import httpx
from loadgen import percentile
from serving_stack import bitext_test_texts, ensure_workspace, free_port

import cluster
from cluster.adapters import AdapterAssignments
from cluster.config import default_state_dir
from cluster.tenants import TenantStore
from ensemble.chat import ChatMode
from ensemble.datasets import load_bitext, split_bitext
from ensemble.members.intent import predict
from ensemble.members.intent_adapter import ADAPTER_MEMBER, AdapterBank, train_adapter
from ensemble.members.intent_artifact import load_intent
from ensemble.registry import Registry
from ensemble.training import TrainConfig


def _merchant_adapters(registry: Registry, count: int) -> dict[str, str]:
    """One adapter per merchant (``shop-1`` ...), each trained on one Bitext category's messages; reused when the
    registry already has them over the latest intent version."""
    base = registry.latest("intent").id
    found: dict[str, str] = {}
    for version in registry.list(ADAPTER_MEMBER):
        config = registry.load(ADAPTER_MEMBER, version.version).config
        if config.get("base") == base:
            found[str(config["merchant"])] = version.id
    frame = load_bitext()
    categories = sorted(frame["category"].unique())
    for i in range(count):
        merchant = f"shop-{i + 1}"
        if merchant in found:
            continue
        part = frame[frame["category"] == categories[i % len(categories)]]
        part = part.groupby("intent").filter(lambda rows: len(rows) >= 10).sample(frac=1.0, random_state=i)
        part = part.groupby("intent").head(40)
        splits = split_bitext(part)
        started = time.perf_counter()
        result = train_adapter(registry, merchant, splits, base=base, train_config=TrainConfig(epochs=1))
        print(f"trained {result.version.id} for {merchant} in {time.perf_counter() - started:.1f} s")
        found[merchant] = result.version.id
    return {f"shop-{i + 1}": found[f"shop-{i + 1}"] for i in range(count)}


def _timed(call: Any, repeats: int) -> list[float]:
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        samples.append(1000 * (time.perf_counter() - started))
    return samples


def in_process(registry: Registry, adapters: dict[str, str], repeats: int) -> dict[str, Any]:
    base_id = registry.latest("intent").id
    bank = AdapterBank(registry)
    everyone = list(adapters.values())
    keep = bank.load(everyone[0])  # the base stays in memory, as on a serving replica
    ids = everyone[1:]  # each of these is loaded afresh (the one kept would only be shared)

    def load_adapter() -> None:
        for adapter in ids:
            bank.load(adapter).release()

    def load_merged() -> None:
        for _ in ids:
            load_intent(registry, base_id)

    adapter_ms = [ms / len(ids) for ms in _timed(load_adapter, repeats)]
    merged_ms = [ms / len(ids) for ms in _timed(load_merged, repeats)]
    served = [bank.load(adapter) for adapter in everyone]
    base_model, _ = load_intent(registry, base_id)
    text = ["I want to cancel the order I placed yesterday"]
    switch_ms = []
    for _ in range(repeats):
        for adapter in served:  # every decision activates another adapter: a switch on each call
            started = time.perf_counter()
            adapter.decide(text, ChatMode.SERIAL)
            switch_ms.append(1000 * (time.perf_counter() - started))
    base_ms = _timed(lambda: predict(base_model, text), repeats * len(served))
    adapter_bytes = statistics.mean(
        (registry.resolve(ADAPTER_MEMBER, a).path / "weights.safetensors").stat().st_size for a in everyone
    )
    full_bytes = (registry.resolve("intent", base_id).path / "weights.safetensors").stat().st_size
    for adapter in served:
        adapter.release()
    keep.release()
    return {
        "adapters": len(everyone),
        "load_adapter_on_shared_base_ms_p50": round(statistics.median(adapter_ms), 1),
        "load_merged_model_per_merchant_ms_p50": round(statistics.median(merged_ms), 1),
        "load_ratio_merged_over_adapter": round(statistics.median(merged_ms) / statistics.median(adapter_ms), 1),
        "decide_with_adapter_switch_ms_p50": round(statistics.median(switch_ms), 2),
        "decide_base_alone_ms_p50": round(statistics.median(base_ms), 2),
        "adapter_weights_bytes": int(adapter_bytes),
        "merged_model_weights_bytes": full_bytes,
        "size_ratio_merged_over_adapter": round(full_bytes / adapter_bytes, 1),
    }


def on_cluster(workspace: Any, adapters: dict[str, str], cache: int, requests: int, seed: int) -> dict[str, Any]:
    state_dir = default_state_dir(workspace.registry)
    tenants = TenantStore.in_state_dir(state_dir)
    keys: dict[str, str] = {}
    for key in tenants.list():  # keys of an earlier run of this benchmark are revoked and made anew
        if key.active and key.merchant in adapters:
            tenants.revoke(key.key_id)
    for merchant in adapters:
        keys[merchant] = tenants.add(merchant).key
    assignments = AdapterAssignments.in_state_dir(state_dir)
    for merchant, adapter in adapters.items():
        assignments.assign(merchant, adapter)
    merchants = list(adapters)
    rng = random.Random(seed)
    weights = [1.0 / rank for rank in range(1, len(merchants) + 1)]
    texts = bitext_test_texts()
    config = cluster.ClusterConfig(
        registry_dir=workspace.registry,
        graph_dir=workspace.graph,
        port=free_port(),
        max_adapters_per_replica=cache,
        startup_timeout_s=600,
    )
    running = cluster.start(config)
    hits: list[float] = []
    misses: list[float] = []
    wrong = 0
    try:
        with httpx.Client(base_url=running.url, timeout=60.0) as http:
            loads = int(http.get("/healthz").json()["intent"]["adapter_loads"])
            for i in range(requests):
                merchant = rng.choices(merchants, weights)[0]
                started = time.perf_counter()
                answer = http.post(
                    "/v1/chat",
                    json={"text": texts[i % len(texts)]},
                    headers={"Authorization": f"Bearer {keys[merchant]}"},
                ).json()
                elapsed = 1000 * (time.perf_counter() - started)
                wrong += answer.get("adapter") != adapters[merchant]
                now = int(http.get("/healthz").json()["intent"]["adapter_loads"])
                (misses if now > loads else hits).append(elapsed)
                loads = now
    finally:
        cluster.stop()
        for merchant in adapters:
            assignments.clear(merchant)
    return {
        "merchants": len(merchants),
        "max_adapters_per_replica": cache,
        "requests": requests,
        "answered_by_another_adapter": wrong,
        "hit_rate": round(len(hits) / requests, 3),
        "hit_ms_p50": round(percentile(hits, 50), 1),
        "hit_ms_p95": round(percentile(hits, 95), 1),
        "miss_ms_p50": round(percentile(misses, 50), 1) if misses else None,
        "miss_ms_p95": round(percentile(misses, 95), 1) if misses else None,
        "misses": len(misses),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, default=Path(".shopmesh"))
    parser.add_argument("--merchants", type=int, default=6)
    parser.add_argument("--cache", type=int, default=3, help="max_adapters_per_replica")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    workspace = ensure_workspace(args.home)
    registry = Registry(workspace.registry)
    adapters = _merchant_adapters(registry, args.merchants)
    report = {
        "in_process": in_process(registry, adapters, args.repeats),
        "cluster": on_cluster(workspace, adapters, args.cache, args.requests, args.seed),
    }
    print(json.dumps(report, indent=2))
    results = Path(__file__).with_name("results")
    results.mkdir(exist_ok=True)
    (results / "bench_adapters.json").write_text(json.dumps(report, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
