"""Edge inference side by side, and the device/cluster cascade with the threshold fitted at export.

``latency``: torch fp32 vs ONNX Runtime fp32 vs ONNX Runtime int8, MiniLM intent model. Same inputs for all
three (the model's own tokenisation, so tokenisation time is excluded), batch 1 and 32, same thread count;
int8 is dynamic per-channel. Prints median latencies, ratios to torch, model sizes and argmax agreement.

``cascade``: an intent version (the registry's newest with ``--registry``, else MiniLM with a head trained on
the Bitext train split in a scratch registry) and, with ``--ensemble``, the intent ensemble built on it as the
cluster's answer (else the torch fp32 model). The bundle's threshold is fitted on the validation split
(at most 0.5 pt lost); the Bitext test split and ``tests/data/intent_heldout.csv`` then report the share
answered on the device, one message at a time, and accuracy of the cascade vs cluster-only, at the fitted
threshold and at the old fixed 0.7. Asserts nothing.

    .venv/bin/python benchmarks/bench_edge.py [--part latency|cascade|all] [--threads N] [--repeats N]
        [--registry DIR] [--ensemble]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pandas as pd
import torch

from edge.export import (
    BundleSigner,
    Calibration,
    cascade_scores,
    cluster_calibration,
    export_fp32,
    export_intent,
    export_registry_version,
)
from edge.runtime import EdgeBundle
from ensemble.central import Trainer, train_intent_version
from ensemble.datasets import bundled_intent_splits
from ensemble.intent_ensemble import build_intent_ensemble
from ensemble.members.intent import IntentModel, encode
from ensemble.registry import Registry

HELDOUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "intent_heldout.csv"
FIXED_THRESHOLD = 0.7  # what every bundle used before the threshold was fitted

EXAMPLES = {
    "order_status": [
        "where is my order", "has my parcel shipped yet", "track my package please",
        "when will my delivery arrive", "my order still has not come", "what is the status of order 5521",
        "is my shipment on its way", "the courier has not delivered my box",
    ],
    "returns": [
        "I want to return these shoes", "how do I send an item back",
        "can I get a refund for a broken kettle",
        "the jacket is too small, I want to exchange it", "start a return for my order",
        "the lamp arrived damaged, refund please", "what is your returns policy",
        "I would like my money back",
    ],
    "greeting": [
        "hello", "hi there", "good morning", "hey, how are you", "good evening!", "hiya", "greetings",
        "hello, anyone there?",
    ],
    "store_hours": [
        "when do you open", "what time does the shop close today", "are you open on sunday",
        "opening hours please", "is the store open on bank holidays", "until when are you open tonight",
        "what are your hours on saturday", "do you open early on weekdays",
    ],
}  # fmt: skip


def fit_head(model: IntentModel, texts: list[str], gold: list[str]) -> None:
    """Fit the linear head on frozen embeddings, so agreement is measured on a model with real decisions."""
    embeddings = encode(model, texts)
    target = torch.tensor([model.labels.index(label) for label in gold])
    optimizer = torch.optim.Adam(model.head.parameters(), lr=0.05)
    for _ in range(150):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model.head(embeddings), target)
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
    model.eval()


def median_ms(run: Callable[[], object], repeats: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        run()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        samples.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(samples)


def session(path: Path, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])


def cascade(args: argparse.Namespace) -> None:
    """Share on device and accuracy of the cascade vs cluster-only, fitted threshold vs the fixed 0.7."""
    splits = bundled_intent_splits()
    heldout = pd.read_csv(HELDOUT)
    sets = {
        "bitext val (fit)": (splits.val["instruction"].tolist(), splits.val["intent"].tolist()),
        "bitext test": (splits.test["instruction"].tolist(), splits.test["intent"].tolist()),
        "intent_heldout": (heldout["text"].tolist(), heldout["intent"].tolist()),
    }
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        if args.registry is not None:
            registry = Registry(args.registry)
        else:
            registry = Registry(Path(tmp) / "registry")
            train_intent_version(registry, splits, trainer=Trainer.HEAD)
        version = registry.latest("intent").id
        if args.ensemble and args.registry is None:
            build_intent_ensemble(registry, version, splits)
        teachers: dict[str, Calibration] = {
            name: cluster_calibration(registry, version, texts) for name, (texts, _) in sets.items()
        }
        signer = BundleSigner.generate()
        info = export_registry_version(
            registry, Path(tmp) / "bundle", signer=signer, version=version, calibration=teachers["bitext val (fit)"]
        )
        bundle = EdgeBundle.load(info.path, [signer.trusted_key])
        fit = bundle.manifest.threshold_fit
        if fit is None:
            raise SystemExit(f"{info.path} carries no fitted threshold; the export ignored its calibration")
        print(f"{version} prepared in {time.perf_counter() - started:.0f} s; cluster answers from {fit.teacher}")
        print(
            f"fitted threshold {fit.threshold:.4f} (target: at most {100 * fit.max_loss:.1f} % of validation messages "
            f"answered otherwise than the cluster; got {100 * fit.disagreement:.2f} %)"
        )
        print(
            f"{'set':<17} {'n':>5} {'threshold':>9} {'on device':>9} {'cascade acc':>11} {'cluster acc':>11} "
            f"{'loss pt':>7} {'device-only acc':>15}"
        )
        for name, (texts, gold) in sets.items():
            guesses = [bundle.predict([text])[0] for text in texts]  # one message at a time, as on a device
            conf = [g.confidence for g in guesses]
            device = [g.intent for g in guesses]
            for threshold in (fit.threshold, FIXED_THRESHOLD):
                sc = cascade_scores(threshold, conf, device, list(teachers[name].teacher_intents), gold)
                print(
                    f"{name:<17} {sc.n_texts:>5} {threshold:>9.4f} {100 * sc.device_share:>8.1f}% "
                    f"{sc.cascade_accuracy:>11.4f} {sc.cluster_accuracy:>11.4f} {sc.loss_points:>7.2f} "
                    f"{sc.device_accuracy:>15.4f}"
                )
        print("(loss pt = accuracy points lost against cluster-only serving; negative: the cascade is better)")


def latency(args: argparse.Namespace) -> None:
    texts = [t for items in EXAMPLES.values() for t in items]  # 32 texts
    gold = [label for label, items in EXAMPLES.items() for _ in items]
    model = IntentModel.from_pretrained(list(EXAMPLES))
    fit_head(model, texts, gold)

    with tempfile.TemporaryDirectory() as tmp:
        bundle = export_intent(model, Path(tmp) / "bundle", version_id="intent:v0001", signer=BundleSigner.generate())
        fp32 = export_fp32(model, Path(tmp) / "model.fp32.onnx")
        engines = {
            "ort-fp32": session(fp32.path, args.threads),
            "ort-int8": session(bundle.path / "model.onnx", args.threads),
        }
        torch_mb = sum(p.numel() * p.element_size() for p in model.parameters()) / 1e6
        sizes = {
            "torch-fp32": torch_mb,
            "ort-fp32": fp32.size_bytes / 1e6,
            "ort-int8": bundle.model_size_bytes / 1e6,
        }

        print(f"threads={args.threads} repeats={args.repeats} texts={len(texts)}")
        print(f"{'engine':<11} {'size MB':>8} {'b1 ms':>8} {'b1 x':>6} {'b32 ms':>8} {'b32 x':>6}")
        batches = {1: model.tokenize(texts[:1]), 32: model.tokenize(texts)}
        timings: dict[str, dict[int, float]] = {}
        with torch.no_grad():
            reference = model(**batches[32]).numpy()
            for size, batch in batches.items():
                timings.setdefault("torch-fp32", {})[size] = median_ms(partial(model, **batch), args.repeats)
                feeds = {k: v.numpy() for k, v in batch.items()}
                for name, sess in engines.items():
                    timings.setdefault(name, {})[size] = median_ms(partial(sess.run, None, feeds), args.repeats)
        for name, by_size in timings.items():
            base = timings["torch-fp32"]
            print(
                f"{name:<11} {sizes[name]:8.1f} {by_size[1]:8.2f} {base[1] / by_size[1]:6.2f} "
                f"{by_size[32]:8.2f} {base[32] / by_size[32]:6.2f}"
            )
        print("(x = torch latency / engine latency; >1 is faster than torch)")
        feeds32 = {k: v.numpy() for k, v in batches[32].items()}
        for name, sess in engines.items():
            logits = sess.run(None, feeds32)[0]
            agree = float((logits.argmax(-1) == reference.argmax(-1)).mean())
            diff = float(np.abs(logits - reference).max())
            print(f"{name}: max |logit diff| vs torch {diff:.2e}, argmax agreement {agree:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["latency", "cascade", "all"], default="all")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--registry", type=Path, default=None, help="a registry with a trained intent version")
    parser.add_argument("--ensemble", action="store_true", help="build the intent ensemble as the cluster's answer")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.part in ("latency", "all"):
        latency(args)
    if args.part in ("cascade", "all"):
        cascade(args)


if __name__ == "__main__":
    main()
