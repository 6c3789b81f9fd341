"""The merchant side: a Flower ClientApp that fine-tunes LoRA adapters on the node's own data.

The server sends the adapter tensors (``arrays``) and the run settings (``config``, the run config with the
resolved base version, plus ``server-round``). The node replies with its new adapters, a MetricRecord with
``num-examples`` (FedAvg's weight) and a ConfigRecord naming its partition and data fingerprint. Any failure
is logged here and returned to the server as an error reply that names the node and the cause.

In a SecAgg+ run (``secure-aggregation``) Flower's ``secaggplus_mod`` wraps training: it answers the
protocol's key stages itself and, in the masking stage, replaces the trained adapters by their masked,
quantised form before the reply leaves the node; :func:`legacy_records_mod` translates the legacy records
that Flower's SecAgg+ workflow sends and expects.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import torch
from flwr.app import ArrayRecord, ConfigRecord, Context, Error, Message, MetricRecord, RecordDict
from flwr.app.message_type import MessageType
from flwr.client.mod import secaggplus_mod
from flwr.clientapp import ClientApp
from flwr.clientapp.mod import adaptiveclipping_mod, fixedclipping_mod
from flwr.clientapp.typing import ClientAppCallable
from flwr.common import Code, EvaluateRes, FitRes, Scalar, Status, ndarrays_to_parameters, parameters_to_ndarrays
from flwr.common.constant import ErrorCode
from flwr.common.secure_aggregation.secaggplus_constants import RECORD_KEY_CONFIGS
from flwr.compat.common.recorddict_compat import (
    arrayrecord_to_parameters,
    evaluateres_to_recorddict,
    fitres_to_recorddict,
)

from ensemble.merchants import merchant_name_problem
from federation.config import DPMode, FederationConfig, parse_run_config
from federation.dp import BUDGET_KEY
from federation.errors import NodeTaskError
from federation.secure_aggregation import ADAPTER_NAMES_KEY
from federation.strategies import UNIT_WEIGHT
from federation.task import MERCHANT_KEY, NodeData, load_node_data, local_evaluate, local_train, personal_adapter

__all__ = ["MERCHANT_KEY", "NODE_OVERRIDABLE_KEYS", "OWN_FILE", "app", "merchant_of"]

logger = logging.getLogger(__name__)

# Settings a SuperNode may set for itself with --node-config (where its registry copy and its data live).
NODE_OVERRIDABLE_KEYS = ("registry-dir", "data-path")

_ROUND_KEY = "server-round"
# What Flower's client-side DP wrappers add to the config they send (flwr.supercore.differential_privacy).
_CLIPPING_NORM_KEY = "clipping_norm"
# The data source a node reports when it trained on its own file rather than a partition of the shared data.
OWN_FILE = "own-file"

app = ClientApp()


def _settings(message: Message, context: Context) -> tuple[FederationConfig, str, int]:
    """The run config the server sent (node-local paths overriding), the base version id and the round.

    Flower's FedProx adds ``proximal-mu`` to what it sends; it is a key of the run config as well.
    """
    sent: dict[str, Any] = dict(message.content.config_records["config"])
    server_round = int(sent.pop(_ROUND_KEY, 0))
    sent.pop(_CLIPPING_NORM_KEY, None)
    base_id = str(sent.get("base-version", ""))
    if not base_id:
        raise NodeTaskError("the server sent no base-version; the ServerApp must resolve it before round 1")
    for key in NODE_OVERRIDABLE_KEYS:
        if key in context.node_config:
            sent[key] = context.node_config[key]
    return parse_run_config(sent), base_id, server_round


def _own_data(context: Context) -> bool:
    """Whether this SuperNode trains on its own file, whole: a ``data-path`` and no ``partition-id`` in its node
    config. With a ``partition-id`` it takes that partition of the file (or of the run's data)."""
    return "partition-id" not in context.node_config and bool(context.node_config.get("data-path", ""))


def _partition(context: Context) -> tuple[int, int]:
    if _own_data(context):
        return int(context.node_config.get("partition-id", 0)), 1
    try:
        return int(context.node_config["partition-id"]), int(context.node_config["num-partitions"])
    except (KeyError, TypeError, ValueError) as err:
        raise NodeTaskError(
            f"node config {dict(context.node_config)!r} lacks integer partition-id / num-partitions; "
            'start the SuperNode with --node-config "partition-id=0 num-partitions=3"'
        ) from err


def _node_record(
    config: FederationConfig, partition_id: int, data: NodeData, own: bool, merchant: str | None = None
) -> ConfigRecord:
    """What a reply says of the node: its partition, its data's fingerprint and source (and its merchant)."""
    record = ConfigRecord(
        {
            "partition-id": partition_id,
            "data-fingerprint": data.fingerprint,
            "data-source": OWN_FILE if own else config.partitioning.value,
        }
    )
    if merchant is not None:
        record[MERCHANT_KEY] = merchant
    return record


def _error_reply(message: Message, context: Context, action: str, err: Exception) -> Message:
    reason = f"node {context.node_id} could not {action}: {type(err).__name__}: {err}"
    return Message(Error(code=ErrorCode.CLIENT_APP_RAISED_EXCEPTION, reason=reason), reply_to=message)


def dp_clipping_mod(message: Message, context: Context, call_next: ClientAppCallable) -> Message:
    """Flower's clipping mod for the run's client-side DP mode (``dp`` in the sent config); others pass."""
    mode = message.content.config_records["config"].get("dp", DPMode.NONE.value)
    if mode == DPMode.CLIENT_FIXED.value:
        return fixedclipping_mod(message, context, call_next)
    if mode == DPMode.CLIENT_ADAPTIVE.value:
        return adaptiveclipping_mod(message, context, call_next)
    return call_next(message, context)


def secure_aggregation_mod(message: Message, context: Context, call_next: ClientAppCallable) -> Message:
    """Flower's ``secaggplus_mod`` for the messages of a SecAgg+ round (they carry its config record); the
    messages of an ordinary round pass untouched."""
    if RECORD_KEY_CONFIGS in message.content.config_records:
        return secaggplus_mod(message, context, call_next)
    return call_next(message, context)


def _legacy_prefix(message: Message) -> str:
    return "fitins" if message.metadata.message_type == MessageType.TRAIN else "evaluateins"


def legacy_records_mod(message: Message, context: Context, call_next: ClientAppCallable) -> Message:
    """Translate the legacy records of Flower's ``DefaultWorkflow`` (SecAgg+ runs) to and from the records the
    handlers use: an ordered tensor list with the names in the config, ``FitRes`` / ``EvaluateRes`` replies.
    Messages in the Message-API layout pass untouched."""
    prefix = _legacy_prefix(message)
    if f"{prefix}.parameters" not in message.content.array_records:
        return call_next(message, context)
    config: dict[str, Any] = dict(message.content.config_records[f"{prefix}.config"])
    names = [name for name in str(config.pop(ADAPTER_NAMES_KEY, "")).split(",") if name]
    arrays = parameters_to_ndarrays(
        arrayrecord_to_parameters(message.content.array_records[f"{prefix}.parameters"], keep_input=True)
    )
    if len(names) != len(arrays):
        raise NodeTaskError(
            f"the server sent {len(arrays)} tensors but {len(names)} names in {ADAPTER_NAMES_KEY!r}; the ServerApp "
            "and this ClientApp must be the same version"
        )
    state = {name: torch.from_numpy(array.copy()) for name, array in zip(names, arrays, strict=True)}
    message.content = RecordDict({"arrays": ArrayRecord(state), "config": ConfigRecord(config)})
    out = call_next(message, context)
    if out.has_error():
        raise NodeTaskError(out.error.reason)
    metrics: dict[str, Scalar] = {
        key: value
        for key, value in next(iter(out.content.metric_records.values())).items()
        if isinstance(value, int | float)
    }
    examples = int(metrics["num-examples"])
    ok = Status(code=Code.OK, message="")
    if prefix == "evaluateins":
        # Legacy EvaluateRes must carry a loss; the misclassification rate stands in for it.
        loss = 1.0 - float(metrics["accuracy"])
        res = EvaluateRes(status=ok, loss=loss, num_examples=examples, metrics=metrics)
        return Message(evaluateres_to_recorddict(res), reply_to=message)
    trained = out.content.array_records["arrays"].to_torch_state_dict()
    parameters = ndarrays_to_parameters([trained[name].numpy() for name in names])
    node: dict[str, Scalar] = {
        key: value
        for key, value in out.content.config_records["node"].items()
        if isinstance(value, int | float | str | bytes)
    }
    fit = FitRes(status=ok, parameters=parameters, num_examples=examples, metrics={**metrics, **node})
    return Message(fitres_to_recorddict(fit, keep_input=False), reply_to=message)


@app.train(mods=[secure_aggregation_mod, legacy_records_mod, dp_clipping_mod])
def train(message: Message, context: Context) -> Message:
    """Fine-tune the received adapters on this node's training partition."""
    try:
        config, base_id, server_round = _settings(message, context)
        partition_id, num_partitions = _partition(context)
        own = _own_data(context)
        data = load_node_data(config, partition_id, num_partitions, own_data=own)
        adapters_in = message.content.array_records["arrays"].to_torch_state_dict()
        adapters, report = local_train(
            config, base_id, adapters_in, data, server_round=server_round, partition_id=partition_id
        )
        content = RecordDict(
            {
                "arrays": ArrayRecord(adapters),
                "metrics": MetricRecord(
                    {
                        "train-loss": report.final_loss,
                        "num-examples": report.examples,
                        "steps": report.steps,
                        UNIT_WEIGHT: 1,
                    }
                ),
                "node": _node_record(config, partition_id, data, own),
            }
        )
        return Message(content=content, reply_to=message)
    except Exception as err:  # the Flower message boundary: the server must see why this node failed
        logger.exception("node %s failed to train", context.node_id)
        return _error_reply(message, context, "train", err)


def merchant_of(node_config: Mapping[str, Any], partition_id: int) -> str:
    """The merchant a node trains for: ``merchant`` in its node config, else ``merchant-<partition id>``."""
    merchant = node_config.get(MERCHANT_KEY, f"merchant-{partition_id}")
    problem = merchant_name_problem(merchant)
    if problem is not None:
        raise NodeTaskError(f"node config {MERCHANT_KEY}: {problem}")
    return str(merchant)


@app.train("personalise")
def personalise(message: Message, context: Context) -> Message:
    """Train this merchant's own adapter over the published aggregate the server sends (``arrays``), on this
    node's data; reply with its tensors, its metrics and the merchant it is for."""
    try:
        config, base_id, _ = _settings(message, context)
        partition_id, num_partitions = _partition(context)
        own = _own_data(context)
        merchant = merchant_of(context.node_config, partition_id)
        data = load_node_data(config, partition_id, num_partitions, own_data=own)
        aggregate = message.content.array_records["arrays"].to_torch_state_dict()
        tensors, metrics, _ = personal_adapter(config, base_id, aggregate, data, partition_id=partition_id)
        values: dict[str, int | float | list[int] | list[float]] = dict(metrics)
        content = RecordDict(
            {
                "arrays": ArrayRecord(tensors),
                "metrics": MetricRecord(values),
                "node": _node_record(config, partition_id, data, own, merchant),
            }
        )
        return Message(content=content, reply_to=message)
    except Exception as err:  # the Flower message boundary: the server must see why this node failed
        logger.exception("node %s failed to train its personal adapter", context.node_id)
        return _error_reply(message, context, "train its personal adapter", err)


@app.evaluate(mods=[legacy_records_mod])
def evaluate(message: Message, context: Context) -> Message:
    """Evaluate the received (aggregated) adapters on this node's validation share."""
    try:
        config, base_id, _ = _settings(message, context)
        partition_id, num_partitions = _partition(context)
        data = load_node_data(config, partition_id, num_partitions, own_data=_own_data(context))
        metrics = local_evaluate(config, base_id, message.content.array_records["arrays"].to_torch_state_dict(), data)
        record = MetricRecord(
            {
                "accuracy": metrics["accuracy"],
                "macro-f1": metrics["macro_f1"],
                "num-examples": int(metrics["examples"]),
                UNIT_WEIGHT: 1,
            }
        )
        return Message(content=RecordDict({"metrics": record}), reply_to=message)
    except Exception as err:  # the Flower message boundary: the server must see why this node failed
        logger.exception("node %s failed to evaluate", context.node_id)
        return _error_reply(message, context, "evaluate", err)


@app.query()
def query(message: Message, context: Context) -> Message:
    """Report this merchant's privacy budget: ``dp-max-epsilon`` from its node config, else the run's default."""
    try:
        default = message.content.config_records["config"].get(BUDGET_KEY, 0.0)
        raw = context.node_config.get(BUDGET_KEY, default)
        try:
            budget = float(raw) if isinstance(raw, int | float | str) else float("nan")
        except ValueError as err:
            raise NodeTaskError(
                f"node config {BUDGET_KEY}={raw!r} is not a number; start the SuperNode with e.g. "
                f'--node-config "{BUDGET_KEY}=4.0" (0 = no budget)'
            ) from err
        if not budget >= 0:
            raise NodeTaskError(f"node config {BUDGET_KEY}={raw!r} is not a non-negative epsilon; use e.g. 4.0, or 0")
        return Message(RecordDict({"privacy": ConfigRecord({BUDGET_KEY: budget})}), reply_to=message)
    except Exception as err:  # the Flower message boundary: the server must see why this node failed
        logger.exception("node %s failed to report its privacy budget", context.node_id)
        return _error_reply(message, context, "report its privacy budget", err)
