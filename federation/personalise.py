"""Personal adapters after the rounds: each merchant's own adapter over the published aggregate.

With ``personalise-epochs`` > 0, once the aggregate is published as an intent version, the server sends it (the
aggregated adapter tensors) to every connected node in a ``train.personalise`` message. Each node merges it into
the base as the server did, trains a fresh LoRA and the head on its own rows (:func:`federation.task.personal_adapter`)
and replies with the adapter's tensors and the merchant it trains for (node config ``merchant``, else
``merchant-<partition id>``). The server publishes each as an ``intent-adapter`` version of that merchant with the
aggregate as its base and lineage parent (:func:`ensemble.members.intent_adapter.publish_adapter_tensors`); the
cluster serves it to that merchant once assigned (``shopmesh tenants adapter``).

A personal adapter reaches the server in the clear: the run config refuses personalisation with secure
aggregation or differential privacy, whose promises it would break.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from flwr.app import ArrayRecord, ConfigRecord, Message, RecordDict
from flwr.serverapp import Grid

from ensemble.errors import ShopmeshError
from ensemble.members.intent_adapter import publish_adapter_tensors
from ensemble.registry import Lineage, Registry
from federation.config import FederationConfig
from federation.task import MERCHANT_KEY

__all__ = ["PERSONALISE", "Personalised", "personalise_nodes"]

logger = logging.getLogger(__name__)

PERSONALISE = "train.personalise"


@dataclass(frozen=True)
class Personalised:
    """The personal adapters published (merchant -> adapter version id) and why a node has none."""

    adapters: dict[str, str] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)


def _labels(registry: Registry, version_id: str) -> list[str]:
    config = json.loads((registry.resolve("intent", version_id).path / "config.json").read_text(encoding="utf-8"))
    return [str(label) for label in config["labels"]]


def personalise_nodes(
    grid: Grid,
    config: FederationConfig,
    base_id: str,
    aggregate_id: str,
    aggregate: ArrayRecord,
    node_config: ConfigRecord,
    timeout_s: float,
) -> Personalised:
    """Ask every connected node for its personal adapter over ``aggregate`` (published as ``aggregate_id``) and
    publish each; a node that fails, or names a merchant another node named already, is listed in ``failures``."""
    registry = Registry(config.registry_dir)
    labels = _labels(registry, aggregate_id)
    nodes = sorted(grid.get_node_ids())
    messages = [
        Message(RecordDict({"arrays": aggregate, "config": node_config}), dst_node_id=node, message_type=PERSONALISE)
        for node in nodes
    ]
    result = Personalised()
    for reply in grid.send_and_receive(messages, timeout=timeout_s):
        node = reply.metadata.src_node_id
        if reply.has_error():
            result.failures.append(f"node {node}: {reply.error.reason}")
            continue
        record = reply.content.config_records["node"]
        merchant = str(record[MERCHANT_KEY])
        if merchant in result.adapters:
            result.failures.append(f"node {node}: merchant {merchant!r} was named by another node already")
            continue
        metrics: dict[str, Any] = {k: float(v) for k, v in reply.content.metric_records["metrics"].items()}  # type: ignore[arg-type]
        lineage = Lineage(
            parent=aggregate_id,
            data_fingerprint=str(record["data-fingerprint"]),
            method="federated",
            details={
                "personalised": True,
                "run_base": base_id,
                "node": node,
                "partition_id": int(record["partition-id"]),  # type: ignore[arg-type]
                "data_source": str(record["data-source"]),
                "epochs": config.personalise_epochs,
                "learning_rate": config.learning_rate,
                "batch_size": config.batch_size,
                "seed": config.seed,
            },
        )
        try:
            version = publish_adapter_tensors(
                registry,
                reply.content.array_records["arrays"].to_torch_state_dict(),
                merchant=merchant,
                base=aggregate_id,
                labels=labels,
                lora=(config.lora_r, config.lora_alpha, config.lora_target_modules()),
                metrics=metrics,
                lineage=lineage,
            )
        except ShopmeshError as err:
            result.failures.append(f"node {node}: its adapter for {merchant!r} was not published ({err})")
            continue
        result.adapters[merchant] = version.id
        result.metrics[merchant] = metrics
        logger.info("published %s, the personal adapter of %s (node %s)", version.id, merchant, node)
    answered = len(result.adapters) + len(result.failures)
    if answered < len(nodes):
        result.failures.append(f"{len(nodes) - answered} node(s) did not answer within {timeout_s:.0f} s")
    return result
