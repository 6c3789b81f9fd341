"""A wrapper around any Flower strategy that keeps a per-round record of who took part, what each node reported
and who failed."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from flwr.app import ArrayRecord, ConfigRecord, Message, MetricRecord
from flwr.serverapp import Grid
from flwr.serverapp.strategy import Strategy

from federation.dp import PrivacyGuard
from federation.errors import RoundFailedError
from federation.traffic import RoundTraffic

__all__ = ["RoundRecord", "TrackedStrategy"]

logger = logging.getLogger(__name__)


@dataclass
class RoundRecord:
    """What happened in one server round (node ids are Flower's node ids)."""

    round: int
    train: dict[int, dict[str, float]] = field(default_factory=dict)
    evaluate: dict[int, dict[str, float]] = field(default_factory=dict)
    partitions: dict[int, int] = field(default_factory=dict)
    data_fingerprints: dict[int, str] = field(default_factory=dict)
    data_sources: dict[int, str] = field(default_factory=dict)  # a partitioning scheme, or "own-file"
    failures: dict[int, str] = field(default_factory=dict)
    train_aggregate: dict[str, float] = field(default_factory=dict)
    evaluate_aggregate: dict[str, float] = field(default_factory=dict)
    traffic: RoundTraffic = field(default_factory=RoundTraffic)
    excluded: dict[int, str] = field(default_factory=dict)  # nodes left out of training, with the reason
    skipped: str = ""  # why no node trained this round ("" = it trained)
    epsilon: dict[int, float] = field(default_factory=dict)  # DP runs: each eligible merchant's epsilon after it

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (node ids become strings, as JSON object keys must be)."""
        return {
            "round": self.round,
            "participants": sorted(self.train),
            "train": {str(k): v for k, v in sorted(self.train.items())},
            "evaluate": {str(k): v for k, v in sorted(self.evaluate.items())},
            "partitions": {str(k): v for k, v in sorted(self.partitions.items())},
            "data_sources": {str(k): v for k, v in sorted(self.data_sources.items())},
            "failures": {str(k): v for k, v in sorted(self.failures.items())},
            "train_aggregate": self.train_aggregate,
            "evaluate_aggregate": self.evaluate_aggregate,
            "traffic": self.traffic.to_dict(),
            "excluded": {str(k): v for k, v in sorted(self.excluded.items())},
            "skipped": self.skipped,
            "epsilon": {str(k): v for k, v in sorted(self.epsilon.items())},
        }


def _scalars(record: MetricRecord) -> dict[str, float]:
    return {key: float(value) for key, value in record.items() if isinstance(value, int | float)}


class TrackedStrategy(Strategy):
    """Any Flower strategy plus a :class:`RoundRecord` per round.

    Selection and aggregation are the wrapped strategy's own (``configure_*`` and ``aggregate_*`` delegate to
    it, so stateful ones such as FedAdam keep their state); this class only records each message on the way
    (replies' metrics, and the bytes of every message in both directions). With a :class:`PrivacyGuard`
    (``inner`` is then Flower's DP wrapper), merchants whose budget is spent are hidden from the sampling and
    every released round is charged to the ledger.
    """

    def __init__(
        self,
        inner: Strategy,
        privacy: PrivacyGuard | None = None,
        on_round: Callable[[RoundRecord], None] | None = None,
    ) -> None:
        self.inner = inner
        self.privacy = privacy
        self.on_round = on_round  # called with each round's record once the round has ended
        self.rounds: dict[int, RoundRecord] = {}

    @property
    def aggregator(self) -> Strategy:
        """The aggregation strategy itself (inside the DP wrapper when there is one)."""
        return self.privacy.wrapper.strategy if self.privacy is not None else self.inner

    def summary(self) -> None:
        logger.info("strategy: %s", type(self.inner).__name__)
        self.inner.summary()

    def configure_train(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        record = self._record(server_round)
        if self.privacy is not None:
            eligible, record.excluded = self.privacy.prepare_round(server_round, grid)
            if eligible is None:
                record.skipped = (
                    f"fewer than min-nodes merchants may take part; left out: {len(record.excluded)} (see excluded)"
                )
                logger.warning("round %s: no training: %s", server_round, record.skipped)
                return []
            grid = eligible
        messages = list(self.inner.configure_train(server_round, arrays, config, grid))
        record.traffic.direction("train", "down").add(messages)
        return messages

    def configure_evaluate(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        messages = list(self.inner.configure_evaluate(server_round, arrays, config, grid))
        self._record(server_round).traffic.direction("evaluate", "down").add(messages)
        return messages

    def _record(self, server_round: int) -> RoundRecord:
        return self.rounds.setdefault(server_round, RoundRecord(server_round))

    def aggregate_train(
        self, server_round: int, replies: Iterable[Message]
    ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        replies = list(replies)
        record = self._record(server_round)
        if record.skipped:
            return None, None
        record.traffic.direction("train", "up").add(replies)
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
                if "data-source" in node_info:
                    record.data_sources[node] = str(node_info["data-source"])
        if not record.train:
            causes = "; ".join(record.failures.values()) or "no node replied before the timeout"
            raise RoundFailedError(
                f"round {server_round}: no node trained successfully ({len(replies)} replies): {causes}. "
                "Fix the failing nodes' data or configuration and start the run again."
            )
        arrays, metrics = self.inner.aggregate_train(server_round, replies)
        if metrics is not None:
            record.train_aggregate = _scalars(metrics)
        if self.privacy is not None:
            record.epsilon = self.privacy.after_train(server_round, sorted(record.train), released=arrays is not None)
        logger.info("round %s: trained on %s node(s): %s", server_round, len(record.train), record.train_aggregate)
        return arrays, metrics

    def aggregate_evaluate(self, server_round: int, replies: Iterable[Message]) -> MetricRecord | None:
        replies = list(replies)
        record = self._record(server_round)
        record.traffic.direction("evaluate", "up").add(replies)
        for reply in replies:
            node = reply.metadata.src_node_id
            if reply.has_error():
                record.failures[node] = str(reply.error.reason)
                logger.error("round %s: node %s failed to evaluate: %s", server_round, node, reply.error.reason)
                continue
            record.evaluate[node] = _scalars(next(iter(reply.content.metric_records.values())))
        metrics = self.inner.aggregate_evaluate(server_round, replies)
        if metrics is not None:
            record.evaluate_aggregate = _scalars(metrics)
        logger.info("round %s: evaluated: %s", server_round, record.evaluate_aggregate)
        if self.on_round is not None:
            self.on_round(record)
        return metrics
