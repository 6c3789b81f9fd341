"""Edge inference side by side, and the device/cluster cascade.

``latency`` (the default part): the model is MiniLM with a linear head fitted on frozen embeddings of
``--train-per-intent`` Bitext train-split messages per intent. Same inputs for all three engines (torch fp32, ONNX
Runtime fp32 and int8; the model's own tokenisation, so tokenisation time is excluded), batch 1 and 32 of test-split
messages, same thread count; int8 is dynamic per-channel. Prints median latencies, ratios to torch, model sizes and
argmax agreement on the whole test split. Its cascade curve: on the test split, the device (int8) answers a message
when its confidence reaches a threshold and passes the rest on; the cluster stand-in here is the same model in torch
fp32, so the curve shows what answering on the int8 device costs at each share. Writes
``benchmarks/results/bench_edge.json`` and ``bench_edge.png`` (share on device vs accuracy, drawn from that file;
``--replot`` redraws it without measuring).

``cascade``: an intent version (the registry's newest with ``--registry``, else MiniLM with a head trained on the
Bitext train split in a scratch registry) and, with ``--ensemble``, the intent ensemble built on it as the cluster's
answer (else the torch fp32 model). The bundle's threshold is fitted on the validation split (at most 0.5 pt lost);
the Bitext test split and ``tests/data/intent_heldout.csv`` then report the share answered on the device, one message
at a time, and accuracy of the cascade vs cluster-only, at the fitted threshold and at the old fixed 0.7.
Asserts nothing.

    .venv/bin/python benchmarks/bench_edge.py [--part latency|cascade|all] [--threads N] [--repeats N]
        [--train-per-intent N] [--registry DIR] [--ensemble] [--replot]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
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
from numpy.typing import NDArray

from edge.export import (
    BundleSigner,
    Calibration,
    cascade_scores,
    cluster_calibration,
    export_fp32,
    export_intent,
    export_registry_version,
)
from edge.export.bundle_writer import DEFAULT_CONFIDENCE_THRESHOLD
from edge.runtime import EdgeBundle
from ensemble.central import Trainer, train_intent_version
from ensemble.datasets import bundled_intent_splits, load_bitext, split_bitext
from ensemble.intent_ensemble import build_intent_ensemble
from ensemble.members.intent import IntentModel, encode
from ensemble.registry import Registry
from shopmesh.plots import CascadePoint, cascade_tradeoff

RESULTS = Path(__file__).with_name("results")
HELDOUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "intent_heldout.csv"
FIXED_THRESHOLD = 0.7  # what every bundle used before the threshold was fitted
THRESHOLDS = [round(0.05 * i, 2) for i in range(21)]


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


def cascade_points(
    confidence: NDArray[np.floating], device_correct: NDArray[np.bool_], cluster_correct: NDArray[np.bool_]
) -> list[CascadePoint]:
    """Per threshold: the share with ``confidence >= threshold`` (answered on the device), the accuracy of those
    answers (None when there are none), and the accuracy of all answers with the rest from the cluster."""
    points = []
    for threshold in THRESHOLDS:
        on_device = confidence >= threshold
        answers = np.where(on_device, device_correct, cluster_correct)
        points.append(
            CascadePoint(
                threshold=threshold,
                device_share=float(on_device.mean()),
                device_accuracy=float(device_correct[on_device].mean()) if on_device.any() else None,
                overall_accuracy=float(answers.mean()),
            )
        )
    return points


def plot_results(results: Path, out: Path) -> Path:
    """The cascade trade-off curve from a saved results JSON."""
    report = json.loads(results.read_text(encoding="utf-8"))
    cascade = report["cascade"]
    points = [CascadePoint.from_dict(row) for row in cascade["points"]]
    return cascade_tradeoff(points, out, threshold=cascade.get("bundle_threshold"))


def _sample(frame: pd.DataFrame, per_intent: int) -> pd.DataFrame:
    return frame.groupby("intent", group_keys=False).head(per_intent).reset_index(drop=True)


def _softmax(logits: NDArray[np.float32]) -> NDArray[np.float32]:
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return np.asarray(shifted / shifted.sum(axis=-1, keepdims=True), dtype=np.float32)


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
    """Engines side by side and the cascade curve against the fp32 stand-in; writes the JSON and the PNG."""
    splits = split_bitext(load_bitext())
    train = _sample(splits.train, args.train_per_intent)
    test_texts = [str(t) for t in splits.test["instruction"]]
    test_gold = [str(label) for label in splits.test["intent"]]
    model = IntentModel.from_pretrained(sorted(splits.train["intent"].unique()))
    fit_head(model, [str(t) for t in train["instruction"]], [str(label) for label in train["intent"]])
    texts = test_texts[:32]

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
        test_batch = model.tokenize(test_texts)
        with torch.no_grad():
            reference = model(**test_batch).numpy()
        feeds = {k: v.numpy() for k, v in test_batch.items()}
        gold = np.array([model.labels.index(label) for label in test_gold])
        outputs = {name: sess.run(None, feeds)[0] for name, sess in engines.items()}
        for name, logits in outputs.items():
            agree = float((logits.argmax(-1) == reference.argmax(-1)).mean())
            diff = float(np.abs(logits - reference).max())
            print(f"{name}: max |logit diff| vs torch {diff:.2e}, argmax agreement {agree:.3f} on {len(gold)} texts")

    device = _softmax(outputs["ort-int8"])
    points = cascade_points(device.max(axis=-1), device.argmax(-1) == gold, reference.argmax(-1) == gold)
    print(f"\ncascade on {len(gold)} test-split texts (device int8, cluster stand-in torch fp32)")
    print(f"{'threshold':>9} {'on device':>9} {'device acc':>10} {'overall acc':>11}")
    for point in points:
        device_acc = "-" if point.device_accuracy is None else f"{point.device_accuracy:.3f}"
        print(f"{point.threshold:9.2f} {point.device_share:9.3f} {device_acc:>10} {point.overall_accuracy:11.3f}")
    RESULTS.mkdir(exist_ok=True)
    report = {
        "settings": {k: str(v) for k, v in vars(args).items()},
        "timings_ms": {name: {str(size): ms for size, ms in by_size.items()} for name, by_size in timings.items()},
        "sizes_mb": sizes,
        "cascade": {
            "texts": len(gold),
            "bundle_threshold": DEFAULT_CONFIDENCE_THRESHOLD,
            "points": [dataclasses.asdict(point) for point in points],
        },
    }
    (RESULTS / "bench_edge.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    plot_results(RESULTS / "bench_edge.json", RESULTS / "bench_edge.png")
    print(f"wrote {RESULTS / 'bench_edge.json'} and {RESULTS / 'bench_edge.png'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["latency", "cascade", "all"], default="latency")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--train-per-intent", type=int, default=10, help="train-split messages per intent")
    parser.add_argument("--registry", type=Path, default=None, help="a registry with a trained intent version")
    parser.add_argument("--ensemble", action="store_true", help="build the intent ensemble as the cluster's answer")
    parser.add_argument("--replot", action="store_true", help="only redraw bench_edge.png from bench_edge.json")
    args = parser.parse_args()
    if args.replot:
        print(f"wrote {plot_results(RESULTS / 'bench_edge.json', RESULTS / 'bench_edge.png')}")
        return
    torch.set_num_threads(args.threads)
    if args.part in ("latency", "all"):
        latency(args)
    if args.part in ("cascade", "all"):
        cascade(args)


if __name__ == "__main__":
    main()
