"""The strategy named in the run config is Flower's own class, aggregates as that method defines, and FedProx's
proximal term reaches local training."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from flwr.app import Array, ArrayRecord, ConfigRecord, Message, MetricRecord, RecordDict
from flwr.serverapp import strategy as flower
from flwr.supercore.task_identity import TaskIdentity

from federation import FederationConfig
from federation.config import StrategyName
from federation.strategies import build_strategy, strategy_parameters
from federation.task import initial_adapters, load_node_data, local_train, proximal_term


@pytest.fixture(autouse=True)
def task_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    """Building a Message outside a Flower runtime needs the identity a runtime would set."""
    monkeypatch.setattr(TaskIdentity, "_task_id", 1)
    monkeypatch.setattr(TaskIdentity, "_run_id", 1)
    monkeypatch.setattr(TaskIdentity, "_node_id", 1)


def _reply(node_id: int, values: list[float], examples: int = 10) -> Message:
    instruction = Message(RecordDict(), dst_node_id=node_id, message_type="train")
    content = RecordDict(
        {
            "arrays": ArrayRecord({"w": Array(np.asarray(values, dtype=np.float32))}),
            "metrics": MetricRecord({"train-loss": 1.0, "num-examples": examples}),
        }
    )
    return Message(content, reply_to=instruction)


@pytest.mark.parametrize(
    ("name", "flower_class"),
    [
        (StrategyName.FEDAVG, flower.FedAvg),
        (StrategyName.FEDPROX, flower.FedProx),
        (StrategyName.FEDADAM, flower.FedAdam),
        (StrategyName.FEDYOGI, flower.FedYogi),
        (StrategyName.TRIMMED_MEAN, flower.FedTrimmedAvg),
        (StrategyName.KRUM, flower.Krum),
        (StrategyName.MULTIKRUM, flower.MultiKrum),
        (StrategyName.BULYAN, flower.Bulyan),
    ],
)
def test_each_configured_name_builds_flowers_class_with_the_run_settings(
    name: StrategyName, flower_class: type
) -> None:
    # Execute
    strategy = build_strategy(FederationConfig(strategy=name, min_nodes=3, fraction_evaluate=0.5))

    # Assert
    assert type(strategy.inner) is flower_class
    assert strategy.inner.min_train_nodes == 3  # type: ignore[attr-defined]
    assert strategy.inner.fraction_evaluate == 0.5  # type: ignore[attr-defined]


def test_strategy_parameters_name_what_shapes_each_strategy() -> None:
    assert strategy_parameters(FederationConfig(strategy=StrategyName.FEDPROX, proximal_mu=0.3)) == {"proximal_mu": 0.3}
    assert strategy_parameters(FederationConfig(strategy=StrategyName.TRIMMED_MEAN, trim_beta=0.1)) == {"beta": 0.1}
    assert strategy_parameters(FederationConfig()) == {}
    adam = strategy_parameters(FederationConfig(strategy=StrategyName.FEDADAM, server_learning_rate=0.2))
    assert adam["eta"] == 0.2 and set(adam) == {"eta", "eta_l", "beta_1", "beta_2", "tau"}


def test_trimmed_mean_cuts_the_outliers_of_each_coordinate() -> None:
    # Prepare: five nodes; node 15 sends a wild update. beta 0.2 of 5 cuts one value at each end per coordinate.
    strategy = build_strategy(FederationConfig(strategy=StrategyName.TRIMMED_MEAN, trim_beta=0.2, min_nodes=5))
    values = [[1.0, -2.0], [2.0, 0.0], [3.0, 2.0], [4.0, 4.0], [1000.0, -1000.0]]
    replies = [_reply(11 + i, row) for i, row in enumerate(values)]

    # Execute
    arrays, _ = strategy.aggregate_train(1, replies)

    # Assert: the mean of the middle three of each column, computed by hand: (2+3+4)/3, (-2+0+2)/3
    assert arrays is not None
    np.testing.assert_allclose(arrays["w"].numpy(), [3.0, 0.0], atol=1e-6)
    assert sorted(strategy.rounds[1].train) == [11, 12, 13, 14, 15]


def test_krum_keeps_an_update_from_the_honest_cluster() -> None:
    # Prepare: four close updates and one far away; Krum scores each by its distances to its nearest neighbours
    strategy = build_strategy(FederationConfig(strategy=StrategyName.KRUM, num_malicious_nodes=1, min_nodes=5))
    honest = [[1.0, 1.0], [1.1, 0.9], [0.9, 1.1], [1.0, 1.05]]
    replies = [_reply(11 + i, row) for i, row in enumerate([*honest, [50.0, -50.0]])]

    # Execute
    arrays, _ = strategy.aggregate_train(1, replies)

    # Assert: the result is one of the honest updates, not an average dragged by the outlier
    assert arrays is not None
    chosen = arrays["w"].numpy().tolist()
    assert any(np.allclose(chosen, row) for row in honest)


def test_fedprox_sends_its_mu_to_the_nodes() -> None:
    # Prepare
    strategy = build_strategy(FederationConfig(strategy=StrategyName.FEDPROX, proximal_mu=0.7))
    config = ConfigRecord({"server-round": 1})

    # Execute
    arrays = ArrayRecord({"w": Array(np.zeros(2, dtype=np.float32))})
    messages = list(strategy.configure_train(1, arrays, config, _TwoNodes()))  # type: ignore[arg-type]

    # Assert: every sampled node is told the weight of its proximal term
    assert sorted(message.metadata.dst_node_id for message in messages) == [7, 8]
    for message in messages:
        assert message.content.config_records["config"]["proximal-mu"] == pytest.approx(0.7)


class _TwoNodes:
    """The part of a Flower Grid that sampling uses: two connected nodes."""

    def get_node_ids(self) -> list[int]:
        return [7, 8]


def test_proximal_term_is_half_mu_times_the_squared_distance_and_pulls_back() -> None:
    # Prepare
    model = torch.nn.Linear(3, 2)
    term = proximal_term(model, mu=4.0)  # type: ignore[arg-type]
    delta = torch.tensor([[0.5, -1.0, 0.0], [2.0, 0.0, 1.0]])
    with torch.no_grad():
        model.weight.add_(delta)

    # Execute
    value = term()
    value.backward()  # type: ignore[no-untyped-call]

    # Assert: (4 / 2) * (0.25 + 1 + 4 + 1) = 12.5; the gradient mu * delta points away from the anchor
    assert float(value.detach()) == pytest.approx(12.5)
    assert model.weight.grad is not None and model.bias.grad is not None
    torch.testing.assert_close(model.weight.grad, 4.0 * delta)
    torch.testing.assert_close(model.bias.grad, torch.zeros(2))


def test_fedprox_local_update_stays_closer_to_the_global_adapters_than_plain_training(
    tmp_path: Path, bitext_intents: list[str], publish_tiny_base: Callable[[Path, list[str]], str]
) -> None:
    # Prepare: the same node, data, seed and start; only the strategy differs
    plain = FederationConfig(
        registry_dir=str(tmp_path / "registry"),
        max_train_examples=32,
        batch_size=16,
        local_epochs=2,
        learning_rate=5e-2,
        lora_r=4,
        lora_alpha=8,
        augment_rate=0.0,
    )
    prox = FederationConfig(**{**plain.__dict__, "strategy": StrategyName.FEDPROX, "proximal_mu": 5.0})
    base_id = publish_tiny_base(Path(plain.registry_dir), bitext_intents)
    start = initial_adapters(plain, base_id)
    data = load_node_data(plain, 0, 2)

    def distance(adapters: dict[str, torch.Tensor]) -> float:
        return float(sum(((adapters[k] - start[k]) ** 2).sum() for k in start) ** 0.5)

    # Execute
    plain_out, plain_report = local_train(plain, base_id, start, data, server_round=1, partition_id=0)
    prox_out, prox_report = local_train(prox, base_id, start, data, server_round=1, partition_id=0)

    # Assert: both trained; the proximal term kept FedProx's update nearer the global adapters
    assert plain_report.steps == prox_report.steps == 4
    assert distance(plain_out) > 0 and distance(prox_out) > 0
    assert distance(prox_out) < 0.9 * distance(plain_out)


def test_fedadam_steps_from_the_current_adapters_towards_the_mean_update() -> None:
    # Prepare: the server holds zeros; two nodes send 1 and 3 (their weighted mean is 2)
    strategy = build_strategy(FederationConfig(strategy=StrategyName.FEDADAM, server_learning_rate=0.1))
    arrays = ArrayRecord({"w": Array(np.zeros(2, dtype=np.float32))})
    list(strategy.configure_train(1, arrays, ConfigRecord({}), _TwoNodes()))  # type: ignore[arg-type]

    # Execute
    result, _ = strategy.aggregate_train(1, [_reply(7, [1.0, 1.0]), _reply(8, [3.0, 3.0])])

    # Assert: an adaptive step of about eta along the mean delta, not FedAvg's jump to the mean
    assert result is not None
    stepped = result["w"].numpy()
    assert np.all(stepped > 0.0) and np.all(stepped < 1.0)
    np.testing.assert_allclose(stepped, stepped[0])
