"""Rounds under Flower's SecAgg+ secure aggregation: the server learns only the weighted sum of the updates.

Flower 1.42 has SecAgg+ only on its legacy path: ``SecAggPlusWorkflow.__call__`` refuses any context but a
``LegacyContext`` (``flwr/server/workflow/secure_aggregation/secaggplus_workflow.py``, line 185) and drives a
legacy ``flwr.server.strategy.Strategy`` through ``configure_fit`` / ``aggregate_fit`` (lines 286 and 665); the
Message-API strategies of ``flwr.serverapp.strategy`` have neither. So a secure run uses Flower's
``DefaultWorkflow(fit_workflow=SecAggPlusWorkflow(...))`` with a legacy ``FedAvg`` (FedProx differs from FedAvg
only by the proximal term each node applies in local training, so it runs the same way), and every node wraps
its ClientApp in ``secaggplus_mod`` (:func:`federation.client_app.secure_aggregation_mod`).

What it protects: each node uploads ``[w, w x adapters]`` (``w = num-examples / max-weight``) quantised,
clipped to ``+-clipping-range`` and masked with pairwise and private masks; the server can remove the masks
only from the sum, so it never holds one merchant's adapters. What it does not protect: the weighted mean
itself (a merchant alone in a round, or the difference of two rounds' sums, reveals what it can); metrics
and the data fingerprint each node reports travel in the clear. It does not combine with robust aggregators
(they need the individual updates) nor with this project's DP modes (see :mod:`federation.config`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from flwr.app import Context, Message
from flwr.app.message_type import MessageType
from flwr.common import (
    EvaluateRes,
    FitIns,
    FitRes,
    Parameters,
    Scalar,
    ndarrays_to_parameters,
    parameters_to_ndarrays,
)
from flwr.compat.common.recorddict_compat import arrayrecord_to_parameters
from flwr.server import ServerConfig
from flwr.server.client_manager import ClientManager
from flwr.server.client_proxy import ClientProxy
from flwr.server.compat.legacy_context import LegacyContext
from flwr.server.strategy import FedAvg
from flwr.server.workflow import DefaultWorkflow, SecAggPlusWorkflow
from flwr.server.workflow.constant import MAIN_PARAMS_RECORD
from flwr.serverapp import Grid
from flwr.supercore.run import Run

from federation.config import SECAGG_MODULUS, FederationConfig
from federation.errors import RoundFailedError
from federation.publish import contributed_examples, publish_aggregate
from federation.rounds import RoundRecord
from federation.summary import FederatedResult
from federation.task import base_state, initial_adapters, resolve_base_version
from federation.tensorboard import RoundBoard
from federation.traffic import array_record_bytes, full_model_bytes, traffic_summary

__all__ = [
    "ADAPTER_NAMES_KEY",
    "SecureRounds",
    "aggregate_adapters",
    "run_secure_federation",
    "secure_aggregation_details",
]

logger = logging.getLogger(__name__)

# The legacy path sends tensors as an ordered list; the names travel in the fit/evaluate config under this key.
ADAPTER_NAMES_KEY = "adapter-names"
# The keys of a node's reply that describe it rather than measure it (see federation.client_app.train).
_NODE_KEYS = ("partition-id", "data-fingerprint", "data-source")
_ROUND_TIMEOUT_S = 3600.0


def secure_aggregation_details(config: FederationConfig) -> dict[str, Any]:
    """What the lineage records about a secure run: the protocol and its parameters."""
    return {
        "enabled": True,
        "protocol": "SecAgg+",
        "flower_workflow": f"{SecAggPlusWorkflow.__module__}.{SecAggPlusWorkflow.__name__}",
        "num_shares": config.num_shares,
        "reconstruction_threshold": config.reconstruction_threshold,
        "clipping_range": config.clipping_range,
        "quantization_range": config.quantization_range,
        "modulus_range": SECAGG_MODULUS,
        "max_weight": config.max_weight,
    }


def _weighted_mean(values: Iterable[tuple[float, int]]) -> float:
    pairs = list(values)
    total = sum(weight for _, weight in pairs)
    return sum(value * weight for value, weight in pairs) / total if total else float("nan")


@dataclass
class SecureRounds:
    """One :class:`RoundRecord` per round of a secure run, filled from the nodes' replies on the way."""

    rounds: dict[int, RoundRecord] = field(default_factory=dict)

    def record(self, server_round: int) -> RoundRecord:
        return self.rounds.setdefault(server_round, RoundRecord(server_round))

    def ordered(self) -> list[RoundRecord]:
        return [self.rounds[r] for r in sorted(self.rounds)]


class _CountingGrid(Grid):
    """The ServerApp's grid, measuring the bytes of every message both ways and noting every error reply.

    Each message names its round in ``group_id`` and its phase in its type, as Flower's workflows send them.
    """

    def __init__(self, inner: Grid, rounds: SecureRounds) -> None:
        self.inner = inner
        self.rounds = rounds

    def set_run(self, run: Run) -> None:
        self.inner.set_run(run)

    @property
    def run(self) -> Run:
        return self.inner.run

    def create_message(self, *args: Any, **kwargs: Any) -> Message:
        return self.inner.create_message(*args, **kwargs)

    def get_node_ids(self) -> Iterable[int]:
        return self.inner.get_node_ids()

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        return self.inner.push_messages(messages)

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        return self.inner.pull_messages(message_ids)

    def _add(self, messages: list[Message], way: str) -> None:
        for message in messages:
            try:
                server_round = int(message.metadata.group_id)
            except ValueError:
                continue  # the initial parameter request of Flower's DefaultWorkflow belongs to no round
            phase = "train" if message.metadata.message_type == MessageType.TRAIN else "evaluate"
            record = self.rounds.record(server_round)
            record.traffic.direction(phase, way).add([message])
            if way == "up" and message.has_error():
                node = message.metadata.src_node_id
                record.failures[node] = str(message.error.reason)
                logger.error("round %s: node %s failed (%s): %s", server_round, node, phase, message.error.reason)

    def send_and_receive(self, messages: Iterable[Message], *, timeout: float | None = None) -> Iterable[Message]:
        sent = list(messages)
        self._add(sent, "down")
        replies = list(self.inner.send_and_receive(sent, timeout=timeout))
        self._add(replies, "up")
        return replies


class _RecordedFedAvg(FedAvg):
    """Flower's legacy FedAvg, sending the run config to every node and recording each round's replies.

    Under SecAgg+ every ``FitRes`` handed to :meth:`aggregate_fit` already carries the unmasked mean (the
    workflow writes it into each of them), so FedAvg's average of them is that mean.
    """

    def __init__(
        self,
        config: FederationConfig,
        node_config: Mapping[str, Scalar],
        rounds: SecureRounds,
        board: RoundBoard | None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            on_fit_config_fn=self._round_config,
            on_evaluate_config_fn=self._round_config,
            accept_failures=True,
            **kwargs,
        )
        self.node_config = dict(node_config)
        self.secure_rounds = rounds
        self.board = board
        self.settings = config

    def _round_config(self, server_round: int) -> dict[str, Scalar]:
        return {**self.node_config, "server-round": server_round}

    def configure_fit(
        self, server_round: int, parameters: Parameters, client_manager: ClientManager
    ) -> list[tuple[ClientProxy, FitIns]]:
        self.secure_rounds.record(server_round)
        return super().configure_fit(server_round, parameters, client_manager)

    def aggregate_fit(
        self,
        server_round: int,
        results: list[tuple[ClientProxy, FitRes]],
        failures: list[tuple[ClientProxy, FitRes] | BaseException],
    ) -> tuple[Parameters | None, dict[str, Scalar]]:
        record = self.secure_rounds.record(server_round)
        for proxy, fit in results:
            metrics = dict(fit.metrics)
            record.train[proxy.node_id] = {
                key: float(value)
                for key, value in metrics.items()
                if isinstance(value, int | float) and key not in _NODE_KEYS
            }
            if isinstance(metrics.get("partition-id"), int):
                record.partitions[proxy.node_id] = int(metrics["partition-id"])
            record.data_fingerprints[proxy.node_id] = str(metrics.get("data-fingerprint", ""))
            if "data-source" in metrics:
                record.data_sources[proxy.node_id] = str(metrics["data-source"])
        if not results:
            causes = "; ".join(record.failures.values()) or "no node replied before the timeout"
            raise RoundFailedError(
                f"round {server_round}: secure aggregation ended without a sum ({len(failures)} failure(s)): {causes}. "
                "Fix the failing nodes, or lower reconstruction-threshold to tolerate more dropouts, and run again."
            )
        losses = [
            (record.train[proxy.node_id].get("train-loss", float("nan")), fit.num_examples) for proxy, fit in results
        ]
        record.train_aggregate = {"train-loss": _weighted_mean(losses)}
        logger.info("round %s: securely aggregated %s node(s)", server_round, len(results))
        return super().aggregate_fit(server_round, results, failures)

    def aggregate_evaluate(
        self,
        server_round: int,
        results: list[tuple[ClientProxy, EvaluateRes]],
        failures: list[tuple[ClientProxy, EvaluateRes] | BaseException],
    ) -> tuple[float | None, dict[str, Scalar]]:
        record = self.secure_rounds.record(server_round)
        for proxy, res in results:
            record.evaluate[proxy.node_id] = {
                key: float(value) for key, value in res.metrics.items() if isinstance(value, int | float)
            }
        if results:
            record.evaluate_aggregate = {
                key: _weighted_mean((float(res.metrics[key]), res.num_examples) for _, res in results)
                for key in ("accuracy", "macro-f1")
                if all(key in res.metrics for _, res in results)
            }
        logger.info("round %s: evaluated: %s", server_round, record.evaluate_aggregate)
        if self.board is not None:
            self.board(record)
        loss, _ = super().aggregate_evaluate(server_round, results, failures)
        return loss, dict(record.evaluate_aggregate)


def aggregate_adapters(context: Context, names: list[str], like: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The adapters Flower's workflow left in ``context`` after the last round, named as ``names`` and typed as
    ``like`` (SecAgg+ dequantises to float64)."""
    if MAIN_PARAMS_RECORD not in context.state.array_records:
        raise RoundFailedError("the secure rounds left no parameters in the server's state; check the nodes' logs")
    arrays = parameters_to_ndarrays(arrayrecord_to_parameters(context.state.array_records[MAIN_PARAMS_RECORD], True))
    if len(arrays) != len(names):
        raise RoundFailedError(f"the secure aggregate has {len(arrays)} tensors, the adapters {len(names)}")
    return {
        name: torch.from_numpy(np.asarray(array, dtype=np.float64)).to(like[name].dtype).reshape(like[name].shape)
        for name, array in zip(names, arrays, strict=True)
    }


def run_secure_federation(grid: Grid, context: Context, config: FederationConfig) -> FederatedResult:
    """Run ``config.num_server_rounds`` rounds of SecAgg+ on ``grid`` and publish the aggregate.

    Raises :class:`RoundFailedError` if a round ends without a sum.
    """
    start = time.perf_counter()
    base_id = resolve_base_version(config)
    logger.info("secure federated fine-tuning of %s: %s rounds of SecAgg+", base_id, config.num_server_rounds)
    initial = initial_adapters(config, base_id)
    names = list(initial)
    node_config: dict[str, Scalar] = {
        **config.to_run_config(),
        "base-version": base_id,
        ADAPTER_NAMES_KEY: ",".join(names),
    }
    rounds = SecureRounds()
    board = RoundBoard(Path(config.tensorboard_dir)) if config.tensorboard_dir else None
    strategy = _RecordedFedAvg(
        config,
        node_config,
        rounds,
        board,
        fraction_fit=config.fraction_train,
        fraction_evaluate=config.fraction_evaluate,
        min_fit_clients=config.min_nodes,
        min_evaluate_clients=config.min_nodes if config.fraction_evaluate > 0 else 0,
        min_available_clients=config.min_nodes,
        initial_parameters=ndarrays_to_parameters([tensor.numpy() for tensor in initial.values()]),
    )
    workflow = DefaultWorkflow(
        fit_workflow=SecAggPlusWorkflow(
            num_shares=config.num_shares,
            reconstruction_threshold=config.reconstruction_threshold,
            max_weight=config.max_weight,
            clipping_range=config.clipping_range,
            quantization_range=config.quantization_range,
            modulus_range=SECAGG_MODULUS,
            timeout=_ROUND_TIMEOUT_S,
        )
    )
    legacy = LegacyContext(context, config=ServerConfig(num_rounds=config.num_server_rounds), strategy=strategy)
    try:
        workflow(_CountingGrid(grid, rounds), legacy)
    finally:
        if board is not None:
            board.close()
    records = rounds.ordered()
    trained = [record for record in records if record.train]
    if len(trained) < config.num_server_rounds:
        causes = "; ".join(cause for record in records for cause in record.failures.values())
        raise RoundFailedError(
            f"secure aggregation completed {len(trained)} of {config.num_server_rounds} round(s)"
            + (f": {causes}" if causes else " (Flower's log says which stage halted)")
            + "; check that every node runs secaggplus_mod and that enough nodes stay connected"
        )
    adapters = aggregate_adapters(legacy, names, initial)
    traffic = traffic_summary(
        [record.traffic for record in records],
        full_model_bytes(base_state(config, base_id)),
        array_record_bytes(initial),
    )
    version, metrics = publish_aggregate(
        config,
        base_id,
        adapters,
        records,
        f"{FedAvg.__module__}.{FedAvg.__name__}",
        traffic,
        None,
        secure_aggregation=secure_aggregation_details(config),
    )
    examples = contributed_examples(records)
    return FederatedResult(
        status="published",
        version_id=version.id,
        base_version_id=base_id,
        rounds=[record.to_dict() for record in records],
        participants=sorted(examples),
        num_examples=sum(examples.values()),
        metrics=metrics,
        traffic=traffic,
        wall_seconds=time.perf_counter() - start,
    )
