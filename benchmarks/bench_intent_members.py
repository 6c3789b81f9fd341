"""Measure every intent-ensemble member and the fusion; print figures and latency ratios side by side.

Uses the latest ``intent-ensemble`` version in ``--registry`` (building one, and an intent version first, when
there is none). Prints: Bitext test-split accuracy / macro-F1 / ECE per member and fused; the stored pseudo
out-of-scope figures; out-of-scope AUROC and recall@95P of hand-written out-of-scope messages against in-scope
messages; accuracy and ECE per member on two hand-written sets of real-style messages — the robustness set
(``tests/data/intent_robustness.csv``, by style), used while developing the trainer, and the held-out set
(``tests/data/intent_heldout.csv``, by channel, with ``intent_heldout_oos.csv``), written independently and
never used to choose anything; per-message latency of the encoder and of each member at batch 1 and 32 on CPU.
``--compare`` first trains, side by side in one run, the frozen-encoder head on Bitext, the fine-tuned encoder on
Bitext, and the fine-tuned encoder on Bitext plus the seed phrasings (each with its ensemble, in a temporary
registry; about 10 minutes on two cores) and prints the same figures for each. ``--lora`` also fine-tunes LoRA
adapters for one epoch and compares the head before and after. Nothing here is asserted.

Run: ``python benchmarks/bench_intent_members.py --registry .shopmesh/registry [--compare] [--lora]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from threadpoolctl import threadpool_limits

from ensemble.central import Trainer, train_intent_version
from ensemble.datasets import DataSplits, bundled_intent_splits, load_bitext, split_bitext
from ensemble.intent_ensemble import (
    IntentEnsemble,
    build_intent_ensemble,
    classification_metrics,
    ensure_intent_ensemble,
    load_intent_ensemble,
    oos_metrics,
)
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


def real_style_report(ensemble: IntentEnsemble, frame: pd.DataFrame, by: str, title: str) -> dict[str, float]:
    """Accuracy per member (and ECE) on a hand-written set, overall and per ``by`` group."""
    print(f"\n{title} (n={len(frame)})")
    probs = ensemble.member_probabilities(ensemble.embed(frame.text.tolist()))
    probs["fusion"] = ensemble.fuse(probs)
    groups = sorted(frame[by].unique())
    print(f"  {'member':<7} {'all':>6} {'ECE':>6} " + " ".join(f"{g[:9]:>9}" for g in groups))
    accuracy = {}
    for name, p in probs.items():
        m = classification_metrics(ensemble.labels, frame.intent.tolist(), p)
        hit = np.array([ensemble.labels[i] for i in p.argmax(axis=1)]) == frame.intent.to_numpy()
        per_group = " ".join(f"{hit[(frame[by] == g).to_numpy()].mean():>9.3f}" for g in groups)
        print(f"  {name:<7} {m['accuracy']:>6.3f} {m['ece']:>6.3f} {per_group}")
        accuracy[name] = m["accuracy"]
    return accuracy


def oos_report(ensemble: IntentEnsemble, in_scope: dict[str, list[str]], oos_sets: dict[str, list[str]]) -> None:
    """AUROC / recall@95P of each out-of-scope set against each in-scope set, and what the threshold flags."""
    scores = {name: np.array([d.oos_score for d in ensemble.predict(texts)]) for name, texts in in_scope.items()}
    for oos_name, texts in oos_sets.items():
        out = np.array([d.oos_score for d in ensemble.predict(texts)])
        flagged = float((out < ensemble.oos.threshold).mean())
        print(f"  {oos_name} (n={len(texts)}): flagged {flagged:.3f} at the stored threshold")
        for in_name, in_scores in scores.items():
            m = oos_metrics(in_scores, out)
            false_alarms = float((in_scores < ensemble.oos.threshold).mean())
            print(
                f"    vs {in_name:<11} AUROC {m['oos_auroc']:.3f}  recall@95P {m['oos_recall_at_95_precision']:.3f}"
                f"  in-scope flagged {false_alarms:.3f}"
            )


def report(registry: Registry, ensemble: IntentEnsemble, splits: DataSplits) -> dict[str, float]:
    print(
        f"{ensemble.version} on {ensemble.intent_version}; fusion weights",
        {n: round(w, 3) for n, w in zip(ensemble.fusion.names, ensemble.fusion.weights, strict=True)},
    )
    test = splits.test
    print(f"\nBitext test split (n={len(test)})")
    per_member = evaluate_members(ensemble, test.instruction.tolist(), test.intent.tolist())
    for name, m in per_member.items():
        print(f"  {name:<7} accuracy {m['accuracy']:.4f}  macro-F1 {m['macro_f1']:.4f}  ECE {m['ece']:.4f}")
    stored = registry.load("intent-ensemble", ensemble.version).metrics["pseudo_oos"]
    print(
        "\npseudo out-of-scope (validation + styled copy, held-out intents):",
        json.dumps({k: stored[k] for k in ("score", "threshold", "auroc", "recall_at_95_precision")}),
    )
    robust = pd.read_csv(DATA / "intent_robustness.csv")
    heldout = pd.read_csv(DATA / "intent_heldout.csv")
    summary = {"test_" + k: v["accuracy"] for k, v in per_member.items()}
    rob = real_style_report(ensemble, robust, "style", "robustness set (development)")
    held = real_style_report(ensemble, heldout, "channel", "held-out real-style set (never used to choose)")
    summary |= {"robustness_" + k: v for k, v in rob.items()} | {"heldout_" + k: v for k, v in held.items()}
    print("\nout of scope")
    in_scope = {"test": test.instruction.tolist(), "robustness": robust.text.tolist(), "heldout": heldout.text.tolist()}
    oos_sets = {
        "intent_oos.csv": pd.read_csv(DATA / "intent_oos.csv").text.tolist(),
        "intent_heldout_oos.csv": pd.read_csv(DATA / "intent_heldout_oos.csv").text.tolist(),
    }
    oos_report(ensemble, in_scope, oos_sets)
    return summary


def compare_trainers(splits: DataSplits, seeded: DataSplits) -> None:
    """Three intent versions trained side by side, each with its ensemble, in a temporary registry."""
    variants = {
        "frozen head, Bitext": (Trainer.HEAD, splits),
        "fine-tuned, Bitext": (Trainer.FINE_TUNE, splits),
        "fine-tuned, Bitext + seeds": (Trainer.FINE_TUNE, seeded),
    }
    summaries: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        registry = Registry(Path(tmp))
        for name, (trainer, data) in variants.items():
            print(f"\n===== {name} =====")
            result = train_intent_version(registry, data, trainer=trainer)
            print(f"trained {result.version.id} in {result.seconds:.0f} s")
            built = build_intent_ensemble(registry, result.version.id, data)
            summaries[name] = report(registry, load_intent_ensemble(registry, built.id), splits)
    keys = list(next(iter(summaries.values())))
    print("\n===== side by side (accuracy) =====")
    print(f"{'':<28}" + " ".join(f"{k:>20}" for k in keys))
    for name, summary in summaries.items():
        print(f"{name:<28}" + " ".join(f"{summary[k]:>20.4f}" for k in keys))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--registry", type=Path, default=Path(".shopmesh/registry"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--compare", action="store_true")
    parser.add_argument("--lora", action="store_true")
    args = parser.parse_args()
    splits = split_bitext(load_bitext())
    seeded = bundled_intent_splits()
    if args.compare:
        compare_trainers(splits, seeded)
    torch.set_num_threads(args.threads)
    threadpool_limits(args.threads)  # numpy's BLAS too: the kNN matmul was ~8x slower with spinning threads
    registry = Registry(args.registry)
    ensemble = ensure_intent_ensemble(registry, None, lambda: seeded, train_intent=_train_intent)
    print("\n===== the registry's latest ensemble =====")
    report(registry, ensemble, splits)
    latency_table(ensemble, splits.test.instruction.tolist(), args.repeats)
    if args.lora:
        lora_comparison(registry, ensemble, splits, pd.read_csv(DATA / "intent_robustness.csv"))


if __name__ == "__main__":
    main()
