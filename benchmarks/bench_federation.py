"""Bytes on the wire of a federated round with LoRA adapters on the packaged MiniLM, against a full fine-tune.

Each configuration runs one real Flower round (simulation engine, 2 merchants, a few examples each: the bytes do
not depend on how long nodes train) and reads what the server counted from the messages (see
``federation.traffic``). The full fine-tune is the same messages carrying the whole model instead of the adapters.

Run: ``.venv/bin/python benchmarks/bench_federation.py``. Writes benchmarks/results/federation_traffic.json.
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path
from typing import Any

from ensemble.members.intent import IntentModel
from ensemble.members.intent_artifact import save_intent
from ensemble.registry import Lineage, Registry
from federation import FederationConfig, run_federated_simulation
from federation.task import LABEL_COLUMN, load_splits

logger = logging.getLogger(__name__)

NODES = 2
# (LoRA rank, target modules): the default, smaller and larger ranks, and adapters on every linear module.
CONFIGURATIONS = ((8, "query,value"), (4, "query,value"), (16, "query,value"), (8, "query,key,value,dense"))


def _publish_base(registry: Path) -> str:
    """The packaged MiniLM with an untrained head over the Bitext intents (training does not change sizes)."""
    train, _ = load_splits("")
    model = IntentModel.from_pretrained(sorted(set(train[LABEL_COLUMN])))
    lineage = Lineage(parent=None, data_fingerprint="sha256:bench", method="central")
    return save_intent(Registry(registry), model, metrics={}, lineage=lineage).id


def main() -> None:
    logging.basicConfig(level=logging.INFO)
    results = Path(__file__).parent / "results"
    results.mkdir(exist_ok=True)
    report: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-federation-") as tmp:
        registry = Path(tmp) / "registry"
        _publish_base(registry)
        for rank, targets in CONFIGURATIONS:
            config = FederationConfig(
                num_server_rounds=1,
                registry_dir=str(registry),
                max_train_examples=8,
                batch_size=8,
                augment_rate=0.0,
                lora_r=rank,
                lora_alpha=2 * rank,
                lora_targets=targets,
            )
            result = run_federated_simulation(config, NODES, work_dir=Path(tmp) / "work", timeout_s=1200)
            traffic = result.traffic
            round_one = traffic["rounds"][0]
            entry = {
                "lora_r": rank,
                "lora_targets": targets,
                "nodes": NODES,
                "adapter_bytes": traffic["adapter_bytes"],
                "full_model_bytes": traffic["full_model_bytes"],
                "bytes_down_per_round": round_one["bytes_down"],
                "bytes_up_per_round": round_one["bytes_up"],
                "full_fine_tune_bytes_per_round": round_one["full_fine_tune_bytes"],
                "ratio": traffic["ratio"],
            }
            report.append(entry)
            logger.info(
                "r=%s on %s: %.1f KiB down + %.1f KiB up per round vs %.1f MiB for a full fine-tune (%.3f %%)",
                rank,
                targets,
                round_one["bytes_down"] / 1024,
                round_one["bytes_up"] / 1024,
                round_one["full_fine_tune_bytes"] / 2**20,
                100 * traffic["ratio"],
            )
    (results / "federation_traffic.json").write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
