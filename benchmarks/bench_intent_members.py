"""Measure every intent-ensemble member and the fusion; print figures and latency ratios side by side.

Uses the latest ``intent-ensemble`` version in ``--registry`` (building one, and an intent version first, when
there is none). Prints: Bitext test-split accuracy / macro-F1 / ECE per member and fused; the stored pseudo
out-of-scope figures; out-of-scope AUROC and recall@95P of hand-written out-of-scope messages
(``tests/data/intent_oos.csv``) against the test split; accuracy per member on the hand-written robustness set
(``tests/data/intent_robustness.csv``), overall and per style; per-message latency of the encoder and of each
member at batch 1 and 32 on CPU. ``--lora`` also fine-tunes LoRA adapters for one epoch on the train split and
compares the head before and after on the test split and the robustness set (about 3 minutes on one thread).
Nothing here is asserted.

Run: ``python benchmarks/bench_intent_members.py --registry .shopmesh/registry [--lora]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from threadpoolctl import threadpool_limits

from ensemble.central import train_intent_version
from ensemble.datasets import DataSplits, load_bitext, split_bitext
from ensemble.intent_ensemble import IntentEnsemble, ensure_intent_ensemble, oos_metrics
from ensemble.intent_ensemble.evaluation import evaluate_members
from ensemble.registry import ModelVersion, Registry

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"


def _train_intent(registry: Registry, splits: DataSplits) -> ModelVersion:
    return train_intent_version(registry, splits).version


def _median_ms(fn: Callable[[], object], repeats: int) -> float:
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds) * 1000.0


def latency_table(ensemble: IntentEnsemble, texts: list[str], repeats: int) -> None:
    print("\nlatency per call, ms (median of", repeats, "calls); ratio = member / encoder")
    print(f"{'part':<10} {'batch 1':>10} {'batch 32':>10} {'ratio@1':>9} {'ratio@32':>9}")
    rows: dict[str, list[float]] = {}
    for batch in (1, 32):
        chunk = texts[:batch]
        emb = ensemble.embed(chunk)
        rows.setdefault("encoder", []).append(_median_ms(partial(ensemble.embed, chunk), repeats))
        for name, member in ensemble.members.items():
            rows.setdefault(name, []).append(_median_ms(partial(member.proba_from_embeddings, emb), repeats))
        for mode in ("serial", "parallel", "fusion"):
            rows.setdefault(f"{mode}*", []).append(_median_ms(partial(ensemble.predict, chunk, mode), repeats))
    enc = rows["encoder"]
    for name, (one, many) in rows.items():
        print(f"{name:<10} {one:>10.3f} {many:>10.3f} {one / enc[0]:>9.3f} {many / enc[1]:>9.3f}")
    print("* whole predict() call: one encoder pass + the members the mode runs + OOS score")


def lora_comparison(registry: Registry, ensemble: IntentEnsemble, splits: DataSplits, robust: pd.DataFrame) -> None:
    from ensemble.members.intent_artifact import load_intent
    from ensemble.members.lora import apply_lora
    from ensemble.training import TrainConfig, evaluate, fine_tune, fit_temperature

    model, _ = load_intent(registry, ensemble.intent_version)
    sets = {"test": (splits.test.instruction.tolist(), splits.test.intent.tolist())}
    sets["robustness"] = (robust.text.tolist(), robust.intent.tolist())
    before = {name: evaluate(model, *pair) for name, pair in sets.items()}
    model = apply_lora(model)
    report = fine_tune(model, splits.train.instruction.tolist(), splits.train.intent.tolist(), TrainConfig(epochs=1))
    fit_temperature(model, splits.val.instruction.tolist(), splits.val.intent.tolist())
    after = {name: evaluate(model, *pair) for name, pair in sets.items()}
    print(f"\nLoRA (r={model.config.lora_r}, 1 epoch, {report.seconds:.0f} s) vs the frozen-encoder head")
    for name in sets:
        for metric in ("accuracy", "macro_f1", "ece"):
            print(f"  {name:<11} {metric:<9} frozen {before[name][metric]:.4f}  lora {after[name][metric]:.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--registry", type=Path, default=Path(".shopmesh/registry"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--lora", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    threadpool_limits(args.threads)  # numpy's BLAS too: the kNN matmul was ~8x slower with spinning threads
    registry = Registry(args.registry)
    splits = split_bitext(load_bitext())
    ensemble = ensure_intent_ensemble(registry, None, lambda: splits, train_intent=_train_intent)
    print(
        f"{ensemble.version} on {ensemble.intent_version}; fusion weights",
        dict(zip(ensemble.fusion.names, ensemble.fusion.weights, strict=True)),
    )
    test = splits.test
    print(f"\nBitext test split (n={len(test)})")
    per_member = evaluate_members(ensemble, test.instruction.tolist(), test.intent.tolist())
    for name, m in per_member.items():
        print(f"  {name:<7} accuracy {m['accuracy']:.4f}  macro-F1 {m['macro_f1']:.4f}  ECE {m['ece']:.4f}")
    stored = registry.load("intent-ensemble", ensemble.version).metrics["pseudo_oos"]
    print(
        "\npseudo out-of-scope (validation, held-out intents):",
        json.dumps(
            {k: stored[k] for k in ("score", "threshold", "auroc", "recall_at_95_precision", "false_alarm_rate")}
        ),
    )
    oos_texts = pd.read_csv(DATA / "intent_oos.csv").text.tolist()
    in_scores = np.array([d.oos_score for d in ensemble.predict(test.instruction.tolist(), "fusion")])
    out = [d for d in ensemble.predict(oos_texts, "fusion")]
    real = oos_metrics(in_scores, np.array([d.oos_score for d in out]))
    print(
        f"hand-written out-of-scope (n={len(oos_texts)}) vs test split:",
        json.dumps(real),
        "flagged",
        sum(d.out_of_scope for d in out),
        "test flagged",
        int((in_scores < ensemble.oos.threshold).sum()),
    )
    robust = pd.read_csv(DATA / "intent_robustness.csv")
    print(f"\nrobustness set (n={len(robust)}, hand-written paraphrases)")
    emb = ensemble.embed(robust.text.tolist())
    probs = ensemble.member_probabilities(emb)
    probs["fusion"] = ensemble.fuse(probs)
    styles = sorted(robust["style"].unique())
    print(f"  {'member':<7} {'all':>6} " + " ".join(f"{s:>9}" for s in styles))
    for name, p in probs.items():
        hit = np.array([ensemble.labels[i] for i in p.argmax(axis=1)]) == robust.intent.to_numpy()
        per_style = " ".join(f"{hit[(robust['style'] == s).to_numpy()].mean():>9.3f}" for s in styles)
        print(f"  {name:<7} {hit.mean():>6.3f} {per_style}")
    latency_table(ensemble, test.instruction.tolist(), args.repeats)
    if args.lora:
        lora_comparison(registry, ensemble, splits, robust)


if __name__ == "__main__":
    main()
