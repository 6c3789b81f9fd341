"""FedAvg that keeps a per-round record of who took part, what each node reported and who failed."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from flwr.app import ArrayRecord, Message, MetricRecord
from flwr.serverapp.strategy import FedAvg

from federation.errors import RoundFailedError

__all__ = ["RoundRecord", "TrackedFedAvg"]

logger = logging.getLogger(__name__)


@dataclass
class RoundRecord:
    """What happened in one server round (node ids are Flower's node ids)."""

    round: int
    train: dict[int, dict[str, float]] = field(default_factory=dict)
    evaluate: dict[int, dict[str, float]] = field(default_factory=dict)
    partitions: dict[int, int] = field(default_factory=dict)
    data_fingerprints: dict[int, str] = field(default_factory=dict)
    failures: dict[int, str] = field(default_factory=dict)
    train_aggregate: dict[str, float] = field(default_factory=dict)
    evaluate_aggregate: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (node ids become strings, as JSON object keys must be)."""
        return {
            "round": self.round,
            "participants": sorted(self.train),
            "train": {str(k): v for k, v in sorted(self.train.items())},
            "evaluate": {str(k): v for k, v in sorted(self.evaluate.items())},
            "partitions": {str(k): v for k, v in sorted(self.partitions.items())},
            "failures": {str(k): v for k, v in sorted(self.failures.items())},
            "train_aggregate": self.train_aggregate,
            "evaluate_aggregate": self.evaluate_aggregate,
        }


def _scalars(record: MetricRecord) -> dict[str, float]:
    return {key: float(value) for key, value in record.items() if isinstance(value, int | float)}


class TrackedFedAvg(FedAvg):
    """Flower's FedAvg (weighted by ``num-examples``) plus a :class:`RoundRecord` per round."""

    def __init__(self, fraction_train: float, fraction_evaluate: float, min_nodes: int) -> None:
        super().__init__(
            fraction_train=fraction_train,
            fraction_evaluate=fraction_evaluate,
            min_train_nodes=min_nodes,
            min_evaluate_nodes=min_nodes if fraction_evaluate > 0 else 0,
            min_available_nodes=min_nodes,
            weighted_by_key="num-examples",
        )
        self.rounds: dict[int, RoundRecord] = {}

    def _record(self, server_round: int) -> RoundRecord:
        return self.rounds.setdefault(server_round, RoundRecord(server_round))

    def aggregate_train(
        self, server_round: int, replies: Iterable[Message]
    ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        replies = list(replies)
        record = self._record(server_round)
        for reply in replies:
            node = reply.metadata.src_node_id
            if reply.has_error():
                record.failures[node] = str(reply.error.reason)
                logger.error("round %s: node %s failed to train: %s", server_round, node, reply.error.reason)
                continue
            record.train[node] = _scalars(next(iter(reply.content.metric_records.values())))
            node_info = reply.content.config_records.get("node")
            if node_info is not None:
                partition = node_info["partition-id"]
                if isinstance(partition, int):
                    record.partitions[node] = partition
                record.data_fingerprints[node] = str(node_info["data-fingerprint"])
        if not record.train:
            causes = "; ".join(record.failures.values()) or "no node replied before the timeout"
            raise RoundFailedError(
                f"round {server_round}: no node trained successfully ({len(replies)} replies): {causes}. "
                "Fix the failing nodes' data or configuration and start the run again."
            )
        arrays, metrics = super().aggregate_train(server_round, replies)
        if metrics is not None:
            record.train_aggregate = _scalars(metrics)
        logger.info("round %s: trained on %s node(s): %s", server_round, len(record.train), record.train_aggregate)
        return arrays, metrics

    def aggregate_evaluate(self, server_round: int, replies: Iterable[Message]) -> MetricRecord | None:
        replies = list(replies)
        record = self._record(server_round)
        for reply in replies:
            node = reply.metadata.src_node_id
            if reply.has_error():
                record.failures[node] = str(reply.error.reason)
                logger.error("round %s: node %s failed to evaluate: %s", server_round, node, reply.error.reason)
                continue
            record.evaluate[node] = _scalars(next(iter(reply.content.metric_records.values())))
        metrics = super().aggregate_evaluate(server_round, replies)
        if metrics is not None:
            record.evaluate_aggregate = _scalars(metrics)
        logger.info("round %s: evaluated: %s", server_round, record.evaluate_aggregate)
        return metrics
