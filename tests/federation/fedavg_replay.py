"""A tiny federated run's settings and its one FedAvg round redone in the test process: every node's training from
the same initial adapters, averaged by example count, to compare with what the Flower run published."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from federation import FederationConfig
from federation.task import initial_adapters, load_node_data, local_train


def tiny_run_config(tmp_path: Path, **overrides: Any) -> FederationConfig:
    """One round, 48 rows per node, rank-4 LoRA: seconds per node with the tiny test model."""
    settings: dict[str, Any] = {
        "num_server_rounds": 1,
        "registry_dir": str(tmp_path / "registry"),
        "max_train_examples": 48,
        "batch_size": 16,
        "learning_rate": 1e-2,
        "lora_r": 4,
        "lora_alpha": 8,
        "seed": 3,
    }
    return FederationConfig(**{**settings, **overrides})


def replayed_round(
    config: FederationConfig, base_id: str, num_nodes: int
) -> tuple[dict[str, torch.Tensor], list[dict[str, torch.Tensor]], list[float]]:
    """The example-weighted mean of the nodes' adapters after round 1, each node's adapters and its weight."""
    start = initial_adapters(config, base_id)
    states, weights = [], []
    for partition_id in range(num_nodes):
        data = load_node_data(config, partition_id, num_nodes)
        state, report = local_train(config, base_id, start, data, server_round=1, partition_id=partition_id)
        states.append(state)
        weights.append(float(report.examples))
    total = sum(weights)
    mean = {name: sum(w / total * state[name] for w, state in zip(weights, states, strict=True)) for name in states[0]}
    return mean, states, weights
