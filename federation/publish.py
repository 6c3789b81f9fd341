"""Turning the final aggregated adapters into a registry version of the intent member, with lineage."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from ensemble.augmentation import CALIBRATION_SEED, styled_copy
from ensemble.members.intent_artifact import publishable, save_intent
from ensemble.members.lora import load_adapter_state
from ensemble.registry import Lineage, ModelVersion, Registry
from ensemble.training import evaluate, fit_temperature
from federation.config import FederationConfig, PartitionScheme
from federation.rounds import RoundRecord
from federation.strategies import strategy_parameters, weighted_by
from federation.task import LABEL_COLUMN, TEXT_COLUMN, build_model, load_splits

__all__ = ["combined_fingerprint", "contributed_examples", "partitioning_details", "publish_aggregate"]

logger = logging.getLogger(__name__)


def combined_fingerprint(fingerprints: Sequence[str]) -> str:
    """One ``"sha256:..."`` naming the union of the nodes' data (order-independent)."""
    digest = hashlib.sha256("\n".join(sorted(set(fingerprints))).encode())
    return f"sha256:{digest.hexdigest()}"


def contributed_examples(rounds: Sequence[RoundRecord]) -> dict[int, int]:
    """Training examples per node id (the latest round each node trained in)."""
    examples: dict[int, int] = {}
    for record in rounds:
        for node, metrics in record.train.items():
            examples[node] = int(metrics.get("num-examples", 0))
    return examples


def partitioning_details(config: FederationConfig, rounds: Sequence[RoundRecord]) -> dict[str, Any]:
    """How the nodes' data was formed: the scheme and its parameter, and each node's source per its reply."""
    details: dict[str, Any] = {"scheme": config.partitioning.value}
    if config.partitioning == PartitionScheme.DIRICHLET:
        details["alpha"] = config.dirichlet_alpha
    if config.partitioning == PartitionScheme.NATURAL:
        details["natural_id_column"] = config.natural_id_column
    sources = {str(node): source for record in rounds for node, source in sorted(record.data_sources.items())}
    details["node_data_sources"] = sources
    return details


def publish_aggregate(
    config: FederationConfig,
    base_id: str,
    adapters: Mapping[str, torch.Tensor],
    rounds: Sequence[RoundRecord],
    flower_class: str,
    traffic: Mapping[str, Any],
    privacy: Mapping[str, Any] | None = None,
    *,
    secure_aggregation: Mapping[str, Any] | None = None,
) -> tuple[ModelVersion, dict[str, float]]:
    """Apply ``adapters`` to the base version, merge, refit the temperature on the validation split and its
    style-rewritten copy (the head changed, so the base version's temperature no longer fits), evaluate on the
    validation split and publish; the lineage keeps the run's ``traffic`` (bytes per round, ratio to a full
    fine-tune), for a DP run the per-merchant epsilon ledger as ``details["privacy"]``, and for a SecAgg+ run the
    protocol's parameters as ``details["secure_aggregation"]``."""
    model = build_model(config, base_id)
    load_adapter_state(model, adapters)
    model = publishable(model)
    _, val = load_splits(config.data_path)
    texts, labels = val[TEXT_COLUMN].tolist(), val[LABEL_COLUMN].tolist()
    temperature = fit_temperature(model, texts + styled_copy(texts, seed=CALIBRATION_SEED), labels + labels)
    metrics = evaluate(model, texts, labels) | {"temperature": temperature}
    examples = contributed_examples(rounds)
    fingerprints = [fp for record in rounds for fp in record.data_fingerprints.values()]
    details: dict[str, Any] = {
        "strategy": {
            "name": config.strategy.value,
            "flower_class": flower_class,
            "parameters": strategy_parameters(config),
        },
        "weighted_by": weighted_by(config),
        "partitioning": partitioning_details(config, rounds),
        "rounds": len(rounds),
        "participants": sorted(examples),
        "num_examples": sum(examples.values()),
        "examples_per_node": {str(node): n for node, n in sorted(examples.items())},
        "round_metrics": [record.to_dict() for record in rounds],
        "lora": {"r": config.lora_r, "alpha": config.lora_alpha, "targets": list(config.lora_target_modules())},
        "local_training": {
            "epochs": config.local_epochs,
            "learning_rate": config.learning_rate,
            "batch_size": config.batch_size,
            "seed": config.seed,
            "augment_rate": config.augment_rate,
        },
        "fraction_train": config.fraction_train,
        "traffic": dict(traffic),
    }
    if privacy is not None:
        details["privacy"] = dict(privacy)
    if secure_aggregation is not None:
        details["secure_aggregation"] = dict(secure_aggregation)
    lineage = Lineage(
        parent=base_id,
        data_fingerprint=combined_fingerprint(fingerprints),
        method="federated",
        details=details,
    )
    version = save_intent(Registry(config.registry_dir), model, metrics=metrics, lineage=lineage)
    logger.info("published the federated aggregate as %s (validation %s)", version.id, metrics)
    return version, metrics
