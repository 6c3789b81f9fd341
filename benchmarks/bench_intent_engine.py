"""The cluster replica's intent stage on each encoder engine, side by side in one process: torch eager, ONNX
Runtime fp32 and ONNX Runtime int8 (``serving.intent.engine``).

Run: ``python benchmarks/bench_intent_engine.py --registry DIR [--version V] [--batches 1,8,32] [--rounds 5]``.
The registry's intent version (the newest unless ``--version``; with the intent ensemble built on it when the
registry holds one) is loaded three times through :class:`cluster.intent_deployment.IntentRunner`, one per
engine, the ONNX graphs exported into a scratch cache first. Then, in interleaved rounds (each round every engine
once, so a busy machine slows all three alike), each runner decides batches of Bitext test-split messages in
serial mode — the work one ``@serve.batch`` call of the replica does, tokenisation included — and the median
messages per second per engine and batch size is printed with its ratio to torch. Accuracy and agreement with
torch (intent and out-of-scope flag) are computed on the whole test split. Same thread count for all engines
(torch's). Writes ``benchmarks/results/bench_intent_engine.json``. Asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from cluster.intent_deployment import IntentRunner
from ensemble.chat import ChatMode
from ensemble.datasets import load_bitext, split_bitext
from ensemble.members.intent_onnx import EncoderEngine
from ensemble.registry import Registry

RESULTS = Path(__file__).resolve().parent / "results"


def _rate(runner: IntentRunner, texts: list[str], batch: int) -> float:
    """Messages per second deciding ``texts`` in batches of ``batch``."""
    started = time.perf_counter()
    for i in range(0, len(texts), batch):
        runner.decide([(text, ChatMode.SERIAL.value) for text in texts[i : i + batch]])
    return len(texts) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--registry", type=Path, required=True)
    parser.add_argument("--version", default=None)
    parser.add_argument("--batches", type=lambda s: [int(x) for x in s.split(",")], default=[1, 8, 32])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--messages", type=int, default=96, help="messages timed per engine, batch size and round")
    args = parser.parse_args()
    registry = Registry(args.registry)
    test = split_bitext(load_bitext()).test
    texts, labels = test["instruction"].astype(str).tolist(), test["intent"].astype(str).tolist()
    timed = texts[: args.messages]

    with tempfile.TemporaryDirectory(prefix="onnx-cache-") as cache:
        runners: dict[str, IntentRunner] = {}
        for engine in EncoderEngine:
            started = time.perf_counter()
            runners[engine.value] = IntentRunner(registry, args.version, engine, Path(cache))
            status = runners[engine.value].status()
            print(
                f"{engine.value:10} ready in {time.perf_counter() - started:6.1f} s: {status['version']} "
                f"({status['stage']}), engine {status['engine']} {status['engine_error'] or ''}"
            )
        sizes = {p.name: p.stat().st_size for p in Path(cache).iterdir()}

        decisions = {
            name: runner.decide([(t, ChatMode.SERIAL.value) for t in texts]) for name, runner in runners.items()
        }
        quality: dict[str, dict[str, float]] = {}
        for name, answers in decisions.items():
            intents = [a["intent"] for a in answers]
            quality[name] = {
                "accuracy": sum(i == y for i, y in zip(intents, labels, strict=True)) / len(labels),
                "agreement_with_torch": sum(i == t["intent"] for i, t in zip(intents, decisions["torch"], strict=True))
                / len(labels),
                "out_of_scope_agreement": sum(
                    a["out_of_scope"] == t["out_of_scope"] for a, t in zip(answers, decisions["torch"], strict=True)
                )
                / len(labels),
                "max_confidence_gap": max(
                    abs(a["confidence"] - t["confidence"]) for a, t in zip(answers, decisions["torch"], strict=True)
                ),
            }

        for runner in runners.values():  # warm-up: first calls allocate
            _rate(runner, timed[:16], 8)
        rates: dict[str, dict[int, list[float]]] = {name: {b: [] for b in args.batches} for name in runners}
        for _ in range(args.rounds):
            for batch in args.batches:
                for name, runner in runners.items():
                    rates[name][batch].append(_rate(runner, timed, batch))

    print(f"\nthreads {torch.get_num_threads()}, load average {os.getloadavg()[0]:.2f}, {len(labels)} test messages")
    print(
        f"{'engine':10} {'accuracy':>9} {'agrees':>7} {'oos agr':>7} {'max dconf':>9}  "
        + "  ".join(f"{'msg/s b=' + str(b):>11} {'x':>5}" for b in args.batches)
    )
    medians = {name: {b: statistics.median(v) for b, v in per.items()} for name, per in rates.items()}
    for name in runners:
        q = quality[name]
        cells = "  ".join(
            f"{medians[name][b]:11.1f} {medians[name][b] / medians['torch'][b]:5.2f}" for b in args.batches
        )
        print(
            f"{name:10} {q['accuracy']:9.4f} {q['agreement_with_torch']:7.4f} {q['out_of_scope_agreement']:7.4f} "
            f"{q['max_confidence_gap']:9.4f}  {cells}"
        )
    print("ONNX graphs: " + ", ".join(f"{name} {size / 1e6:.1f} MB" for name, size in sorted(sizes.items())))
    RESULTS.mkdir(exist_ok=True)
    report: dict[str, Any] = {
        "settings": {k: str(v) for k, v in vars(args).items()},
        "threads": torch.get_num_threads(),
        "quality": quality,
        "messages_per_second": {name: {str(b): v for b, v in per.items()} for name, per in rates.items()},
        "graph_bytes": sizes,
    }
    (RESULTS / "bench_intent_engine.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    print(f"wrote {RESULTS / 'bench_intent_engine.json'}")


if __name__ == "__main__":
    main()
