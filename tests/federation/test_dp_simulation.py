"""A DP run on Flower's simulation runtime (tiny model, 2 nodes, 2 rounds): the published aggregate carries
noise of the calibrated scale, the merchants' budgets end the training after round 1, the epsilon ledger is in
the lineage, and the TensorBoard event files hold the rounds' records; marked integration."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from ensemble.members.intent_artifact import publishable
from ensemble.members.lora import load_adapter_state
from ensemble.registry import Registry
from federation import FederationConfig, run_federated_simulation
from federation.config import DPMode
from federation.privacy import PrivacyLedger, RoundRelease
from federation.task import build_model, initial_adapters, load_node_data, local_train

pytestmark = pytest.mark.integration

NUM_NODES = 2
SIGMA = 1.0
CLIP = 0.05


def _epsilon(rounds: int) -> float:
    ledger = PrivacyLedger(1e-5)
    for r in range(1, rounds + 1):
        ledger.record_release(RoundRelease(r, SIGMA, CLIP, 1.0), [0], [0])
    return ledger.accounts[0].epsilon


def test_a_dp_run_adds_calibrated_noise_stops_at_the_budget_and_publishes_the_ledger(
    tmp_path: Path, bitext_intents: list[str], publish_tiny_base: Callable[[Path, list[str]], str]
) -> None:
    # Prepare: a budget that affords one round at sampling rate 1 (both nodes in every round), not two
    budget = (_epsilon(1) + _epsilon(2)) / 2
    config = FederationConfig(
        num_server_rounds=2,
        registry_dir=str(tmp_path / "registry"),
        max_train_examples=32,
        batch_size=16,
        learning_rate=1e-2,
        lora_r=4,
        lora_alpha=8,
        seed=5,
        dp=DPMode.SERVER_FIXED,
        dp_noise_multiplier=SIGMA,
        dp_clipping_norm=CLIP,
        dp_max_epsilon=budget,
        tensorboard_dir=str(tmp_path / "tensorboard"),
    )
    base_id = publish_tiny_base(Path(config.registry_dir), bitext_intents)

    # Execute
    result = run_federated_simulation(config, NUM_NODES, work_dir=tmp_path / "work", timeout_s=600)

    # Assert: round 1 trained both nodes, round 2 left both out for their budget
    first, second = result.rounds
    assert len(first["participants"]) == NUM_NODES and first["excluded"] == {}
    assert second["participants"] == [] and "fewer than min-nodes" in second["skipped"]
    assert set(second["excluded"]) == {str(node) for node in first["participants"]}
    assert all(reason.startswith("privacy budget") for reason in second["excluded"].values())

    # Assert: the lineage's ledger
    artifact = Registry(config.registry_dir).load("intent", result.version_id)
    privacy = artifact.lineage.details["privacy"]
    assert privacy["mode"] == "server-fixed"
    assert privacy["flower_wrapper"] == "DifferentialPrivacyServerSideFixedClipping"
    assert artifact.lineage.details["weighted_by"] == "unit-weight"
    merchants = privacy["merchants"]
    assert set(merchants) == set(second["excluded"])
    for entry in merchants.values():
        assert entry["rounds"] == [1] and entry["delta"] == 1e-5
        assert entry["epsilon"] == pytest.approx(_epsilon(1)) and entry["epsilon"] <= entry["max_epsilon"]
        assert entry["noise_multiplier"] == [SIGMA] and entry["clipping_norm"] == [CLIP]
        assert set(entry["excluded"]) == {"2"}

    # Assert: the published head is the clipped, equally weighted mean of the nodes' updates plus noise of
    # std sigma x C / nodes (each node's training redone here, from the same start, seed and partition)
    start = initial_adapters(config, base_id)
    clipped = []
    for partition_id in range(NUM_NODES):
        data = load_node_data(config, partition_id, NUM_NODES)
        state, _ = local_train(config, base_id, start, data, server_round=1, partition_id=partition_id)
        update = {name: state[name] - start[name] for name in start}
        norm = math.sqrt(sum(float((u.double() ** 2).sum()) for u in update.values()))
        assert norm > CLIP  # so clipping really acted
        clipped.append({name: u * (CLIP / norm) for name, u in update.items()})
    noiseless = {name: start[name] + sum(c[name] for c in clipped) / NUM_NODES for name in start}
    model = build_model(config, base_id)
    load_adapter_state(model, noiseless)
    expected_head = publishable(model).state_dict()["head.weight"]
    noise = artifact.tensors["head.weight"] - expected_head
    assert float(noise.std()) == pytest.approx(SIGMA * CLIP / NUM_NODES, rel=0.15)
    assert abs(float(noise.mean())) < 0.2 * SIGMA * CLIP / NUM_NODES

    # Assert: the event files hold each round's record
    events = EventAccumulator(str(tmp_path / "tensorboard"))
    events.Reload()

    def scalars(tag: str) -> dict[int, float]:
        return {event.step: event.value for event in events.Scalars(tag)}

    assert scalars("evaluate/accuracy") == {
        entry["round"]: pytest.approx(entry["evaluate_aggregate"]["accuracy"]) for entry in result.rounds
    }
    assert scalars("train/loss") == {1: pytest.approx(first["train_aggregate"]["train-loss"])}
    for node, metrics in first["train"].items():
        assert scalars(f"train/loss/node/{node}") == {1: pytest.approx(metrics["train-loss"])}
    for node in first["evaluate"]:
        assert set(scalars(f"evaluate/accuracy/node/{node}")) == {1, 2}
        assert scalars(f"privacy/epsilon/{node}") == {1: pytest.approx(first["epsilon"][node])}
    for way in ("down", "up"):
        assert scalars(f"bytes/{way}") == {
            entry["round"]: sum(phase[way]["total_bytes"] for phase in entry["traffic"].values() if way in phase)
            for entry in result.rounds
        }
    assert scalars("bytes/up")[1] > scalars("bytes/up")[2] > 0  # round 2 only evaluated
