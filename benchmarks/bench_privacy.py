"""The accuracy cost of differential privacy: the same federated run without DP and at epsilon 8, 4 and 1.

A small setting that runs on a laptop: the tiny random-weight intent model (two layers, hidden 32) fine-tuned
with LoRA by ``--nodes`` merchants for ``--rounds`` rounds on Flower's simulation engine, server-side fixed
clipping. For each target epsilon, Opacus's ``get_noise_multiplier`` gives the sigma at which every merchant
(sampled in every round, q = 1) spends exactly that epsilon at delta 1e-5 over the run; the ledger in the
published lineage reports what was spent. Accuracy and macro-F1 are the published model's on the full Bitext
validation split. The tiny model is far from the packaged MiniLM's accuracy: read the differences, not the levels.

Run: ``.venv/bin/python benchmarks/bench_privacy.py [--rounds 3] [--nodes 2]``. Writes
benchmarks/results/federation_privacy.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

from opacus.accountants.utils import get_noise_multiplier

from ensemble.members.intent import IntentModel
from ensemble.members.intent_artifact import save_intent
from ensemble.registry import Lineage, Registry
from federation import FederationConfig, run_federated_simulation
from federation.config import DPMode
from federation.task import LABEL_COLUMN, load_splits

logger = logging.getLogger(__name__)

EPSILONS = (8.0, 4.0, 1.0)
DELTA = 1e-5


def _publish_base(registry: Path) -> str:
    train, _ = load_splits("")
    model = IntentModel.tiny(sorted(set(train[LABEL_COLUMN])), seed=0)
    lineage = Lineage(parent=None, data_fingerprint="sha256:bench", method="central")
    return save_intent(Registry(registry), model, metrics={}, lineage=lineage).id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--nodes", type=int, default=2)
    parser.add_argument("--examples", type=int, default=256, help="training examples per node")
    parser.add_argument("--clipping-norm", type=float, default=0.5)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    results = Path(__file__).parent / "results"
    results.mkdir(exist_ok=True)
    report: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-privacy-") as tmp:
        registry = Path(tmp) / "registry"
        base_id = _publish_base(registry)
        for target in (None, *EPSILONS):
            sigma = (
                0.0
                if target is None
                else float(
                    get_noise_multiplier(
                        target_epsilon=target, target_delta=DELTA, sample_rate=1.0, steps=args.rounds, accountant="rdp"
                    )
                )
            )
            config = FederationConfig(
                num_server_rounds=args.rounds,
                registry_dir=str(registry),
                base_version=base_id,
                max_train_examples=args.examples,
                batch_size=16,
                learning_rate=1e-2,
                lora_r=4,
                lora_alpha=8,
                augment_rate=0.0,
                dp=DPMode.NONE if target is None else DPMode.SERVER_FIXED,
                dp_noise_multiplier=sigma if target is not None else 1.0,
                dp_clipping_norm=args.clipping_norm,
                dp_delta=DELTA,
            )
            start = time.perf_counter()
            result = run_federated_simulation(config, args.nodes, work_dir=Path(tmp) / "work", timeout_s=3000)
            lineage = Registry(registry).load("intent", result.version_id).lineage
            ledger = lineage.details.get("privacy", {}).get("merchants", {})
            entry = {
                "target_epsilon": target,
                "noise_multiplier": sigma if target is not None else None,
                "epsilon_spent": max((m["epsilon"] for m in ledger.values()), default=None),
                "accuracy": result.metrics["accuracy"],
                "macro_f1": result.metrics["macro_f1"],
                "round_accuracy": result.round_accuracy(),
                "seconds": time.perf_counter() - start,
            }
            logger.info("%s", entry)
            report.append(entry)
    out = results / "federation_privacy.json"
    setting = {"rounds": args.rounds, "nodes": args.nodes, "examples_per_node": args.examples}
    setting |= {"clipping_norm": args.clipping_norm, "delta": DELTA, "model": "IntentModel.tiny", "dp": "server-fixed"}
    out.write_text(json.dumps({"setting": setting, "runs": report}, indent=2) + "\n", encoding="utf-8")
    for entry in report:
        label = "no DP" if entry["target_epsilon"] is None else f"epsilon {entry['target_epsilon']:g}"
        print(
            f"{label:12s} sigma={entry['noise_multiplier']} accuracy={entry['accuracy']:.4f} "
            f"macro_f1={entry['macro_f1']:.4f} spent={entry['epsilon_spent']}"
        )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
