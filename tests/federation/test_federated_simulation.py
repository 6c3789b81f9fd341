"""A real Flower simulation (Ray backend, separate process) with a tiny model; marked integration."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from ensemble.augmentation import CALIBRATION_SEED, styled_copy
from ensemble.members.intent_artifact import publishable
from ensemble.members.lora import load_adapter_state
from ensemble.registry import Registry
from ensemble.training import fit_temperature
from federation import FederatedRunError, FederationConfig, run_federated_simulation
from federation.task import base_state, build_model, initial_adapters, load_node_data, load_splits
from federation.traffic import array_record_bytes, full_model_bytes
from tests.federation.fedavg_replay import replayed_round, tiny_run_config

pytestmark = pytest.mark.integration

NUM_NODES = 2


def _config(tmp_path: Path) -> FederationConfig:
    return tiny_run_config(tmp_path)


def test_published_aggregate_is_the_example_weighted_mean_of_the_nodes_adapters(
    tmp_path: Path, bitext_intents: list[str], publish_tiny_base: Callable[[Path, list[str]], str]
) -> None:
    # Prepare
    config = _config(tmp_path)
    base_id = publish_tiny_base(Path(config.registry_dir), bitext_intents)
    lines: list[str] = []

    # Execute
    result = run_federated_simulation(
        config, NUM_NODES, work_dir=tmp_path / "work", timeout_s=600, progress=lines.append
    )

    # Assert: the run's record
    assert result.status == "published"
    assert result.base_version_id == base_id
    assert len(result.participants) == NUM_NODES
    assert result.num_examples == NUM_NODES * config.max_train_examples
    assert [entry["round"] for entry in result.rounds] == [1]
    assert any("ROUND 1/1" in line for line in lines)

    # Assert: each node's training redone here, from the same initial adapters, seed and partition
    start = initial_adapters(config, base_id)
    expected_adapters, node_states, weights = replayed_round(config, base_id, NUM_NODES)
    total = sum(weights)
    assert not torch.allclose(node_states[0]["head.weight"], node_states[1]["head.weight"])
    expected_model = build_model(config, base_id)
    load_adapter_state(expected_model, expected_adapters)
    merged = publishable(expected_model)
    # The server refits the temperature of the merged model on validation and its style-rewritten copy.
    _, val = load_splits(config.data_path)
    texts, labels = val["instruction"].tolist(), val["intent"].tolist()
    fit_temperature(merged, texts + styled_copy(texts, seed=CALIBRATION_SEED), labels + labels)
    expected = merged.state_dict()

    registry = Registry(config.registry_dir)
    artifact = registry.load("intent", result.version_id)
    assert set(artifact.tensors) == set(expected)
    for name, tensor in expected.items():
        torch.testing.assert_close(artifact.tensors[name], tensor, atol=1e-5, rtol=1e-4, msg=name)
    assert artifact.metrics["temperature"] == pytest.approx(float(artifact.tensors["temperature"]), rel=1e-6)

    # Assert: lineage
    lineage = artifact.lineage
    assert lineage.method == "federated"
    assert lineage.parent == base_id
    assert lineage.details["strategy"] == {"name": "fedavg", "flower_class": "FedAvg", "parameters": {}}
    assert lineage.details["partitioning"]["scheme"] == "iid"
    assert lineage.details["rounds"] == 1
    assert lineage.details["participants"] == result.participants
    assert lineage.details["num_examples"] == total

    # Assert: bytes on the wire, counted from the messages: each node got the initial adapters and sent its own
    adapter_bytes = array_record_bytes(start)
    train = result.rounds[0]["traffic"]["train"]
    assert train["down"]["messages"] == train["down"]["with_arrays"] == NUM_NODES
    assert train["down"]["array_bytes"] == NUM_NODES * adapter_bytes
    assert train["up"]["array_bytes"] == sum(array_record_bytes(state) for state in node_states)
    assert 0 < train["up"]["other_bytes"] < 4_000  # metadata, the metrics and node info
    traffic = result.traffic
    model_bytes = full_model_bytes(base_state(config, base_id))
    assert traffic["adapter_bytes"] == adapter_bytes
    assert traffic["full_model_bytes"] == model_bytes > adapter_bytes
    round_bytes = traffic["rounds"][0]["bytes_down"] + traffic["rounds"][0]["bytes_up"]
    assert traffic["ratio"] == pytest.approx(round_bytes / traffic["rounds"][0]["full_fine_tune_bytes"])
    assert lineage.details["traffic"] == traffic


def test_a_node_with_a_label_the_model_does_not_know_fails_the_run_with_a_clear_error(
    tmp_path: Path, bitext_intents: list[str], publish_tiny_base: Callable[[Path, list[str]], str]
) -> None:
    # Prepare: the base model lacks one intent that both nodes' training rows contain
    config = _config(tmp_path)
    shared = set(load_node_data(config, 0, NUM_NODES).train_labels) & set(
        load_node_data(config, 1, NUM_NODES).train_labels
    )
    missing = sorted(shared)[0]
    publish_tiny_base(Path(config.registry_dir), [label for label in bitext_intents if label != missing])

    # Execute / Assert
    with pytest.raises(FederatedRunError, match=rf"could not train: ModelError: labels \['{missing}'\]"):
        run_federated_simulation(config, NUM_NODES, work_dir=tmp_path / "work", timeout_s=600)
    assert Registry(config.registry_dir).latest("intent").version == "v0001"
