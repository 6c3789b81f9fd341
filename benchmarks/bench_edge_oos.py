"""On-device out-of-scope detection: how well the bundle's logit scores separate out-of-scope messages.

An intent version (the registry's newest with ``--registry``, else MiniLM with a head trained on the Bitext train
split in a scratch registry) is exported to a real int8 bundle whose escalation threshold and out-of-scope threshold
(``--score``, kept in scope: ``--target`` of the validation texts) are fitted on the Bitext validation split only,
all in scope. Every message is then classified one at a time with the bundle's ONNX Runtime session, as on a
device. Printed, for both scores (energy and max-softmax, computed from the same logits): AUROC of out-of-scope
(``tests/data/intent_oos.csv``, and ``intent_heldout_oos.csv``) against in-scope ``tests/data/intent_heldout.csv``;
at each score's threshold fitted on validation, the share of out-of-scope messages flagged and of in-scope messages
wrongly flagged; and the cascade's share answered on the device with and without the flag. Asserts nothing.

    .venv/bin/python benchmarks/bench_edge_oos.py [--registry DIR] [--score energy|max-softmax] [--target 0.95]
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sklearn.metrics import roc_auc_score

from edge.export import BundleSigner, cluster_calibration, export_registry_version, fit_oos
from edge.runtime import EdgeBundle, OosScore
from edge.runtime.oos import oos_scores
from ensemble.central import Trainer, train_intent_version
from ensemble.datasets import bundled_intent_splits
from ensemble.registry import Registry

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"


def device_logits(bundle: EdgeBundle, texts: list[str]) -> NDArray[np.float32]:
    """Logits [N, C], one message at a time as a device classifies them."""
    runner = bundle.runner
    return np.concatenate([runner.logits(runner.encode([text])) for text in texts])


def share(mask: NDArray[np.bool_]) -> str:
    return f"{100 * float(mask.mean()):6.1f}%"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--registry", type=Path, default=None, help="a registry with a trained intent version")
    parser.add_argument("--score", choices=[str(s) for s in OosScore], default=str(OosScore.ENERGY))
    parser.add_argument("--target", type=float, default=0.95, help="share of validation texts kept in scope")
    args = parser.parse_args()
    splits = bundled_intent_splits()
    val_texts = splits.val["instruction"].tolist()
    in_scope = pd.read_csv(DATA / "intent_heldout.csv")["text"].tolist()
    oos_sets = {
        "intent_oos": pd.read_csv(DATA / "intent_oos.csv")["text"].tolist(),
        "intent_heldout_oos": pd.read_csv(DATA / "intent_heldout_oos.csv")["text"].tolist(),
    }
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        registry = Registry(args.registry if args.registry is not None else Path(tmp) / "registry")
        if args.registry is None:
            train_intent_version(registry, splits, trainer=Trainer.HEAD)
        version = registry.latest("intent").id
        chosen = OosScore(args.score)
        calibration = cluster_calibration(registry, version, val_texts, oos_score=chosen)
        calibration = dataclasses.replace(calibration, oos_target=args.target)
        signer = BundleSigner.generate()
        info = export_registry_version(
            registry, Path(tmp) / "bundle", signer=signer, version=version, calibration=calibration
        )
        bundle = EdgeBundle.load(info.path, [signer.trusted_key])
        spec, fit = bundle.manifest.oos, bundle.manifest.threshold_fit
        if spec is None or fit is None:
            raise SystemExit(f"{info.path} carries no fitted thresholds; the export ignored its calibration")
        print(f"{version} exported in {time.perf_counter() - started:.0f} s; escalation threshold {fit.threshold:.4f}")
        print(f"manifest oos: {spec.to_dict()}")
        val_logits = device_logits(bundle, val_texts)
        in_logits = device_logits(bundle, in_scope)
        oos_logits = {name: device_logits(bundle, texts) for name, texts in oos_sets.items()}
        print(
            f"\n{'score':<12} {'oos set':<19} {'AUROC':>6} {'threshold':>10} {'oos flagged':>11} "
            f"{'in-scope flagged':>16}"
        )
        for score in OosScore:
            threshold = fit_oos(val_logits, score, target=args.target).threshold
            in_scores = oos_scores(in_logits, score, 1.0)
            for name, logits in oos_logits.items():
                out_scores = oos_scores(logits, score, 1.0)
                labels = np.r_[np.zeros(len(in_scores)), np.ones(len(out_scores))]
                auroc = float(roc_auc_score(labels, np.r_[in_scores, out_scores]))
                print(
                    f"{score!s:<12} {name:<19} {auroc:>6.3f} {threshold:>10.4f} {share(out_scores > threshold):>11} "
                    f"{share(in_scores > threshold):>16}"
                )
        print(f"\ncascade with the bundle as exported (score {spec.score}, threshold {spec.threshold:.4f}):")
        print(f"{'set':<19} {'n':>4} {'on device, confidence only':>27} {'on device, + out-of-scope':>26}")
        for name, texts in {"intent_heldout": in_scope, **oos_sets}.items():
            guesses = [bundle.predict([text])[0] for text in texts]
            by_confidence = np.asarray([g.confidence >= fit.threshold for g in guesses])
            with_oos = np.asarray([g.answers_locally(fit.threshold) for g in guesses])
            print(f"{name:<19} {len(texts):>4} {share(by_confidence):>27} {share(with_oos):>26}")
        print(
            "(for out-of-scope sets, on device means answered with an in-scope intent on the device: lower is better)"
        )


if __name__ == "__main__":
    main()
