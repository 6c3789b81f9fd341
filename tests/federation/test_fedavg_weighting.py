from __future__ import annotations

import numpy as np
import pytest
from flwr.app import Array, ArrayRecord, ConfigRecord, Error, Message, MetricRecord, RecordDict
from flwr.supercore.task_identity import TaskIdentity

from federation import FederationConfig, RoundFailedError
from federation.strategies import build_strategy


@pytest.fixture(autouse=True)
def task_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    """Building a Message outside a Flower runtime needs the identity a runtime would set."""
    monkeypatch.setattr(TaskIdentity, "_task_id", 1)
    monkeypatch.setattr(TaskIdentity, "_run_id", 1)
    monkeypatch.setattr(TaskIdentity, "_node_id", 1)


def _reply(node_id: int, value: float, examples: int) -> Message:
    instruction = Message(RecordDict(), dst_node_id=node_id, message_type="train")
    content = RecordDict(
        {
            "arrays": ArrayRecord({"w": Array(np.full((2, 3), value, dtype=np.float32))}),
            "metrics": MetricRecord({"train-loss": value, "num-examples": examples}),
            "node": ConfigRecord({"partition-id": node_id - 10, "data-fingerprint": f"sha256:{node_id}"}),
        }
    )
    return Message(content, reply_to=instruction)


def _failure(node_id: int, reason: str) -> Message:
    instruction = Message(RecordDict(), dst_node_id=node_id, message_type="train")
    return Message(Error(code=2, reason=reason), reply_to=instruction)


def test_aggregate_is_the_example_weighted_mean_and_the_round_is_recorded() -> None:
    # Prepare
    strategy = build_strategy(FederationConfig(min_nodes=2))
    replies = [_reply(11, 1.0, 30), _reply(12, 5.0, 10), _failure(13, "node 13 could not train: boom")]

    # Execute
    arrays, metrics = strategy.aggregate_train(1, replies)

    # Assert: 30/40 * 1 + 10/40 * 5 = 2.0
    assert arrays is not None and metrics is not None
    np.testing.assert_allclose(arrays["w"].numpy(), np.full((2, 3), 2.0), atol=1e-6)
    assert metrics["train-loss"] == pytest.approx(2.0)
    record = strategy.rounds[1]
    assert sorted(record.train) == [11, 12]
    assert record.partitions == {11: 1, 12: 2}
    assert record.failures == {13: "node 13 could not train: boom"}


def test_a_round_where_every_node_failed_raises_with_the_nodes_reasons() -> None:
    # Prepare
    strategy = build_strategy(FederationConfig(min_nodes=2))

    # Execute / Assert
    with pytest.raises(RoundFailedError, match=r"round 3: no node trained successfully.*unknown label 'x'"):
        strategy.aggregate_train(3, [_failure(21, "unknown label 'x'"), _failure(22, "unknown label 'x'")])
